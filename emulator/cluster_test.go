package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

func (s *stack) health(t *testing.T) emulator.Health {
	t.Helper()
	resp, err := http.Get(s.URL + "/_uploadonce/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h emulator.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHealthOfACluster: with embedded:3 the clients discover the nodes
// through the configuration endpoint; health lists every node, and a node
// added later, with the endpoint and the placement.
func TestHealthOfACluster(t *testing.T) {
	s := start(t, "embedded:3", func(o *emulator.StartOptions) { o.MemcachedHashing = cluster.HashingKetama })
	h := s.health(t).Memcached
	addrs := s.Memcached.Addrs()
	if len(h.Addrs) != 3 || !slices.Equal(h.Addrs, addrs) || h.ConfigEndpoint != addrs[0] || h.Hashing != "ketama" || h.VerifierHashing != "" {
		t.Fatalf("health memcached = %+v; want addrs %v, config_endpoint %s, hashing ketama", h, addrs, addrs[0])
	}
	if got := s.MemcachedClients[0].Addrs(); !slices.Equal(got, addrs) {
		t.Fatalf("the client discovered %v, want %v", got, addrs)
	}
	added, err := s.Memcached.AddNode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.health(t).Memcached.Addrs; len(got) != 4 || got[3] != added {
		t.Fatalf("health after AddNode: addrs %v, want 4 ending with %s", got, added)
	}
	// The first command after the refresh interval rediscovers the nodes.
	s.clock.Advance(cluster.DefaultRefreshInterval)
	s.uploadAll(t, "body")
	if got := s.MemcachedClients[0].Addrs(); len(got) != 4 {
		t.Fatalf("the client after a refresh: %v, want 4 nodes", got)
	}
}

// TestMixedPlacement: an issuer placing keys by rendezvous (pymemcache) and
// a verifier placing them by modulo (gomemcache) on one 3-node cluster look
// for most tokens on the wrong node: legitimate uploads are rejected as
// token-missing, about 2/3 of them.
func TestMixedPlacement(t *testing.T) {
	s := start(t, "embedded:3", func(o *emulator.StartOptions) {
		o.MemcachedHashing, o.VerifierMemcachedHashing = cluster.HashingRendezvous, cluster.HashingModulo
	})
	if h := s.health(t).Memcached; h.Hashing != "rendezvous" || h.VerifierHashing != "modulo" || len(s.MemcachedClients) != 2 {
		t.Fatalf("health memcached = %+v with %d clients; want rendezvous, verifier modulo, 2 clients", h, len(s.MemcachedClients))
	}
	const n = 60
	keys := make([]string, n)
	for i := range keys {
		keys[i] = s.uploadAll(t, "body")
	}
	s.settle(t)
	missing := 0
	for _, k := range keys {
		tl := s.tally(k)
		if tl.accepted+tl.rejected != 1 {
			t.Fatalf("%s: %+v, want one decision", k, tl)
		}
		if tl.rejected == 1 {
			missing++
		}
	}
	for _, d := range s.Decisions() {
		if d.Decision == onetime.Rejected && d.Reason != onetime.ReasonTokenMissing {
			t.Fatalf("rejected for %s, want token-missing", d.Reason)
		}
	}
	t.Logf("%d of %d tokens not found by the verifier", missing, n)
	if missing < 25 || missing > 55 {
		t.Fatalf("%d of %d rejected, want about 2/3 (25..55)", missing, n)
	}
}

// TestFunctionDiscoversTheCluster runs cmd/lambda as both functions on
// embedded:3: the emulator hands them the configuration endpoint with
// MEMCACHED_DISCOVERY=elasticache, as the SAM template does, and the
// functions spread the tokens over the three nodes they discover (a
// function that took the endpoint for the only node would put them all on
// the first) and find each again.
func TestFunctionDiscoversTheCluster(t *testing.T) {
	bin := buildLambda(t)
	s := start(t, "embedded:3", func(o *emulator.StartOptions) {
		o.VerifyFunction, o.IssueFunction = bin, bin
		o.MemcachedHashing = cluster.HashingKetama
		o.Lambda.Concurrency = 2
	})
	const n = 30
	keys := make([]string, n)
	for i := range keys {
		keys[i] = s.uploadAll(t, "body")
	}
	s.settle(t)
	for _, k := range keys {
		if acc, rej := s.decisionsFor(t, k); acc != 1 || rej != 0 {
			t.Fatalf("%s: accepted %d, rejected %d; want 1, 0", k, acc, rej)
		}
	}
	var total uint64
	for i, e := range s.Memcached.EmbeddedNodes() {
		items := e.Stats().CurrItems
		if items == 0 {
			t.Errorf("node %d holds none of the %d tokens", i, n)
		}
		total += items
	}
	if total != n {
		t.Fatalf("the nodes hold %d items, want %d", total, n)
	}
}
