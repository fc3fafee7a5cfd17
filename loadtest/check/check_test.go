package check

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

var expires = time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)

// up is a 2xx upload sent at ns with body md5.
func up(sent int64, md5 string) history.Upload {
	return history.Upload{Sent: sent, Returned: sent + 5, Intended: sent, Status: 204, BodyMD5: md5}
}

func dl(at int64, seq, etag string) history.Delivery {
	return history.Delivery{At: at, Sequencer: seq, ETag: etag}
}

func dec(at int64, decision string, reason onetime.Reason, seq, etag string) history.Decision {
	return history.Decision{At: at, Decision: decision, Reason: reason, Sequencer: seq, ETag: etag,
		EventTime: expires.Add(-20 * time.Second)}
}

// tok builds a token with two same-bytes uploads, their deliveries, and ds.
func tok(key string, ds ...history.Decision) *history.Token {
	return &history.Token{Key: key, IssueCall: 1, IssueReturn: 2, Expires: expires,
		Uploads:    []history.Upload{up(10, "aa"), up(11, "aa")},
		Deliveries: []history.Delivery{dl(20, "01", "aa"), dl(21, "02", "aa")},
		Decisions:  ds, AcceptedETag: acceptedETag(ds)}
}

func acceptedETag(ds []history.Decision) string {
	for _, d := range ds {
		if d.Accepted() {
			return d.ETag
		}
	}
	return ""
}

