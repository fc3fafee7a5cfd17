package check

import (
	"testing"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestLostURLs: a URL with an in-time 2xx upload and no accept is lost
// unless token loss or exhausted retries explain it; lost URLs fail only the
// strategies that owe liveness.
func TestLostURLs(t *testing.T) {
	retryable := func(at int64, seq string) history.Decision {
		d := dec(at, rej, onetime.ReasonInfrastructure, seq, "aa")
		d.Retryable = true
		return d
	}
	pause := []history.Fault{{Kind: plan.FaultMemcachedPause, Ns: 5}}
	for _, tc := range []struct {
		name     string
		strategy string
		meta     history.Meta
		ds       []history.Decision
		// want: lost URLs, false rejects, and whether the run is OK
		lost, falseRejects int
		ok                 bool
	}{
		// cas before claims could pass: the winner's bytes were replaced,
		// its copy refused, the other event found the token consumed.
		{name: "overwritten under cas", strategy: onetime.CAS,
			ds:   []history.Decision{dec(30, rej, onetime.ReasonTokenConsumed, "02", "aa"), dec(31, rej, onetime.ReasonOverwritten, "01", "aa")},
			lost: 1},
		// The same under delete: counted, the reference's known weakness.
		{name: "overwritten under delete", strategy: onetime.Delete,
			ds:   []history.Decision{dec(30, rej, onetime.ReasonTokenConsumed, "02", "aa"), dec(31, rej, onetime.ReasonOverwritten, "01", "aa")},
			lost: 1, ok: true},
		// delete's claim timed out during a pause but took effect; the retry
		// finds no token: explained by the pause, yet the URL is lost.
		{name: "timed-out claim under delete", strategy: onetime.Delete, meta: history.Meta{Faults: pause},
			ds:   []history.Decision{retryable(30, "01"), dec(40, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(41, rej, onetime.ReasonTokenMissing, "02", "aa")},
			lost: 1, ok: true},
		// Every attempt failed and the retries ran out: excused.
		{name: "retries exhausted under cas", strategy: onetime.CAS, meta: history.Meta{Faults: pause, RetriesExhausted: 2},
			ds: []history.Decision{retryable(30, "01"), retryable(31, "02")}, ok: true},
		// A restart lost the token: excused.
		{name: "token lost under cas", strategy: onetime.CAS,
			meta: history.Meta{Faults: []history.Fault{{Kind: plan.FaultMemcachedFlush, Ns: 5}}},
			ds:   []history.Decision{dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa")},
			ok:   true},
		// Unexplained: a false reject, and so a lost URL too.
		{name: "false reject under versioning", strategy: onetime.Versioning,
			ds:   []history.Decision{dec(30, rej, onetime.ReasonNotOldestVersion, "01", "aa"), dec(31, rej, onetime.ReasonNotOldestVersion, "02", "aa")},
			lost: 1, falseRejects: 1},
		// The claim passed on: one accept, nothing lost.
		{name: "claim passed on under cas", strategy: onetime.CAS,
			ds: []history.Decision{dec(30, rej, onetime.ReasonTokenConsumed, "02", "aa"), dec(31, acc, onetime.ReasonClaimPassed, "01", "aa")},
			ok: true},
		// Released, then claimed by the other upload: one accept, and the
		// register's history (claim, release, claim) is linearizable.
		{name: "claim released then taken", strategy: onetime.CAS,
			ds: []history.Decision{dec(30, rej, onetime.ReasonClaimReleased, "01", "aa"), dec(31, acc, onetime.ReasonFirstUse, "02", "aa")},
			ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.meta
			m.Strategy = tc.strategy
			r := Check(&history.Run{Meta: m, Tokens: []*history.Token{tok("k", tc.ds...)}})
			if r.LostURLs.Count != tc.lost || r.FalseReject.Count != tc.falseRejects || r.OK() != tc.ok ||
				r.LivenessOwed != onetime.OwesLiveness(tc.strategy) {
				t.Fatalf("%s owed=%v ok=%v explained %v; want lost %d, false rejects %d, ok %v", r.String(), r.LivenessOwed,
					r.OK(), r.ExplainedRejects, tc.lost, tc.falseRejects, tc.ok)
			}
			if tc.lost > 0 && r.LostURLs.Examples[0] != "k" {
				t.Fatalf("examples %v", r.LostURLs.Examples)
			}
		})
	}
}
