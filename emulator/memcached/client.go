package memcached

import (
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
)

// Client defaults for [NewClient].
const (
	// DefaultClientTimeout is the per-operation socket timeout. gomemcache's
	// own 500 ms default (memcache.DefaultTimeout) fails operations on 2 busy
	// cores; NewClient never goes below it either.
	DefaultClientTimeout = cluster.DefaultTimeout
	// MinIdleConns is the smallest idle pool NewClient configures. gomemcache
	// keeps 2 by default, which churns connections under load.
	MinIdleConns = cluster.MinIdleConns
)

// NewClient returns a gomemcache client for addrs whose idle pool holds at
// least concurrency connections (and at least MinIdleConns), with Timeout
// max(DefaultClientTimeout, memcache.DefaultTimeout). Invalid addresses make
// every operation fail; validate them with ParseSpec first. It places keys
// as gomemcache does; [cluster.Open] builds a client with another
// placement, or one that discovers an ElastiCache cluster's nodes.
func NewClient(addrs []string, concurrency int) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = max(DefaultClientTimeout, memcache.DefaultTimeout)
	c.MaxIdleConns = max(concurrency, MinIdleConns)
	return c
}
