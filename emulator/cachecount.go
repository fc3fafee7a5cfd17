package emulator

import (
	"sync/atomic"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// CacheStats counts the memcached commands the one-time logic sent: one per
// call, as a client library sends one command per call.
type CacheStats struct {
	Add    int64 `json:"add"`
	Get    int64 `json:"get"`
	Delete int64 `json:"delete"`
	CAS    int64 `json:"cas"`
	Errors int64 `json:"errors"` // infrastructure errors, not misses or conflicts
}

// Total returns the number of commands.
func (s CacheStats) Total() int64 { return s.Add + s.Get + s.Delete + s.CAS }

// countingCache decorates a Cache with command counters. Two decorators
// may share the counters: the issuer's and the verifier's clients when
// they place keys differently (Config.VerifierCache).
type countingCache struct {
	inner onetime.Cache
	*cacheCounters
}

type cacheCounters struct {
	add, get, del, cas, failures atomic.Int64
}

var _ onetime.Cache = (*countingCache)(nil)

func (c *countingCache) Add(it *memcache.Item) error {
	c.add.Add(1)
	return c.note(c.inner.Add(it))
}

func (c *countingCache) Get(key string) (*memcache.Item, error) {
	c.get.Add(1)
	it, err := c.inner.Get(key)
	return it, c.note(err)
}

func (c *countingCache) Delete(key string) error {
	c.del.Add(1)
	return c.note(c.inner.Delete(key))
}

func (c *countingCache) CompareAndSwap(it *memcache.Item) error {
	c.cas.Add(1)
	return c.note(c.inner.CompareAndSwap(it))
}

func (c *countingCache) note(err error) error {
	switch err {
	case nil, memcache.ErrCacheMiss, memcache.ErrNotStored, memcache.ErrCASConflict:
	default:
		c.failures.Add(1)
	}
	return err
}

func (c *countingCache) stats() CacheStats {
	return CacheStats{Add: c.add.Load(), Get: c.get.Load(), Delete: c.del.Load(), CAS: c.cas.Load(), Errors: c.failures.Load()}
}

// CacheStats returns the memcached commands sent so far; zero for strategies
// that keep no tokens.
func (e *Emulator) CacheStats() CacheStats {
	if e.cache == nil {
		return CacheStats{}
	}
	return e.cache.stats()
}
