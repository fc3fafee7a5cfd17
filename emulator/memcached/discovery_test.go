package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

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

// useAfter moves the virtual clock by d and has c run one command, which
// refreshes the node list when a refresh is due.
func useAfter(t *testing.T, c *cluster.Client, v *clock.Virtual, d time.Duration) {
	t.Helper()
	v.Advance(d)
	if _, err := c.Get("probe"); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatal(err)
	}
}

// TestDiscoveryFollowsNodeChanges: a discovering client reads the nodes at
// start, and sees an added or removed node on the refresh after the
// change, not before.
func TestDiscoveryFollowsNodeChanges(t *testing.T) {
	ctx := context.Background()
	v := clock.NewVirtual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := startCluster(t, 3, v)
	c, err := cluster.Open(ctx, []string{srv.ConfigEndpoint()}, cluster.WithDiscovery(cluster.DiscoveryElastiCache),
		cluster.WithHashing(cluster.HashingKetama), cluster.WithClock(v), cluster.WithLogger(testLogger(t)),
		cluster.WithRefreshInterval(30*time.Second))
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
	useAfter(t, c, v, 29*time.Second)
	if n := len(c.Nodes()); n != 3 {
		t.Fatalf("before the refresh: %d nodes, want 3", n)
	}
	v.Advance(time.Second)
	if n := len(c.Nodes()); n != 3 {
		t.Fatalf("due but unused: %d nodes, want 3 (the next command refreshes)", n)
	}
	useAfter(t, c, v, 0)
	if got := c.Addrs(); !slices.Equal(got, srv.Addrs()) || c.ConfigVersion() != 2 {
		t.Fatalf("after the refresh: nodes %v version %d, want %v and 2", got, c.ConfigVersion(), srv.Addrs())
	}
	removed, err := srv.RemoveNode(ctx)
	if err != nil || removed != added {
		t.Fatalf("RemoveNode: %s, %v; want %s", removed, err, added)
	}
	useAfter(t, c, v, 30*time.Second)
	if got := c.Addrs(); len(got) != 3 || slices.Contains(got, removed) || c.ConfigVersion() != 3 {
		t.Fatalf("after removing %s: nodes %v version %d", removed, got, c.ConfigVersion())
	}
	// A configuration no newer than the one in use is ignored.
	srv.Embedded().SetClusterConfig(embedded.ClusterConfig{Version: 3, Nodes: []embedded.ClusterNode{{IP: "127.0.0.1", Port: 1}}})
	if changed, err := c.Refresh(ctx); err != nil || changed || len(c.Nodes()) != 3 {
		t.Fatalf("same version again: changed %v, %v, %d nodes; want false, nil, 3", changed, err, len(c.Nodes()))
	}
	// The client sets no timer: a run's clock holds only the run's own.
	if n := v.Pending(); n != 0 {
		t.Fatalf("%d timers pending", n)
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
		h        cluster.Hashing
		min, max int
	}{
		{cluster.HashingModulo, 260, 340},
		{cluster.HashingKetama, 50, 150},
		{cluster.HashingRendezvous, 60, 140},
	} {
		t.Run(string(tc.h), func(t *testing.T) {
			ctx := context.Background()
			v := clock.NewVirtual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			srv := startCluster(t, 3, v)
			c, err := cluster.Open(ctx, []string{srv.ConfigEndpoint()}, cluster.WithDiscovery(cluster.DiscoveryElastiCache),
				cluster.WithHashing(tc.h), cluster.WithClock(v))
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
			v.Advance(cluster.DefaultRefreshInterval)
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
	c, err := cluster.Open(ctx, srv.Addrs(), cluster.WithHashing(cluster.HashingRendezvous), cluster.WithPoolSize(4))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConfigEndpoint() != "" || c.ConfigVersion() != 0 || c.Hashing() != cluster.HashingRendezvous {
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
		if _, err := cluster.Open(ctx, bad); err == nil {
			t.Errorf("OpenClient(%q) accepted", bad)
		}
	}
	if _, err := cluster.Open(ctx, srv.Addrs(), cluster.WithHashing("crc")); err == nil {
		t.Error("unknown hashing accepted")
	}
}
