package loadtest_test

import (
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// clustered is urls URLs issued at 0 s on embedded:nodes with placement h,
// each uploaded once at upload, with faults.
func clustered(nodes int, h cluster.Hashing, urls int, upload time.Duration, faults ...plan.Fault) plan.Plan {
	p := faulted(onetime.CAS, urls, 1, faults...)
	p.Stack.Memcached.Nodes = nodes
	p.Stack.MemcachedHashing = h
	p.Stack.URLExpiry = 5 * time.Minute
	p.Groups[0].Uploads[0].At = upload
	return p
}

// TestNodeChanges: a node added or removed while tokens are live loses the
// tokens whose keys the clients, after their next discovery refresh (60 s
// on the run clock), look for elsewhere. Each loss is explained
// token-lost-to-node-change; nothing else is lost and nothing is a
// violation.
func TestNodeChanges(t *testing.T) {
	add := plan.Fault{Kind: plan.FaultMemcachedAddNode, At: 10 * time.Second}
	remove := plan.Fault{Kind: plan.FaultMemcachedRemoveNode, At: 10 * time.Second}
	for _, tc := range []struct {
		name       string
		p          plan.Plan
		lo, hi     int // tokens lost of 200
		failClosed bool
	}{
		// Uploaded after the refresh: crc mod 3 vs mod 4 moves 3/4.
		{"add/modulo", clustered(3, cluster.HashingModulo, 200, 90*time.Second, add), 120, 180, false},
		// Ketama moves only the keys the new node's points take, ~1/4.
		{"add/ketama", clustered(3, cluster.HashingKetama, 200, 90*time.Second, add), 15, 90, false},
		// Uploaded before anyone saw the change: nothing is lost yet.
		{"add/before the refresh", clustered(3, cluster.HashingModulo, 200, 30*time.Second, add), 0, 0, false},
		// Removing 1 of 4 loses the tokens it held, ~1/4 with rendezvous.
		{"remove/rendezvous", clustered(4, cluster.HashingRendezvous, 200, 90*time.Second, remove), 15, 90, false},
		// Uploaded before the refresh, the verifier still dials the removed
		// node: it fails closed, and Lambda's retry at 90 s, after the
		// refresh, finds the token gone.
		{"remove/before the refresh", clustered(4, cluster.HashingRendezvous, 200, 30*time.Second, remove), 15, 90, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.p)
			c := res.Check
			lost := 0
			if p := c.ExplainedRejects[check.CauseNodeChange]; p != nil {
				lost = p.Count
			}
			t.Logf("%s: %d of 200 lost, %d accepted, explained %v", tc.name, lost, c.Counts.Accepted, c.ExplainedRejects)
			if lost < tc.lo || lost > tc.hi || lost+c.Counts.Accepted != 200 || c.Violations() != 0 || len(c.Assumptions) != 0 || res.Partial {
				t.Fatalf("%s lost %d (want %d..%d) accepted %d assumptions %v", c.String(), lost, tc.lo, tc.hi, c.Counts.Accepted, c.Assumptions)
			}
			failClosed := 0
			for _, tok := range res.History.Tokens {
				for _, d := range tok.Decisions {
					if d.Retryable {
						failClosed++
					}
				}
			}
			if (failClosed > 0) != tc.failClosed || (tc.failClosed && failClosed != lost) {
				t.Fatalf("%d fail-closed attempts; want them (one per lost token) %v", failClosed, tc.failClosed)
			}
			if len(res.History.Meta.Faults) == 0 || res.History.Meta.Faults[0].Err != "" {
				t.Fatalf("fault record %+v", res.History.Meta.Faults)
			}
		})
	}
}
