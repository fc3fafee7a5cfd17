package memcached

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Mix is a command mix: how many get, storage (set, add, cas) and delete
// commands one unit of work sends.
type Mix struct {
	Get, Set, Delete int64
}

// Total returns the commands of one unit.
func (m Mix) Total() int64 { return m.Get + m.Set + m.Delete }

// ProbeOptions bound a saturation probe.
type ProbeOptions struct {
	Workers  int           // clients sending at once (default 32)
	Duration time.Duration // how long to send (default 300 ms)
}

// ProbeCapacity drives addrs as hard as Workers clients can with mix for Duration
// and returns the commands per second per node it measured: a capacity,
// not the rate a latency-bound run happened to sustain. Keys are its own
// (uploadonce-probe-*) and are deleted as the mix says; the probe leaves
// at most one item per worker behind.
func ProbeCapacity(ctx context.Context, addrs []string, mix Mix, o ProbeOptions) (float64, error) {
	if len(addrs) == 0 || mix.Total() <= 0 {
		return 0, fmt.Errorf("memcached probe: nothing to probe (%d nodes, mix %+v)", len(addrs), mix)
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Duration <= 0 {
		o.Duration = 300 * time.Millisecond
	}
	c := NewClient(addrs, o.Workers)
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n, err := probeUnit(c, mix, "uploadonce-probe-"+strconv.Itoa(w)+"-"+strconv.Itoa(i%64))
				sent.Add(n)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if failed.Load() > sent.Load()/2 {
		return 0, fmt.Errorf("memcached probe: %d of %d units failed", failed.Load(), sent.Load()/max(mix.Total(), 1))
	}
	return float64(sent.Load()) / el / float64(len(addrs)), nil
}

// probeUnit sends one unit of mix on key; it returns the commands sent.
// Misses and NOT_STORED are answers, not failures.
func probeUnit(c *memcache.Client, mix Mix, key string) (int64, error) {
	var n int64
	var firstErr error
	note := func(err error) {
		n++
		switch err {
		case nil, memcache.ErrCacheMiss, memcache.ErrNotStored, memcache.ErrCASConflict:
		default:
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	for range mix.Set {
		note(c.Set(&memcache.Item{Key: key, Value: []byte("valid"), Expiration: 60}))
	}
	for range mix.Get {
		_, err := c.Get(key)
		note(err)
	}
	for range mix.Delete {
		note(c.Delete(key))
	}
	return n, firstErr
}
