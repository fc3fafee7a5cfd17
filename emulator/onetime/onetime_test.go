package onetime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/onetime/rendezvous"
)

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newCache(t *testing.T) *memcache.Client {
	t.Helper()
	e := memcached.NewEmbedded()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return memcached.NewClient([]string{e.Addr()}, 64)
}

func TestConcurrentClaimsOfOneToken(t *testing.T) {
	const claims = 8
	for _, tc := range []struct {
		strategy    string
		wantAccepts int // -1: more than one (the race)
	}{
		{onetime.GetDelete, -1}, // the reference: every claimer saw "valid"
		{onetime.Delete, 1},
		{onetime.CAS, 1},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			cache := rendezvous.New(newCache(t), claims, 1)
			s, err := onetime.NewMemcachedStrategy(tc.strategy, cache, clk)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			key := "uploads/UploadFilename-race"
			if err := s.Register(ctx, onetime.Token{Key: key, Issued: clk.Now(), Deadline: clk.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			var accepts atomic.Int32
			var wg sync.WaitGroup
			for i := range claims {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := s.Claim(ctx, onetime.Upload{Key: key, ETag: fmt.Sprintf("etag%d", i), Sequencer: fmt.Sprintf("%016X", i+1)})
					if err != nil {
						t.Error(err)
					}
					if v.Accept {
						accepts.Add(1)
					}
				}()
			}
			wg.Wait()
			got := int(accepts.Load())
			if cache.Met() != 1 {
				t.Fatalf("the %d claims' gets did not meet", claims)
			}
			if tc.wantAccepts == -1 {
				if got < 2 {
					t.Fatalf("get-delete accepted %d of %d concurrent claims; the race should let several through", got, claims)
				}
				return
			}
			if got != tc.wantAccepts {
				t.Fatalf("%s accepted %d of %d concurrent claims, want %d", tc.strategy, got, claims, tc.wantAccepts)
			}
		})
	}
}

func TestRedeliveryOfTheWinner(t *testing.T) {
	for _, tc := range []struct {
		strategy   string
		wantAccept bool
	}{
		{onetime.Delete, false}, // the token is gone; the winner's own redelivery is rejected
		{onetime.CAS, true},     // the consumed marker names the winner
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			s, err := onetime.NewMemcachedStrategy(tc.strategy, newCache(t), clk)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			key := "uploads/k"
			if err := s.Register(ctx, onetime.Token{Key: key, Deadline: clk.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			winner := onetime.Upload{Key: key, ETag: "aa", Sequencer: "0000000000000001"}
			other := onetime.Upload{Key: key, ETag: "aa", Sequencer: "0000000000000002"} // same bytes, later write
			v, err := s.Claim(ctx, winner)
			if err != nil || !v.Accept || v.Reason != onetime.ReasonFirstUse {
				t.Fatalf("first claim = %+v, %v", v, err)
			}
			v, err = s.Claim(ctx, winner)
			if err != nil {
				t.Fatal(err)
			}
			if v.Accept != tc.wantAccept {
				t.Fatalf("redelivery accepted=%v (reason %s), want %v", v.Accept, v.Reason, tc.wantAccept)
			}
			if tc.wantAccept && (!v.Redelivery || v.Reason != onetime.ReasonRedelivery) {
				t.Fatalf("redelivery verdict %+v does not say so", v)
			}
			v, err = s.Claim(ctx, other)
			if err != nil || v.Accept {
				t.Fatalf("a second upload was accepted: %+v, %v", v, err)
			}
		})
	}
}

func TestTokenDeadlineFollowsTheCallersClock(t *testing.T) {
	for _, name := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		t.Run(name, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			s, _ := onetime.NewMemcachedStrategy(name, newCache(t), clk)
			ctx := context.Background()
			if err := s.Register(ctx, onetime.Token{Key: "uploads/late", Deadline: clk.Now().Add(40 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			// memcached still holds the token (its TTL runs on real time),
			// but the deadline in the value has passed on our clock.
			clk.Add(41 * time.Second)
			v, err := s.Claim(ctx, onetime.Upload{Key: "uploads/late", ETag: "e", Sequencer: "01"})
			if err != nil {
				t.Fatal(err)
			}
			if v.Accept || v.Reason != onetime.ReasonTokenExpired {
				t.Fatalf("claim after the deadline = %+v, want rejected as %s", v, onetime.ReasonTokenExpired)
			}
		})
	}
}

func TestRegisterNeverOverwrites(t *testing.T) {
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	cache := newCache(t)
	s, _ := onetime.NewMemcachedStrategy(onetime.CAS, cache, clk)
	ctx := context.Background()
	tok := onetime.Token{Key: "uploads/dup", Deadline: clk.Now().Add(time.Minute)}
	if err := s.Register(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, onetime.Upload{Key: tok.Key, ETag: "e", Sequencer: "01"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, tok); err == nil {
		t.Fatal("registering an existing key succeeded; add must refuse it")
	}
	it, err := cache.Get(tok.Key)
	if err != nil || !bytes.HasPrefix(it.Value, []byte("consumed ")) {
		t.Fatalf("token after a refused re-register = %q, %v; want the consumed marker kept", it.Value, err)
	}
}

// failingCache fails every call, like an unreachable memcached.
type failingCache struct{}

var errDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

func (failingCache) Add(*memcache.Item) error            { return errDown }
func (failingCache) Get(string) (*memcache.Item, error)  { return nil, errDown }
func (failingCache) Delete(string) error                 { return errDown }
func (failingCache) CompareAndSwap(*memcache.Item) error { return errDown }

func TestInfrastructureErrorsAreNotVerdicts(t *testing.T) {
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	for _, name := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		s, _ := onetime.NewMemcachedStrategy(name, failingCache{}, clk)
		if err := s.Register(context.Background(), onetime.Token{Key: "uploads/x", Deadline: clk.Now().Add(time.Minute)}); !errors.Is(err, errDown) {
			t.Errorf("%s Register error = %v, want the memcached error", name, err)
		}
		v, err := s.Claim(context.Background(), onetime.Upload{Key: "uploads/x"})
		if !errors.Is(err, errDown) || v.Accept {
			t.Errorf("%s Claim = %+v, %v; want no verdict and the memcached error", name, v, err)
		}
	}
}

var keyShape = regexp.MustCompile(`^uploads/UploadFilename-20231114_221320-[A-Za-z0-9]{22}$`)

func TestNewKeyShapeAndUniqueness(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	seen := make(map[string]bool)
	for range 5000 {
		k, err := onetime.NewKey(nil, "uploads/", now)
		if err != nil {
			t.Fatal(err)
		}
		if !keyShape.MatchString(k) {
			t.Fatalf("key %q does not have the reference's shape", k)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestNewKeyFailsWithoutRandomness(t *testing.T) {
	if _, err := onetime.NewKey(bytes.NewReader(nil), "uploads/", time.Now()); err == nil {
		t.Fatal("NewKey with an empty random source succeeded")
	}
}
