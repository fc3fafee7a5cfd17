package onetime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

func TestStrategyCatalogue(t *testing.T) {
	if got := fmt.Sprint(onetime.StrategyNames()); got != "[get-delete delete cas versioning if-none-match]" {
		t.Fatalf("names %s", got)
	}
	for _, tc := range []struct {
		name      string
		memcached bool
	}{{onetime.GetDelete, true}, {onetime.Delete, true}, {onetime.CAS, true}, {onetime.Versioning, false}, {onetime.IfNoneMatch, false}, {"nope", false}} {
		if got := onetime.UsesMemcached(tc.name); got != tc.memcached {
			t.Errorf("UsesMemcached(%s) = %v", tc.name, got)
		}
		info, ok := onetime.LookupStrategy(tc.name)
		if ok != (tc.name != "nope") || (ok && (info.Name != tc.name || info.Guarantees == "")) {
			t.Errorf("LookupStrategy(%s) = %+v, %v", tc.name, info, ok)
		}
	}
	if _, err := onetime.NewMemcachedStrategy("versioning", newCache(t), &testClock{}); err == nil || !strings.Contains(err.Error(), "[cas delete get-delete if-none-match versioning]") {
		t.Fatalf("unknown memcached strategy: %v; want the sorted list", err)
	}
	if _, err := onetime.NewS3Strategy(onetime.CAS, newMemObjects(nil)); err == nil {
		t.Fatal("NewS3Strategy(cas) succeeded")
	}
	if _, err := onetime.NewS3Strategy(onetime.Versioning, newMemObjects(nil)); err == nil {
		t.Fatal("versioning without a VersionLister succeeded")
	}
}

// recordingCache records the expiration of every Add and can put raw
// values, as another issuer (the reference's) would.
type recordingCache struct {
	onetime.Cache
	exps []int32
}

func (c *recordingCache) Add(it *memcache.Item) error {
	c.exps = append(c.exps, it.Expiration)
	return c.Cache.Add(it)
}

// TestRegisterTTL: the memcached TTL is the time left to the deadline,
// rounded up, at least 1 s and at most 30 days (memcached reads larger
// values as absolute times).
func TestRegisterTTL(t *testing.T) {
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	c := &recordingCache{Cache: newCache(t)}
	s, _ := onetime.NewMemcachedStrategy(onetime.Delete, c, clk)
	for i, d := range []time.Duration{40 * time.Second, 1500 * time.Millisecond, 500 * time.Millisecond, 0, -time.Minute,
		30 * 24 * time.Hour, 60 * 24 * time.Hour} {
		if err := s.Register(context.Background(), onetime.Token{Key: fmt.Sprintf("uploads/t%d", i), Deadline: clk.Now().Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fmt.Sprint(c.exps), "[40 2 1 1 1 2592000 2592000]"; got != want {
		t.Fatalf("expirations %s, want %s", got, want)
	}
}

// TestForeignTokenValues: the reference's bare "valid" is a token with no
// deadline that every strategy honours; a value uploadonce did not write is
// an error, not a verdict.
func TestForeignTokenValues(t *testing.T) {
	for _, name := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		t.Run(name, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			cache := newCache(t)
			s, _ := onetime.NewMemcachedStrategy(name, cache, clk)
			values := map[string]string{
				"uploads/ref":       "valid",
				"uploads/garbage":   "hello",
				"uploads/badms":     "valid soon",
				"uploads/extra":     "valid 1 2",
				"uploads/shortcons": "consumed 1 - -",
				"uploads/unknown":   "spent 1",
			}
			for k, v := range values {
				if err := cache.Add(&memcache.Item{Key: k, Value: []byte(v)}); err != nil {
					t.Fatal(err)
				}
			}
			clk.Add(365 * 24 * time.Hour) // no deadline: never expires by value
			v, err := s.Claim(context.Background(), onetime.Upload{Key: "uploads/ref", ETag: "e", Sequencer: "01"})
			if err != nil || !v.Accept || v.Reason != onetime.ReasonFirstUse {
				t.Fatalf("reference token: %+v, %v", v, err)
			}
			for k, raw := range values {
				if k == "uploads/ref" {
					continue
				}
				v, err := s.Claim(context.Background(), onetime.Upload{Key: k, ETag: "e", Sequencer: "01"})
				if err == nil || v.Accept || !strings.Contains(err.Error(), raw) {
					t.Errorf("%q: %+v, %v; want an error quoting the value", raw, v, err)
				}
			}
		})
	}
}

// TestCASWinnerIdentity: a consumed token recognises its winner by
// versionId when either side has one, else by sequencer and ETag.
func TestCASWinnerIdentity(t *testing.T) {
	for _, tc := range []struct {
		name          string
		winner, again onetime.Upload
		redelivery    bool
	}{
		{"same version", onetime.Upload{VersionID: "v1", Sequencer: "01"}, onetime.Upload{VersionID: "v1", Sequencer: "02"}, true},
		{"other version", onetime.Upload{VersionID: "v1", Sequencer: "01"}, onetime.Upload{VersionID: "v2", Sequencer: "01"}, false},
		{"a version against none", onetime.Upload{VersionID: "v1", Sequencer: "01", ETag: "e"}, onetime.Upload{Sequencer: "01", ETag: "e"}, false},
		{"none against a version", onetime.Upload{Sequencer: "01", ETag: "e"}, onetime.Upload{VersionID: "v1", Sequencer: "01", ETag: "e"}, false},
		{"same write", onetime.Upload{Sequencer: "01", ETag: "e"}, onetime.Upload{Sequencer: "01", ETag: "e"}, true},
		{"same bytes, later write", onetime.Upload{Sequencer: "01", ETag: "e"}, onetime.Upload{Sequencer: "02", ETag: "e"}, false},
		// One sequencer is one write: its ETag is not compared, because
		// after a passed claim (cas liveness) the marker names the bytes
		// the winner accepts, not its own.
		{"same sequencer, other bytes", onetime.Upload{Sequencer: "01", ETag: "e"}, onetime.Upload{Sequencer: "01", ETag: "f"}, true},
		{"no sequencer at all", onetime.Upload{ETag: "e"}, onetime.Upload{ETag: "e"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			s, _ := onetime.NewMemcachedStrategy(onetime.CAS, newCache(t), clk)
			ctx := context.Background()
			tc.winner.Key, tc.again.Key = "uploads/w", "uploads/w"
			if err := s.Register(ctx, onetime.Token{Key: "uploads/w"}); err != nil { // no deadline
				t.Fatal(err)
			}
			if v, err := s.Claim(ctx, tc.winner); err != nil || !v.Accept || v.IfMatch != tc.winner.ETag {
				t.Fatalf("first claim %+v, %v", v, err)
			}
			clk.Add(2 * time.Hour) // a consumed marker keeps its winner past the hour it adds to no deadline
			v, err := s.Claim(ctx, tc.again)
			if err != nil || v.Accept != tc.redelivery || v.Redelivery != tc.redelivery {
				t.Fatalf("second claim %+v, %v; want redelivery %v", v, err, tc.redelivery)
			}
			if !tc.redelivery && v.Reason != onetime.ReasonTokenConsumed {
				t.Fatalf("reason %s", v.Reason)
			}
		})
	}
}

// flakyCAS answers CompareAndSwap with a fixed error.
type flakyCAS struct {
	onetime.Cache
	err   error
	calls int
}

func (f *flakyCAS) CompareAndSwap(*memcache.Item) error { f.calls++; return f.err }

func TestCASAnswers(t *testing.T) {
	for _, tc := range []struct {
		err     error
		reason  onetime.Reason
		infra   bool
		rounds  int
		comment string
	}{
		{memcache.ErrCASConflict, "", true, 4, "the token kept changing: give up after the bounded rounds"},
		{memcache.ErrCacheMiss, onetime.ReasonTokenMissing, false, 1, "evicted between gets and cas"},
		{memcache.ErrNotStored, onetime.ReasonTokenMissing, false, 1, "evicted between gets and cas"},
		{errDown, "", true, 1, "memcached failed"},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			c := &flakyCAS{Cache: newCache(t), err: tc.err}
			s, _ := onetime.NewMemcachedStrategy(onetime.CAS, c, clk)
			_ = s.Register(context.Background(), onetime.Token{Key: "uploads/c", Deadline: clk.Now().Add(time.Minute)})
			v, err := s.Claim(context.Background(), onetime.Upload{Key: "uploads/c", ETag: "e", Sequencer: "01"})
			if v.Accept || (err != nil) != tc.infra || v.Reason != tc.reason || c.calls != tc.rounds {
				t.Fatalf("%s: %+v, %v after %d cas calls", tc.comment, v, err, c.calls)
			}
		})
	}
}

