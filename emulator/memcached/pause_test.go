package memcached_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// TestPauseResume: a paused server keeps its data but does not answer, so
// the client times out; after Resume the same item is there.
func TestPauseResume(t *testing.T) {
	for _, kind := range []string{memcached.KindEmbedded, memcached.KindProcess, memcached.KindContainer} {
		t.Run(kind, func(t *testing.T) {
			srv := startProvider(t, kind)
			c := memcache.New(srv.Addrs()...)
			c.Timeout = 300 * time.Millisecond
			k := key(t, "pause")
			if err := c.Set(&memcache.Item{Key: k, Value: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Pause(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := c.Get(k)
			var timeout interface{ Timeout() bool }
			if err == nil || !(errors.As(err, &timeout) && timeout.Timeout()) {
				t.Fatalf("Get while paused = %v, want a timeout", err)
			}
			if err := srv.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			c2 := memcache.New(srv.Addrs()...)
			c2.Timeout = 2 * time.Second
			it, err := c2.Get(k)
			if err != nil || string(it.Value) != "kept" {
				t.Fatalf("Get after Resume = %v, %v", it, err)
			}
		})
	}
}
