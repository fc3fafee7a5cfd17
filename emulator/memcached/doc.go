// Package memcached provides the memcached that uploadonce's one-time logic
// runs against, in four kinds, and an in-process memcached server.
//
// [ParseSpec] reads the --memcached syntax and [Start] runs it:
//
//   - embedded: [Embedded], the in-process text-protocol server of package
//     embedded, with an injectable clock and fault knobs (latency, pause,
//     connection limit, memory limit with LRU eviction, restart);
//     embedded:N runs N of them as one ElastiCache-like cluster whose nodes
//     each answer `config get cluster` (Auto Discovery) with all N;
//   - process: a local memcached binary on a free loopback port; on Linux
//     it gets Pdeathsig, so it dies with uploadonce;
//   - container: memcached containers through testcontainers-go, published
//     on 127.0.0.1 only (DESIGN.md §7; build the image with
//     build/memcached-image/build.sh, i.e. make memcached-image, which is
//     preferred to memcached:1.6-alpine when present). Containers carry
//     uploadonce.* labels naming their run, and a container start removes
//     those of dead runs, since testcontainers' reaper cannot run here;
//   - external: HOST:PORT servers someone else runs, probed but never owned;
//   - auto: container, else process, else embedded.
//
// Every kind offers the same fault hooks on [Server]: Restart and Flush.
// An embedded cluster also grows and shrinks (AddNode, RemoveNode),
// publishing each change to `config get cluster`.
//
// [NewClient] builds a gomemcache client sized for a load's concurrency;
// package cluster builds clients with another key placement, or that
// discover an ElastiCache cluster's nodes (as the embedded cluster serves
// them).
//
// The conformance suite in conformance_test.go runs one set of behaviours
// against every kind available, so the embedded server is held to what the
// real memcached answers.
package memcached
