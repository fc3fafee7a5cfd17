package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// virtualClock is a settable clock for expiry tests.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ embedded.Clock = (*virtualClock)(nil)

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

func startEmbedded(t *testing.T, opts ...embedded.Option) *embedded.Server {
	t.Helper()
	e := embedded.New(append([]embedded.Option{embedded.WithLogger(testLogger(t))}, opts...)...)
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

func TestEmbeddedVirtualClockTTL(t *testing.T) {
	clk := &virtualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := startEmbedded(t, embedded.WithClock(clk))
	r := dialRaw(t, e.Addr())
	abs := clk.Now().Unix() + 100
	r.expect("set rel 0 10 1\r\nx\r\n", "STORED")
	r.expect(fmt.Sprintf("set abs 0 %d 1\r\nx\r\n", abs), "STORED")
	r.expect("set forever 0 0 1\r\nx\r\n", "STORED")
	r.expect("set touched 0 10 1\r\nx\r\n", "STORED")
	clk.Advance(9 * time.Second)
	r.expect("touch touched 20\r\n", "TOUCHED") // now expires at 29 s
	r.expect("get rel\r\n", "VALUE rel 0 1", "x", "END")
	clk.Advance(time.Second) // 10 s: a 10 s TTL is over
	r.expect("get rel\r\n", "END")
	r.expect("get touched\r\n", "VALUE touched 0 1", "x", "END")
	clk.Advance(90 * time.Second) // 100 s: the absolute time is reached
	r.expect("get abs touched forever\r\n", "VALUE forever 0 1", "x", "END")
	clk.Advance(365 * 24 * time.Hour)
	r.expect("get forever\r\n", "VALUE forever 0 1", "x", "END")
	if st := e.Stats(); st.Reclaimed != 3 || st.GetExpired != 3 {
		t.Fatalf("Reclaimed %d, GetExpired %d; want 3 and 3", st.Reclaimed, st.GetExpired)
	}
}

func TestEmbeddedDelayedFlush(t *testing.T) {
	clk := &virtualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := startEmbedded(t, embedded.WithClock(clk))
	r := dialRaw(t, e.Addr())
	r.expect("set old 0 0 1\r\nx\r\n", "STORED")
	r.expect("flush_all 10\r\n", "OK")
	r.expect("get old\r\n", "VALUE old 0 1", "x", "END")
	clk.Advance(10 * time.Second)
	r.expect("get old\r\n", "END")
	clk.Advance(time.Second)
	r.expect("set new 0 0 1\r\nx\r\n", "STORED")
	r.expect("get new\r\n", "VALUE new 0 1", "x", "END")
}

func TestEmbeddedRestartDropsDataAndConnections(t *testing.T) {
	e := startEmbedded(t)
	addr := e.Addr()
	r := dialRaw(t, addr)
	r.expect("set k 0 0 1\r\nx\r\n", "STORED")
	r.expect("gets k\r\n", "VALUE k 0 1 1", "x", "END")
	e.Restart()
	if _, err := r.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("client connection after Restart: read err %v, want EOF", err)
	}
	if e.Addr() != addr {
		t.Fatalf("address changed: %s -> %s", addr, e.Addr())
	}
	r2 := dialRaw(t, addr)
	r2.expect("get k\r\n", "END")
	// CAS ids keep increasing across a restart, so a stale id cannot match.
	r2.expect("set k 0 0 1\r\ny\r\n", "STORED")
	r2.expect("cas k 0 0 1 1\r\nz\r\n", "EXISTS")
	r2.expect("gets k\r\n", "VALUE k 0 1 2", "y", "END")
	if st := e.Stats(); st.CurrItems != 1 || st.CmdSet != 2 || st.CasBadval != 1 {
		t.Fatalf("stats after restart: %+v", st)
	}
}

