package memcached_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
)

func TestReadClusterConfig(t *testing.T) {
	// The example of AWS's "Adding Auto Discovery to your Memcached client
	// library", Output Format.
	aws := "12\nmyCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 " +
		"myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n"
	reply := func(payload string) string {
		return fmt.Sprintf("CONFIG cluster 0 %d\r\n%s\r\nEND\r\n", len(payload), payload)
	}
	cfg, err := memcached.ReadClusterConfig(bufio.NewReader(strings.NewReader(reply(aws))))
	if err != nil {
		t.Fatal(err)
	}
	want := memcached.ClusterConfig{Version: 12, Nodes: []memcached.ClusterNode{
		{Host: "myCluster.pc4ldq.0001.use1.cache.amazonaws.com", IP: "10.82.235.120", Port: 11211},
		{Host: "myCluster.pc4ldq.0002.use1.cache.amazonaws.com", IP: "10.80.249.27", Port: 11211},
	}}
	if cfg.Version != want.Version || !slices.Equal(cfg.Nodes, want.Nodes) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	for _, tc := range []struct{ name, in string }{
		{"ERROR: plain memcached", "ERROR\r\n"},
		{"empty", ""},
		{"other reply", "VALUE x 0 1\r\n"},
		{"length past the data", "CONFIG cluster 0 99\r\n1\nh|1.2.3.4|1\n\r\nEND\r\n"},
		{"length huge", "CONFIG cluster 0 99999999999\r\n"},
		{"length negative", "CONFIG cluster 0 -1\r\n"},
		{"no END", strings.TrimSuffix(reply("1\nh|1.2.3.4|1\n"), "END\r\n")},
		{"no CRLF after data", "CONFIG cluster 0 12\r\n1\nh|1.2.3.4|1\nXXEND\r\n"},
		{"no nodes", reply("1\n\n")},
		{"bad version", reply("v1\nh|1.2.3.4|1\n")},
		{"two fields", reply("1\nh|11211\n")},
		{"port 0", reply("1\nh|1.2.3.4|0\n")},
		{"no host nor ip", reply("1\n||11211\n")},
		{"three lines", reply("1\nh|1.2.3.4|1\nh|1.2.3.4|2\n")},
	} {
		_, err := memcached.ReadClusterConfig(bufio.NewReader(strings.NewReader(tc.in)))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if strings.HasPrefix(tc.name, "ERROR") && !errors.Is(err, memcached.ErrNoAutoDiscovery) {
			t.Errorf("%s: %v, want ErrNoAutoDiscovery", tc.name, err)
		}
	}
}

func FuzzReadClusterConfig(f *testing.F) {
	f.Add("CONFIG cluster 0 20\r\n1\nh|127.0.0.1|11211\n\r\nEND\r\n")
	f.Add("ERROR\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := memcached.ReadClusterConfig(bufio.NewReader(strings.NewReader(in)))
		if err == nil && len(cfg.Nodes) == 0 {
			t.Fatalf("no error and no nodes for %q", in)
		}
	})
}

// TestDiscoveryOfAPlainMemcachedFails: a server that answers ERROR, as the
// real memcached does, is not a configuration endpoint.
func TestDiscoveryOfAPlainMemcachedFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte("ERROR\r\n"))
			c.Close()
		}
	}()
	_, err = memcached.OpenClient(context.Background(), []string{ln.Addr().String()},
		memcached.WithDiscovery(memcached.DiscoveryElastiCache))
	if !errors.Is(err, memcached.ErrNoAutoDiscovery) {
		t.Fatalf("OpenClient: %v, want ErrNoAutoDiscovery", err)
	}
}

