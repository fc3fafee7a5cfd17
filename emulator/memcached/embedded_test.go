package memcached_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// The embedded server's own tests live in package embedded; these helpers
// reach it through the names this package keeps for its callers.

// virtualClock is a settable clock for expiry tests.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ memcached.Clock = (*virtualClock)(nil)

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startEmbedded(t *testing.T, opts ...memcached.EmbeddedOption) *memcached.Embedded {
	t.Helper()
	e := memcached.NewEmbedded(append([]memcached.EmbeddedOption{memcached.WithEmbeddedLogger(testLogger(t))}, opts...)...)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if n := e.Stats().InternalErrors; n != 0 {
			t.Errorf("InternalErrors = %d, want 0", n)
		}
	})
	return e
}
