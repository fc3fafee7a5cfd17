// Package embedded is an in-process memcached speaking the text protocol:
// a stand-in that needs no binary, judges expiry on an injected [Clock] and
// has fault knobs (latency, pause, a connection limit, a memory limit with
// LRU eviction, restart).
//
// The files follow the jobs: server.go listens and owns connections,
// protocol.go parses command lines and writes replies, store.go holds the
// items (LRU, expiry, eviction), stats.go counts, faults.go holds the knobs
// that make the server misbehave on purpose.
//
// Package memcached starts it as the embedded provider and holds it to what
// the real memcached answers with its conformance suite.
package embedded
