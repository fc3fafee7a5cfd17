package loadtest_test

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// faulted is urls URLs issued at 0 s, uploaded dups times at once at 10 s,
// with faults, on the embedded memcached.
func faulted(strategy string, urls, dups int, faults ...plan.Fault) plan.Plan {
	ups := make([]plan.Upload, dups)
	for i := range ups {
		ups[i] = plan.Upload{At: 10 * time.Second}
	}
	p := plan.Plan{Seed: 3, Concurrency: 32,
		Stack:  testStack(strategy, memcached.KindEmbedded, 64),
		Groups: []plan.Group{{Name: "g", Tokens: urls, Uploads: ups}},
		Faults: faults, Timeout: time.Minute}
	if strategy == onetime.IfNoneMatch {
		p.Stack.Method = onetime.MethodPUT
	}
	return p
}

// decisionsOf returns the reasons of one token's decisions, fail-closed
// ones marked.
func decisionsOf(tok *history.Token) []string {
	var out []string
	for _, d := range tok.Decisions {
		r := d.Decision + "/" + string(d.Reason)
		if d.Retryable {
			r += "(retryable)"
		}
		out = append(out, r)
	}
	return out
}

// TestPauseFailsClosedAndRetries: while memcached is paused the verifier
// fails closed (a retryable infrastructure-error rejection) and Lambda
// retries 1 min and then 2 min later, on the virtual clock. The upload is at
// 10 s, so the attempts are at 10 s, 70 s and 190 s; pauses from 5 s ending
// on either side of 70 s and of 190 s pin both retry times to within 5 s.
// No attempt waits on the pause longer than the client timeout.
func TestPauseFailsClosedAndRetries(t *testing.T) {
	for _, tc := range []struct {
		pause      time.Duration // from 5 s
		failClosed int           // attempts that met the pause
		accepted   bool
	}{
		{60 * time.Second, 1, true},   // resumes at 65 s: the 70 s retry succeeds
		{70 * time.Second, 2, true},   // resumes at 75 s: the 70 s retry fails, 190 s succeeds
		{180 * time.Second, 2, true},  // resumes at 185 s: 190 s succeeds
		{190 * time.Second, 3, false}, // resumes at 195 s: all three attempts fail
	} {
		t.Run(tc.pause.String(), func(t *testing.T) {
			start := time.Now()
			res := run(t, faulted(onetime.Delete, 1, 1, plan.Fault{Kind: plan.FaultMemcachedPause, At: 5 * time.Second, Duration: tc.pause}))
			tok := res.History.Tokens[0]
			got := decisionsOf(tok)
			want := []string{}
			for range tc.failClosed {
				want = append(want, onetime.Rejected+"/"+string(onetime.ReasonInfrastructure)+"(retryable)")
			}
			if tc.accepted {
				want = append(want, onetime.Accepted+"/"+string(onetime.ReasonFirstUse))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("decisions %v, want %v", got, want)
			}
			if tc.accepted != (res.Check.Counts.Accepted == 1) || res.Check.Violations() != 0 || res.Partial {
				t.Fatalf("%s partial=%v", res.Check.String(), res.Partial)
			}
			if !tc.accepted && res.Check.ExplainedRejects[check.CauseMemcachedUnavailable+plan.FaultMemcachedPause].Count != 1 {
				t.Fatalf("explained %v: want the pause", res.Check.ExplainedRejects)
			}
			// Each attempt is bounded by the client timeout, not the pause.
			if el, bound := time.Since(start), time.Duration(tc.failClosed+10)*memcached.DefaultClientTimeout; el > bound {
				t.Fatalf("run took %v, bound %v", el, bound)
			}
		})
	}
}