func TestEmbeddedEvictsLRU(t *testing.T) {
	e := startEmbedded(t)
	mc := newClient([]string{e.Addr()}, 1)
	value := []byte(strings.Repeat("v", 100)) // 2+100+56 = 158 bytes an item
	set := func(k string) {
		t.Helper()
		if err := mc.Set(&memcache.Item{Key: k, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"k0", "k1", "k2", "k3", "k4"} {
		set(k)
	}
	if _, err := mc.Get("k0"); err != nil { // k0 becomes most recently used
		t.Fatal(err)
	}
	e.SetMaxBytes(5 * 158) // exactly full
	if st := e.Stats(); st.Evictions != 0 || st.CurrItems != 5 {
		t.Fatalf("at the limit: %+v", st)
	}
	set("k5") // evicts k1, the least recently used
	set("k6") // evicts k2
	for k, want := range map[string]bool{"k0": true, "k1": false, "k2": false, "k3": true, "k4": true, "k5": true, "k6": true} {
		_, err := mc.Get(k)
		if got := err == nil; got != want {
			t.Errorf("%s present = %v (%v), want %v", k, got, err, want)
		}
	}
	st := e.Stats()
	if st.Evictions != 2 || st.CurrItems != 5 || st.Bytes != 5*158 || st.LimitMaxBytes != 5*158 {
		t.Fatalf("stats: Evictions %d CurrItems %d Bytes %d Limit %d; want 2, 5, 790, 790",
			st.Evictions, st.CurrItems, st.Bytes, st.LimitMaxBytes)
	}
	e.SetMaxBytes(2 * 158) // shrinking evicts at once
	if st := e.Stats(); st.Evictions != 5 || st.CurrItems != 2 {
		t.Fatalf("after shrinking: Evictions %d CurrItems %d; want 5, 2", st.Evictions, st.CurrItems)
	}
	// An item larger than the whole limit can never be stored.
	r := dialRaw(t, e.Addr())
	r.expect(fmt.Sprintf("set huge 0 0 400\r\n%s\r\n", strings.Repeat("h", 400)), "SERVER_ERROR out of memory storing object")
}

func TestEmbeddedLatency(t *testing.T) {
	e := startEmbedded(t)
	r := dialRaw(t, e.Addr())
	const d = 150 * time.Millisecond
	e.SetLatency(d)
	start := time.Now()
	r.expect("version\r\n", "VERSION "+embedded.Version)
	if took := time.Since(start); took < d {
		t.Fatalf("reply after %v, want >= %v", took, d)
	}
	e.SetLatency(0)
	start = time.Now()
	r.expect("version\r\n", "VERSION "+embedded.Version)
	if took := time.Since(start); took >= d {
		t.Fatalf("reply after %v with latency removed", took)
	}
}

func TestEmbeddedMaxConns(t *testing.T) {
	e := startEmbedded(t)
	e.SetMaxConns(1)
	first := dialRaw(t, e.Addr())
	first.expect("version\r\n", "VERSION "+embedded.Version)
	second := dialRaw(t, e.Addr())
	second.expect("", "ERROR Too many open connections")
	if _, err := second.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("refused connection: read err %v, want EOF", err)
	}
	first.expect("version\r\n", "VERSION "+embedded.Version) // unaffected
	if st := e.Stats(); st.RejectedConnections != 1 || st.CurrConnections != 1 || st.TotalConnections != 1 {
		t.Fatalf("connections: %+v", st)
	}
	e.SetMaxConns(0)
	dialRaw(t, e.Addr()).expect("version\r\n", "VERSION "+embedded.Version)
}

func TestEmbeddedStatsCount(t *testing.T) {
	e := startEmbedded(t)
	r := dialRaw(t, e.Addr())
	r.expect("set a 0 0 1\r\n1\r\n", "STORED")
	r.expect("get a b\r\n", "VALUE a 0 1", "1", "END")
	r.expect("gets a\r\n", "VALUE a 0 1 1", "1", "END")
	r.expect("cas a 0 0 1 1\r\n2\r\n", "STORED")
	r.expect("cas a 0 0 1 1\r\n3\r\n", "EXISTS")
	r.expect("cas b 0 0 1 1\r\n3\r\n", "NOT_FOUND")
	r.expect("touch a 10\r\n", "TOUCHED")
	r.expect("delete a\r\n", "DELETED")
	r.expect("delete a\r\n", "NOT_FOUND")
	r.expect("flush_all\r\n", "OK")
	got := e.Stats()
	want := embedded.Stats{
		TotalItems: 2, LimitMaxBytes: embedded.DefaultMaxBytes,
		CurrConnections: 1, TotalConnections: 1,
		CmdGet: 3, CmdSet: 4, CmdTouch: 1, CmdFlush: 1,
		GetHits: 2, GetMisses: 1, DeleteHits: 1, DeleteMisses: 1,
		CasHits: 1, CasBadval: 1, CasMisses: 1, TouchHits: 1,
	}
	if got != want {
		t.Fatalf("Stats() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestEmbeddedLineTooLong(t *testing.T) {
	e := startEmbedded(t)
	r := dialRaw(t, e.Addr())
	r.expect("get "+strings.Repeat("k ", embedded.MaxCommandLine)+"\r\n", "CLIENT_ERROR line too long")
	// EOF, or a reset because the rest of the line was never read.
	if _, err := r.r.ReadByte(); err == nil {
		t.Fatal("connection still open after a too-long line")
	}
	dialRaw(t, e.Addr()).expect("version\r\n", "VERSION "+embedded.Version)
}
