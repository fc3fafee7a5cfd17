// Package cluster is the client side of a memcached cluster: where a key
// lives (placement) and which nodes there are (discovery). It is what the
// one-time logic's memcached client needs in the emulator and in the
// deployed function (cmd/lambda), and nothing of the servers package
// memcached starts, so a function binary stays small.
//
// Placement: a [Selector] is a gomemcache ServerSelector placing keys by a
// [Hashing]: gomemcache's modulo, the AWS ElastiCache Cluster Client's
// ketama (and spymemcached's MD5 ketama), pymemcache HashClient's
// rendezvous. testdata/placement holds key-to-node tables the client
// libraries computed themselves, with their generators; the tests hold
// the selectors to them.
//
// Discovery: [GetConfig] asks an ElastiCache configuration endpoint
// `config get cluster`. [Open] builds a client over a static node list, or
// with [DiscoveryElastiCache] over the nodes the endpoint lists, refreshed
// every [DefaultRefreshInterval] on a clock the caller chooses.
package cluster
