package rendezvous

import (
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

type nopCache struct{}

func (nopCache) Add(*memcache.Item) error            { return nil }
func (nopCache) Get(string) (*memcache.Item, error)  { return nil, memcache.ErrCacheMiss }
func (nopCache) Delete(string) error                 { return nil }
func (nopCache) CompareAndSwap(*memcache.Item) error { return nil }

func TestRendezvous(t *testing.T) {
	r := New(nopCache{}, 2, 1)
	r.wait = time.Minute
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Get("a"); err != memcache.ErrCacheMiss {
				t.Errorf("Get = %v, want the inner cache's answer", err)
			}
		}()
	}
	wg.Wait()
	// A third Get of the key, and any Get of a key past the first, pass
	// straight through.
	_, _ = r.Get("a")
	_, _ = r.Get("b")
	if el := time.Since(start); el > 10*time.Second || r.Met() != 1 {
		t.Fatalf("met %d after %v; want the two gets of a to meet at once", r.Met(), el)
	}

	lone := New(nopCache{}, 2, 1)
	lone.wait = 50 * time.Millisecond
	start = time.Now()
	_, _ = lone.Get("a")
	if el := time.Since(start); el < 50*time.Millisecond || lone.Met() != 0 {
		t.Fatalf("a lone Get returned after %v, met %d; want it to wait out the bound", el, lone.Met())
	}
}