// TestNoDoubleAcceptUnderFaults: under every fault, two concurrent uploads
// per URL never get two accepts from the strategies that claim atomically,
// and every URL owed an accept that got none is explained: each URL ends
// with exactly one accept unless the fault lost its token.
func TestNoDoubleAcceptUnderFaults(t *testing.T) {
	const urls = 40
	faults := map[string]struct {
		fault plan.Fault
		// lost is the cause under which a memcached strategy loses tokens:
		// "" when it loses none, so every URL is accepted once. Tokens lost
		// to a restart or flush at 5 s are all 40; eviction takes some. The
		// S3 strategies keep no tokens and accept every URL under any fault.
		lost string
		all  bool // every token is lost
	}{
		"restart":    {plan.Fault{Kind: plan.FaultMemcachedRestart, At: 5 * time.Second}, check.CauseTokenLost + plan.FaultMemcachedRestart, true},
		"flush":      {plan.Fault{Kind: plan.FaultMemcachedFlush, At: 5 * time.Second}, check.CauseTokenLost + plan.FaultMemcachedFlush, true},
		"evict":      {plan.Fault{Kind: plan.FaultMemcachedEvict, At: 5 * time.Second, Value: 2048}, check.CauseTokenEvicted, false},
		"pause":      {plan.Fault{Kind: plan.FaultMemcachedPause, At: 5 * time.Second, Duration: 30 * time.Second}, "", false},
		"latency":    {plan.Fault{Kind: plan.FaultMemcachedLatency, At: 5 * time.Second, Duration: 100 * time.Microsecond}, "", false},
		"conn-limit": {plan.Fault{Kind: plan.FaultMemcachedConnLimit, At: 5 * time.Second, Value: 2}, "", false},
	}
	for name, fc := range faults {
		f := fc.fault
		for _, strategy := range []string{onetime.Delete, onetime.CAS, onetime.Versioning, onetime.IfNoneMatch} {
			t.Run(name+"/"+strategy, func(t *testing.T) {
				t.Parallel()
				p := faulted(strategy, urls, 2, f)
				p.Stack.Delivery.Duplicates = 0.5
				if f.Kind != plan.FaultMemcachedPause {
					// On the virtual clock every distinct delivery time is
					// a step, and under a pause each step waits out the
					// client timeout: reordering would cost 1 s per event.
					p.Stack.Delivery.ReorderWindow = 2 * time.Second
				}
				res := run(t, p)
				c := res.Check
				if c.DoubleAccept.Count != 0 || c.FalseReject.Count != 0 || c.LateAccept.Count != 0 || len(c.Assumptions) != 0 || res.Partial {
					t.Fatalf("%s assumptions %v partial %v explained %v", c.String(), c.Assumptions, res.Partial, c.ExplainedRejects)
				}
				t.Logf("accepted %d rejected %d explained %v", c.Counts.Accepted, c.Counts.Rejected, c.ExplainedRejects)
				lost := 0
				for _, e := range c.ExplainedRejects {
					lost += e.Count
				}
				wantLost := 0
				if fc.lost != "" && onetime.UsesMemcached(strategy) {
					e := c.ExplainedRejects[fc.lost]
					if e == nil || e.Count != lost || (fc.all && lost != urls) || lost == 0 {
						t.Fatalf("explained %v: want URLs lost to %s only (all %d of them: %v)", c.ExplainedRejects, fc.lost, urls, fc.all)
					}
					wantLost = lost
				}
				if lost != wantLost || c.Counts.Accepted != urls-wantLost {
					t.Fatalf("accepted %d, explained %d (%v); want %d accepted and %d explained", c.Counts.Accepted, lost, c.ExplainedRejects, urls-wantLost, wantLost)
				}
				// Exactly one accept per URL that kept its token.
				for _, tok := range res.History.Tokens {
					accepted := map[string]bool{}
					for _, d := range tok.Decisions {
						if d.Decision == onetime.Accepted {
							accepted[d.ID()] = true
						}
					}
					if len(accepted) > 1 || (wantLost == 0 && len(accepted) != 1) {
						t.Fatalf("%s: decisions %v; want one accepted upload", tok.Key, decisionsOf(tok))
					}
				}
			})
		}
	}
}

// TestEvictionIsExplained: an injected memory limit evicts issued tokens
// and the checker attributes each lost one to eviction.
func TestEvictionIsExplained(t *testing.T) {
	res := run(t, faulted(onetime.CAS, 200, 1, plan.Fault{Kind: plan.FaultMemcachedEvict, At: 5 * time.Second, Value: 4096}))
	c := res.Check
	lost := c.ExplainedRejects[check.CauseTokenEvicted]
	if lost == nil || lost.Count == 0 || lost.Count+c.Counts.Accepted != 200 || c.Violations() != 0 {
		t.Fatalf("%s accepted %d explained %v", c.String(), c.Counts.Accepted, c.ExplainedRejects)
	}
}

// TestMemoryLimitEvictsOnProcess: memcached -m 2 in a real process evicts
// tokens when more are issued than fit, and the evictions it reports
// explain the lost ones.
func TestMemoryLimitEvictsOnProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("issues 20,000 tokens")
	}
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("no memcached binary")
	}
	p := faulted(onetime.Delete, 20000, 1)
	p.Stack.Memcached = memcached.Spec{Kind: memcached.KindProcess}
	p.Stack.MemcachedMemoryMB = 2
	p.Concurrency = 64
	res := run(t, p)
	c := res.Check
	lost := c.ExplainedRejects[check.CauseTokenEvicted]
	if lost == nil || lost.Count == 0 || lost.Count+c.Counts.Accepted != 20000 || c.Violations() != 0 {
		t.Fatalf("%s accepted %d explained %v", c.String(), c.Counts.Accepted, c.ExplainedRejects)
	}
	t.Logf("-m 2: %d accepted, %d lost to eviction", c.Counts.Accepted, lost.Count)
}
