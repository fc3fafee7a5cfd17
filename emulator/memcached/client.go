package memcached

import (
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Client defaults for [NewClient].
const (
	// DefaultClientTimeout is the per-operation socket timeout. gomemcache's
	// own 500 ms default (memcache.DefaultTimeout) fails operations on 2 busy
	// cores; NewClient never goes below it either.
	DefaultClientTimeout = time.Second
	// MinIdleConns is the smallest idle pool NewClient configures. gomemcache
	// keeps 2 by default, which churns connections under load.
	MinIdleConns = 2
)

// NewClient returns a gomemcache client for addrs whose idle pool holds at
// least concurrency connections (and at least MinIdleConns), with Timeout
// max(DefaultClientTimeout, memcache.DefaultTimeout). Invalid addresses make
// every operation fail; validate them with ParseSpec first.
func NewClient(addrs []string, concurrency int) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = max(DefaultClientTimeout, memcache.DefaultTimeout)
	c.MaxIdleConns = max(concurrency, MinIdleConns)
	return c
}