func startCluster(t *testing.T, n int, clk memcached.Clock) *memcached.Server {
	t.Helper()
	ctx := context.Background()
	srv, err := memcached.Start(ctx, memcached.Spec{Kind: memcached.KindEmbedded, Nodes: n},
		memcached.WithLogger(testLogger(t)), memcached.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	return srv
}

// refreshOn moves the virtual clock by d and waits for the refresh it
// fires to finish.
func refreshOn(t *testing.T, v *clock.Virtual, d time.Duration) {
	t.Helper()
	v.Advance(d)
	deadline := time.Now().Add(10 * time.Second)
	for v.Running() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDiscoveryFollowsNodeChanges: a discovering client reads the nodes at
// start, and sees an added or removed node on the refresh after the
// change, not before.
func TestDiscoveryFollowsNodeChanges(t *testing.T) {
	ctx := context.Background()
	v := clock.NewVirtual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := startCluster(t, 3, v)
	c, err := memcached.OpenClient(ctx, []string{srv.ConfigEndpoint()}, memcached.WithDiscovery(memcached.DiscoveryElastiCache),
		memcached.WithHashing(memcached.HashingKetama), memcached.WithRefreshClock(v), memcached.WithClientLogger(testLogger(t)),
		memcached.WithRefreshInterval(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Addrs(); !slices.Equal(got, srv.Addrs()) || c.ConfigVersion() != 1 || c.ConfigEndpoint() != srv.Addrs()[0] {
		t.Fatalf("at start: nodes %v version %d endpoint %s; want %v, 1, %s", got, c.ConfigVersion(), c.ConfigEndpoint(), srv.Addrs(), srv.Addrs()[0])
	}
	added, err := srv.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Addrs(); len(got) != 4 || got[3] != added {
		t.Fatalf("server nodes after AddNode: %v, want 4 ending with %s", got, added)
	}
	refreshOn(t, v, 29*time.Second)
	if n := len(c.Nodes()); n != 3 {
		t.Fatalf("before the refresh: %d nodes, want 3", n)
	}
	refreshOn(t, v, time.Second)
	if got := c.Addrs(); !slices.Equal(got, srv.Addrs()) || c.ConfigVersion() != 2 {
		t.Fatalf("after the refresh: nodes %v version %d, want %v and 2", got, c.ConfigVersion(), srv.Addrs())
	}
	removed, err := srv.RemoveNode(ctx)
	if err != nil || removed != added {
		t.Fatalf("RemoveNode: %s, %v; want %s", removed, err, added)
	}
	refreshOn(t, v, 30*time.Second)
	if got := c.Addrs(); len(got) != 3 || slices.Contains(got, removed) || c.ConfigVersion() != 3 {
		t.Fatalf("after removing %s: nodes %v version %d", removed, got, c.ConfigVersion())
	}
	// A configuration no newer than the one in use is ignored.
	srv.Embedded().SetClusterConfig(memcached.ClusterConfig{Version: 3, Nodes: []memcached.ClusterNode{{IP: "127.0.0.1", Port: 1}}})
	if changed, err := c.Refresh(ctx); err != nil || changed || len(c.Nodes()) != 3 {
		t.Fatalf("same version again: changed %v, %v, %d nodes; want false, nil, 3", changed, err, len(c.Nodes()))
	}
	// Close stops the refreshes: no timer is left on the clock.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := v.Pending(); n != 0 {
		t.Fatalf("%d timers pending after Close", n)
	}
}

func TestRemoveNodeKeepsTheLast(t *testing.T) {
	ctx := context.Background()
	srv := startCluster(t, 1, nil)
	if _, err := srv.RemoveNode(ctx); err == nil {
		t.Fatal("the last node was removed")
	}
	if n := len(srv.Addrs()); n != 1 {
		t.Fatalf("%d nodes, want 1", n)
	}
}

// TestScaleOutLosesTokens stores 400 keys on 3 nodes, adds a 4th, lets the
// client refresh, and counts the keys it no longer finds: about 3/4 with
// modulo, about 1/4 with ketama and rendezvous.
func TestScaleOutLosesTokens(t *testing.T) {
	for _, tc := range []struct {
		h        memcached.Hashing
		min, max int
	}{
		{memcached.HashingModulo, 260, 340},
		{memcached.HashingKetama, 50, 150},
		{memcached.HashingRendezvous, 60, 140},
	} {
		t.Run(string(tc.h), func(t *testing.T) {
			ctx := context.Background()
			v := clock.NewVirtual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			srv := startCluster(t, 3, v)
			c, err := memcached.OpenClient(ctx, []string{srv.ConfigEndpoint()}, memcached.WithDiscovery(memcached.DiscoveryElastiCache),
				memcached.WithHashing(tc.h), memcached.WithRefreshClock(v))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const n = 400
			for i := range n {
				if err := c.Add(&memcache.Item{Key: fmt.Sprintf("uploads/UploadFilename-20300101_000000-%06d", i), Value: []byte("valid")}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := srv.AddNode(ctx); err != nil {
				t.Fatal(err)
			}
			refreshOn(t, v, memcached.DefaultRefreshInterval)
			lost := 0
			for i := range n {
				_, err := c.Get(fmt.Sprintf("uploads/UploadFilename-20300101_000000-%06d", i))
				switch {
				case errors.Is(err, memcache.ErrCacheMiss):
					lost++
				case err != nil:
					t.Fatal(err)
				}
			}
			t.Logf("%s: %d of %d keys lost to the 4th node", tc.h, lost, n)
			if lost < tc.min || lost > tc.max {
				t.Fatalf("%s: lost %d of %d, want %d..%d", tc.h, lost, n, tc.min, tc.max)
			}
		})
	}
}

// TestStaticClientPlacesByHashing: without discovery the addresses are the
// nodes, and each key lands on the node the placement picks.
func TestStaticClientPlacesByHashing(t *testing.T) {
	ctx := context.Background()
	srv := startCluster(t, 3, nil)
	c, err := memcached.OpenClient(ctx, srv.Addrs(), memcached.WithHashing(memcached.HashingRendezvous), memcached.WithPoolSize(4))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConfigEndpoint() != "" || c.ConfigVersion() != 0 || c.Hashing() != memcached.HashingRendezvous {
		t.Fatalf("static client: endpoint %q version %d hashing %s", c.ConfigEndpoint(), c.ConfigVersion(), c.Hashing())
	}
	want := map[string]uint64{}
	for i := range 60 {
		k := fmt.Sprintf("k%d", i)
		if err := c.Set(&memcache.Item{Key: k, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		n, _ := c.Selector().Pick(k)
		want[n.Addr()]++
	}
	for _, e := range srv.EmbeddedNodes() {
		if got := e.Stats().CurrItems; got != want[e.Addr()] {
			t.Errorf("node %s holds %d items, the placement put %d there", e.Addr(), got, want[e.Addr()])
		}
	}
	for _, bad := range [][]string{nil, {"nohost"}, {"h:0"}} {
		if _, err := memcached.OpenClient(ctx, bad); err == nil {
			t.Errorf("OpenClient(%q) accepted", bad)
		}
	}
	if _, err := memcached.OpenClient(ctx, srv.Addrs(), memcached.WithHashing("crc")); err == nil {
		t.Error("unknown hashing accepted")
	}
}