const (
	acc = onetime.Accepted
	rej = onetime.Rejected
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   func() *history.Run
		check func(t *testing.T, r Result)
	}{
		{
			// upload2x: one accept, one token-consumed: clean.
			"clean", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{
					tok("k", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(31, rej, onetime.ReasonTokenConsumed, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.Counts.Accepted != 1 || r.Counts.Rejected != 1 || r.Linearizable != Linearizable {
					t.Fatalf("%s %+v", r.String(), r.Counts)
				}
			},
		},
		{
			// cas: the winner's redelivered event is accepted again: one
			// distinct upload, so no double accept.
			"redelivery is not a double accept", func() *history.Run {
				k := tok("k", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(32, acc, onetime.ReasonRedelivery, "01", "aa"),
					dec(33, rej, onetime.ReasonTokenConsumed, "02", "aa"))
				k.Deliveries = append(k.Deliveries, dl(31, "01", "aa"))
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.Counts.Accepted != 1 {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// get-delete's race: both uploads accepted.
			"double accept", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.GetDelete}, Tokens: []*history.Token{
					tok("k", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(31, acc, onetime.ReasonFirstUse, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if r.DoubleAccept.Count != 1 || r.DoubleAccept.Examples[0] != "k" || r.Linearizable != NotLinearizable || r.OK() {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// Both rejected for a missing token and no fault: a false reject;
			// the lost token also breaks the register's history.
			"false reject", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if r.FalseReject.Count != 1 || len(r.ExplainedRejects) != 0 || r.Linearizable != NotLinearizable {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// The same, after a memcached restart between issue and claim:
			// explained, not a violation.
			"explained by a restart", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedRestart, Ns: 5}}}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseTokenLost+plan.FaultMemcachedRestart].Count != 1 {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// A node added between issue and claim: once the clients saw
			// it, the token was looked for on another node.
			"explained by a node change", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedAddNode, Ns: 5}}}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseNodeChange].Count != 1 || CauseNodeChange != "token-lost-to-node-change" {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// The latest loss between issue and miss names the cause.
			"a removed node after a restart", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedRestart, Ns: 4}, {Kind: plan.FaultMemcachedRemoveNode, Ns: 5}}},
					Tokens: []*history.Token{
						tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseNodeChange].Count != 1 {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// A restart BEFORE the issue cannot have lost the token: the
			// miss stays a violation.
			"restart before the issue explains nothing", func() *history.Run {
				k := tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))
				k.IssueCall = 6
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedRestart, Ns: 5}}}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if r.FalseReject.Count != 1 || len(r.ExplainedRejects) != 0 || r.OK() {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// A fault whose injection failed explains nothing either.
			"failed injection explains nothing", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedFlush, Ns: 5, Err: "connection refused"}}}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"))}}
			}, func(t *testing.T, r Result) {
				if r.FalseReject.Count != 1 || len(r.ExplainedRejects) != 0 {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// The server reported evictions during the run: a missing token
			// is attributed to eviction.
			"explained by evictions", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS,
					Faults: []history.Fault{{Kind: plan.RecordedEvictions, Ns: 99, Note: "7 items evicted"}}}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseTokenEvicted].Count != 1 {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// A miss after the virtual clock passed the token TTL: the
			// embedded memcached dropped the expired item.
			"miss after the TTL elapsed", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS, Clock: "virtual",
					Faults: []history.Fault{{Kind: plan.RecordedTokenTTLElapsed, Ns: 25}}}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseTokenTTL].Count != 1 {
					t.Fatalf("%s %v", r.String(), r.ExplainedRejects)
				}
			},
		},
		{
			// Every attempt failed closed during a pause and the retries ran
			// out: memcached was unavailable.
			"pause outlasted the retries", func() *history.Run {
				var ds []history.Decision
				for i := range 3 {
					d := dec(int64(30+i), rej, onetime.ReasonInfrastructure, "01", "aa")
					d.Retryable = true
					ds = append(ds, d)
				}
				k := tok("k", ds...)
				k.Uploads, k.Deliveries = k.Uploads[:1], k.Deliveries[:1]
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete, RetriesExhausted: 1,
					Faults: []history.Fault{{Kind: plan.FaultMemcachedPause, Ns: 5}}}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseMemcachedUnavailable+plan.FaultMemcachedPause].Count != 1 || r.Counts.Rejected != 0 {
					t.Fatalf("%s %v %+v", r.String(), r.ExplainedRejects, r.Counts)
				}
			},
		},
		{
			// An event later than the token TTL: explained.
			"explained by the token TTL", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{
					tok("k", dec(30, rej, onetime.ReasonTokenExpired, "01", "aa"), dec(31, rej, onetime.ReasonTokenExpired, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.ExplainedRejects[CauseTokenTTL].Count != 1 {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// The first upload timed out and nothing was accepted: unknown,
			// not a false reject.
			"unknown", func() *history.Run {
				k := tok("k")
				k.Uploads = []history.Upload{{Sent: 10, Returned: 60, Err: "context deadline exceeded"}}
				k.Deliveries = nil
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.Unknown.Count != 1 || r.FalseReject.Count != 0 {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// An accept of a write S3 completed after the URL expired.
			"late accept", func() *history.Run {
				d := dec(30, acc, onetime.ReasonFirstUse, "01", "aa")
				d.EventTime = expires.Add(time.Second)
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{tok("k", d)}}
			}, func(t *testing.T, r Result) {
				if r.LateAccept.Count != 1 || r.OK() {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// accepted/<name> holds the second upload's bytes.
			"wrong bytes", func() *history.Run {
				k := tok("k", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(31, rej, onetime.ReasonTokenConsumed, "02", "bb"))
				k.Uploads[1].BodyMD5 = "bb"
				k.AcceptedETag = "bb"
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if r.WrongBytes.Count != 1 || r.OK() {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// A decision for a key nobody issued: the checker's assumption
			// fails, so the run is not OK even without violations.
			"assumption: unissued key", func() *history.Run {
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS},
					OrphanDecision: []history.Decision{dec(30, acc, onetime.ReasonFirstUse, "01", "aa")}, OrphanKeys: []string{"ghost"}}
			}, func(t *testing.T, r Result) {
				if r.OK() || r.Assumptions[AssumeDecisionKeyIssued].Count != 1 || r.Violations() != 0 {
					t.Fatalf("%s %v", r.String(), r.Assumptions)
				}
			},
		},
		{
			// A late upload that S3 answered 2xx.
			"assumption: late upload refused", func() *history.Run {
				k := tok("k", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"))
				k.Uploads[1].Late = true
				return &history.Run{Meta: history.Meta{Strategy: onetime.CAS}, Tokens: []*history.Token{k}}
			}, func(t *testing.T, r Result) {
				if r.OK() || r.Assumptions[AssumeLateRefused].Count != 1 {
					t.Fatalf("%s", r.String())
				}
			},
		},
		{
			// A fail-closed infrastructure rejection followed by the retry's
			// accept: linearizable (the unknown claim may not have happened).
			"retryable then accepted", func() *history.Run {
				d := dec(30, rej, onetime.ReasonInfrastructure, "01", "aa")
				d.Retryable = true
				return &history.Run{Meta: history.Meta{Strategy: onetime.Delete}, Tokens: []*history.Token{
					tok("k", d, dec(40, acc, onetime.ReasonFirstUse, "01", "aa"), dec(41, rej, onetime.ReasonTokenConsumed, "02", "aa"))}}
			}, func(t *testing.T, r Result) {
				if !r.OK() || r.Linearizable != Linearizable || r.Counts.Rejected != 1 {
					t.Fatalf("%s %+v", r.String(), r.Counts)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, Check(tc.run())) })
	}
}

// TestCheckerWaitsForRunFacts: a Checker judges healthy tokens as they
// come, and the tokens whose verdict depends on the end of the run (faults
// and evictions recorded after them) with the meta given to Finish, as
// Check does.
func TestCheckerWaitsForRunFacts(t *testing.T) {
	missing := func(key string) *history.Token {
		return tok(key, dec(30, rej, onetime.ReasonTokenMissing, "01", "aa"), dec(31, rej, onetime.ReasonTokenMissing, "02", "aa"))
	}
	healthy := tok("ok", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(31, rej, onetime.ReasonTokenConsumed, "02", "aa"))
	for _, tc := range []struct {
		name   string
		faults []history.Fault
		// want: false rejects, explained by eviction, linearizability
		falseRejects, evicted int
		lin                   string
	}{
		// Without a cause, a token gone before any winner is a false
		// reject, and under a memcached strategy not linearizable.
		{"no cause", nil, 1, 0, NotLinearizable},
		// Evictions are recorded after the run: the same token is then
		// explained, and the model allows a token to vanish.
		{"evictions recorded at the end", []history.Fault{{Kind: plan.RecordedEvictions, Ns: 99}}, 0, 1, Linearizable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker()
			c.Add(healthy)
			c.Add(missing("gone"))
			h := &history.Run{Meta: history.Meta{Strategy: onetime.CAS, Faults: tc.faults}}
			r := c.Finish(h)
			evicted := 0
			if p := r.ExplainedRejects[CauseTokenEvicted]; p != nil {
				evicted = p.Count
			}
			if r.FalseReject.Count != tc.falseRejects || evicted != tc.evicted || r.Linearizable != tc.lin || r.Counts.Tokens != 2 {
				t.Fatalf("%s explained %v counts %+v", r.String(), r.ExplainedRejects, r.Counts)
			}
			h.Tokens = []*history.Token{healthy, missing("gone")}
			if all := Check(h); all.String() != r.String() || all.Counts != r.Counts {
				t.Fatalf("Check %s, Checker %s", all.String(), r.String())
			}
		})
	}
}

// TestTTLPerToken: on the virtual clock a miss is put down to the token TTL
// by the run clock of the decision against the token's own issue, so that
// in a run of windows a later window's miss is not excused by an earlier
// window's TTL.
func TestTTLPerToken(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := 15 * time.Minute
	miss := func(key string, issue time.Time, decidedAfter time.Duration) *history.Token {
		d := dec(30, rej, onetime.ReasonTokenMissing, "01", "aa")
		d.Time = issue.Add(decidedAfter)
		k := tok(key, d)
		k.Issued = issue
		return k
	}
	h := &history.Run{Meta: history.Meta{Strategy: onetime.CAS, Clock: "virtual", TokenTTL: ttl,
		// an earlier window's TTL elapsed before both misses
		Faults: []history.Fault{{Kind: plan.RecordedTokenTTLElapsed, Ns: 1}}},
		Tokens: []*history.Token{miss("expired", issued, ttl), miss("lost", issued.Add(time.Hour), time.Minute)}}
	r := Check(h)
	if p := r.ExplainedRejects[CauseTokenTTL]; p == nil || p.Count != 1 || p.Examples[0] != "expired" ||
		r.FalseReject.Count != 1 || r.FalseReject.Examples[0] != "lost" {
		t.Fatalf("%s explained %v false rejects %v", r.String(), r.ExplainedRejects, r.FalseReject.Examples)
	}
}

// TestLateOrphan: a decision for a key whose token was already judged is a
// failed assumption of its own, not a decision for an unissued key.
func TestLateOrphan(t *testing.T) {
	h := &history.Run{Meta: history.Meta{Strategy: onetime.CAS},
		OrphanDecision: []history.Decision{dec(40, rej, onetime.ReasonTokenConsumed, "03", "aa"), dec(41, acc, onetime.ReasonFirstUse, "04", "bb")},
		OrphanKeys:     []string{"judged", "never-issued"}, OrphanLate: []bool{true, false}}
	r := Check(h)
	late, unissued := r.Assumptions[AssumeDecisionAfterFinal], r.Assumptions[AssumeDecisionKeyIssued]
	if late == nil || late.Examples[0] != "judged" || unissued == nil || unissued.Examples[0] != "never-issued" || r.OK() {
		t.Fatalf("assumptions %v", r.Assumptions)
	}
}

// TestInconclusive: coverage is judged before safety. A run whose issue
// calls or uploads mostly failed, or in which no URL got a decidable
// outcome, is inconclusive whatever its violations say.
func TestInconclusive(t *testing.T) {
	issued := func(key string, status int, err string) *history.Token {
		return &history.Token{Key: key, Uploads: []history.Upload{{Status: status, Err: err, Sent: 1, Returned: 2}}}
	}
	failed := func(err string) *history.Token { return &history.Token{IssueErr: err} }
	for _, tc := range []struct {
		name   string
		tokens []*history.Token
		want   string // substring of the reason; "" for conclusive
	}{
		{"every issue failed", []*history.Token{failed("HTTP 502: paused"), failed("HTTP 502: paused")}, "2 of 2 issue calls failed (first: HTTP 502: paused)"},
		{"one in a hundred may fail", append(make100(func(i int) *history.Token { return issued(fmt.Sprint("k", i), 204, "") }), failed("x")), ""},
		{"two in a hundred may not", append(make100(func(i int) *history.Token { return issued(fmt.Sprint("k", i), 204, "") }), failed("x"), failed("y")), "2 of 102 issue calls failed"},
		{"uploads without answers", []*history.Token{issued("a", 0, "timeout"), issued("b", 204, "")}, "1 of 2 uploads got no answer (first: timeout)"},
		{"nothing issued", nil, "no URL was issued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &history.Run{Tokens: tc.tokens}
			r := Check(h)
			got := r.Inconclusive(plan.DefaultMaxErrorRate)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("Inconclusive = %q, want %q", got, tc.want)
			}
		})
	}
}

func make100(f func(i int) *history.Token) []*history.Token {
	out := make([]*history.Token, 100)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// TestThrottledIsNoViolation: an issue call a usage plan refused (429) is
// counted apart: not a token, not an issue error, not unknown. A run of
// accepted events stays ok.
func TestThrottledIsNoViolation(t *testing.T) {
	h := &history.Run{Tokens: []*history.Token{
		tok("uploads/a", dec(30, acc, onetime.ReasonFirstUse, "01", "aa"), dec(31, rej, onetime.ReasonTokenConsumed, "02", "aa")),
		{IssueErr: "HTTP 429: Too Many Requests", Throttled: true},
	}}
	r := Check(h)
	if r.Counts.Throttled != 1 || r.Counts.Tokens != 1 || r.Counts.IssueErrors != 0 || r.Unknown.Count != 0 || !r.OK() {
		t.Errorf("counts %+v, unknown %d, ok %v; want 1 throttled apart from 1 token, ok", r.Counts, r.Unknown.Count, r.OK())
	}
}

// TestEventsUnseen: a ground truth that shows accepts only (accepted
// versions) proves nothing by a 2xx upload without an event.
func TestEventsUnseen(t *testing.T) {
	owed := &history.Token{Key: "uploads/a", IssueCall: 1, IssueReturn: 2, Expires: expires, Uploads: []history.Upload{up(10, "aa")}}
	for _, unseen := range []bool{false, true} {
		h := &history.Run{Tokens: []*history.Token{owed}, Meta: history.Meta{GroundTruth: &history.GroundTruth{EventsUnseen: unseen}}}
		r := Check(h)
		if _, failed := r.Assumptions[AssumeEventPerUpload]; failed == unseen {
			t.Errorf("events unseen %v: assumptions %v", unseen, r.Assumptions)
		}
	}
}
