// Package rendezvous forces the schedule that check-then-act cannot
// survive, so that tests demonstrate a race every time instead of when the
// machine happens to be slow.
package rendezvous

import (
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// DefaultWait bounds how long a Get waits for the others of its key.
const DefaultWait = 2 * time.Second

// Cache decorates a onetime.Cache: the first N Gets of each of the first
// Keys keys read the cache and then wait for each other (at most Wait)
// before returning, forcing the interleaving get, get, ..., delete, delete.
// Every other call passes straight through. It is a real schedule, just not
// a lucky one. Keys bounds the waiting callers, so that a load whose
// invoker runs more than Keys claims at once never stalls on it.
type Cache struct {
	onetime.Cache
	n, keys int
	wait    time.Duration

	mu     sync.Mutex
	groups map[string]*group
}

var _ onetime.Cache = (*Cache)(nil)

type group struct {
	arrived int
	all     chan struct{}
}

// New returns c with a rendezvous of n Gets on each of the first keys keys,
// waiting at most DefaultWait.
func New(c onetime.Cache, n, keys int) *Cache {
	return &Cache{Cache: c, n: n, keys: keys, wait: DefaultWait, groups: map[string]*group{}}
}

// Get implements onetime.Cache.
func (r *Cache) Get(key string) (*memcache.Item, error) {
	it, err := r.Cache.Get(key)
	r.mu.Lock()
	g, ok := r.groups[key]
	if !ok {
		if len(r.groups) >= r.keys {
			r.mu.Unlock()
			return it, err
		}
		g = &group{all: make(chan struct{})}
		r.groups[key] = g
	}
	g.arrived++
	switch {
	case g.arrived > r.n:
		r.mu.Unlock()
		return it, err
	case g.arrived == r.n:
		close(g.all)
	}
	r.mu.Unlock()
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-g.all:
	case <-t.C:
	}
	return it, err
}

// Met returns how many keys had all n of their Gets meet, the number of
// forced interleavings.
func (r *Cache) Met() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	met := 0
	for _, g := range r.groups {
		if g.arrived >= r.n {
			met++
		}
	}
	return met
}
