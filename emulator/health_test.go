package emulator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// health reads /_uploadonce/health.
func health(t *testing.T, base string) (int, emulator.Health) {
	t.Helper()
	resp, err := http.Get(base + "/_uploadonce/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h emulator.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// healthBecomes polls until health reports want, and returns how long that
// took from since; it fails after 2 s.
func healthBecomes(t *testing.T, base, want string, since time.Time) time.Duration {
	t.Helper()
	for {
		code, h := health(t, base)
		wantCode := http.StatusOK
		if want == "degraded" {
			wantCode = http.StatusServiceUnavailable
		}
		if h.Status == want {
			if code != wantCode || (want == "degraded") != strings.Contains(h.Reason, "memcached unreachable") {
				t.Fatalf("health %s answered %d, reason %q", h.Status, code, h.Reason)
			}
			return time.Since(since)
		}
		if time.Since(since) > 2*time.Second {
			t.Fatalf("health still %s (%q) 2 s later, want %s", h.Status, h.Reason, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthFollowsMemcached: health turns degraded within 2 s of memcached
// hanging or dying, and ok again within 2 s of its return.
func TestHealthFollowsMemcached(t *testing.T) {
	ctx := context.Background()
	mc := memcached.NewEmbedded()
	if err := mc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := mc.Addr()
	e, err := emulator.New(emulator.Config{Endpoint: "http://127.0.0.1:1", Logger: zerolog.New(zerolog.NewTestWriter(t)),
		Cache: memcached.NewClient([]string{addr}, 4), Memcache: emulator.MemcachedInfo{Kind: "embedded", Addrs: []string{addr}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ts := httptest.NewServer(e.Handler())
	t.Cleanup(ts.Close)

	healthBecomes(t, ts.URL, "ok", time.Now())
	// Hung (SIGSTOP-like): the probe's deadline answers for it.
	mc.Pause()
	t.Logf("paused: degraded after %v", healthBecomes(t, ts.URL, "degraded", time.Now()))
	mc.Resume()
	t.Logf("resumed: ok after %v", healthBecomes(t, ts.URL, "ok", time.Now()))
	// Dead: connections refused.
	if err := mc.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed: degraded after %v", healthBecomes(t, ts.URL, "degraded", time.Now()))
	back := memcached.NewEmbedded(memcached.WithEmbeddedAddr(addr))
	if err := back.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	t.Logf("back: ok after %v", healthBecomes(t, ts.URL, "ok", time.Now()))
}

// TestRuntimeMetrics: /metrics carries the process's goroutines, heap,
// resident memory and open file descriptors, with plausible values.
func TestRuntimeMetrics(t *testing.T) {
	s := start(t, memcached.KindEmbedded, nil)
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			got[name] = v
		}
	}
	for name, least := range map[string]float64{
		"go_goroutines":                 5,       // the server, the invoker, memcached
		"go_memstats_heap_alloc_bytes":  1 << 20, // a running stack holds more than a MiB
		"process_resident_memory_bytes": 8 << 20,
		"process_open_fds":              3,
	} {
		if got[name] < least {
			t.Errorf("%s = %v, want at least %v", name, got[name], least)
		}
	}
}