// TestGetDeleteAnswers: the reference ignores delete's answer except for a
// failure, and rejects a consumed marker left by another strategy.
func TestGetDeleteAnswers(t *testing.T) {
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	cache := newCache(t)
	cas, _ := onetime.NewMemcachedStrategy(onetime.CAS, cache, clk)
	gd, _ := onetime.NewMemcachedStrategy(onetime.GetDelete, cache, clk)
	ctx := context.Background()
	_ = cas.Register(ctx, onetime.Token{Key: "uploads/m", Deadline: clk.Now().Add(time.Minute)})
	if v, err := cas.Claim(ctx, onetime.Upload{Key: "uploads/m", ETag: "e", Sequencer: "01"}); err != nil || !v.Accept {
		t.Fatal(v, err)
	}
	if v, err := gd.Claim(ctx, onetime.Upload{Key: "uploads/m", ETag: "e", Sequencer: "01"}); err != nil || v.Accept || v.Reason != onetime.ReasonTokenConsumed {
		t.Fatalf("get-delete on a consumed marker: %+v, %v", v, err)
	}
	failing := &failingDelete{Cache: cache, err: errDown}
	gd, _ = onetime.NewMemcachedStrategy(onetime.GetDelete, failing, clk)
	_ = gd.Register(ctx, onetime.Token{Key: "uploads/d", Deadline: clk.Now().Add(time.Minute)})
	if v, err := gd.Claim(ctx, onetime.Upload{Key: "uploads/d"}); !errors.Is(err, errDown) || v.Accept {
		t.Fatalf("get-delete with a failing delete: %+v, %v", v, err)
	}
	failing.err = memcache.ErrCacheMiss // another claimer deleted first: still accepted (the bug)
	_ = gd.Register(ctx, onetime.Token{Key: "uploads/e", Deadline: clk.Now().Add(time.Minute)})
	if v, err := gd.Claim(ctx, onetime.Upload{Key: "uploads/e"}); err != nil || !v.Accept {
		t.Fatalf("get-delete whose delete missed: %+v, %v", v, err)
	}
	dl, _ := onetime.NewMemcachedStrategy(onetime.Delete, &failingDelete{Cache: cache, err: errDown}, clk)
	_ = dl.Register(ctx, onetime.Token{Key: "uploads/f", Deadline: clk.Now().Add(time.Minute)})
	if v, err := dl.Claim(ctx, onetime.Upload{Key: "uploads/f"}); !errors.Is(err, errDown) || v.Accept {
		t.Fatalf("delete with a failing delete: %+v, %v", v, err)
	}
}

type failingDelete struct {
	onetime.Cache
	err error
}

func (f *failingDelete) Delete(string) error { return f.err }
