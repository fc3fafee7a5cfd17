package check_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// verdict is what the oracle and the checker say about one history, in the
// properties the oracle judges.
type verdict struct {
	DoubleAccept, FalseReject, LateAccept, WrongBytes, Unknown int
	Overwritten, AcceptedObjectMissing                         int
	Accepted, Rejected                                         int
}

// oracle judges h by brute force, from the package's documented
// properties, without the checker's per-token code: every pair of accepts,
// every upload against every other for "first", every body for the bytes.
// It knows only histories from randomHistory: no faults, no cut-short run.
func oracle(h *history.Run) verdict {
	var v verdict
	for _, t := range h.Tokens {
		if t.IssueErr != "" {
			v.Unknown++ // an issue that failed: the outcome is unknown
			continue
		}
		var accepts []history.Decision
		for _, d := range t.Decisions {
			switch {
			case d.Decision == onetime.Accepted:
				accepts = append(accepts, d)
			case !d.Retryable:
				v.Rejected++
			}
		}
		// Distinct accepted uploads: an upload counts once however many
		// times it was accepted.
		for i, a := range accepts {
			seen := false
			for _, b := range accepts[:i] {
				seen = seen || uploadOf(a) == uploadOf(b)
			}
			if !seen {
				v.Accepted++
			}
		}
		// 1. double accept: some two accepts name different uploads.
		double := false
		for _, a := range accepts {
			for _, b := range accepts {
				double = double || uploadOf(a) != uploadOf(b)
			}
		}
		if double {
			v.DoubleAccept++
		}
		// 3. late accept: an accepted write finished at or after expiry.
		late := false
		for _, a := range accepts {
			late = late || a.EventTime.Compare(t.Expires) >= 0
		}
		if late {
			v.LateAccept++
		}
		if len(accepts) > 0 {
			// 4. wrong bytes: accepted/ holds other bytes than the earliest
			// accept announced, or bytes no 2xx upload sent.
			earliest := accepts[0]
			for _, a := range accepts {
				if a.At < earliest.At {
					earliest = a
				}
			}
			sent := false
			anyOK := false
			for _, u := range t.Uploads {
				if u.Err == "" && u.Status/100 == 2 {
					anyOK = true
					sent = sent || u.BodyMD5 == t.AcceptedETag
				}
			}
			switch {
			case t.AcceptedETag == "":
				v.AcceptedObjectMissing++
			case t.AcceptedETag != earliest.ETag || (anyOK && !sent):
				v.WrongBytes++
			}
			continue
		}
		// 2. false reject: nothing accepted, yet the first upload sent in
		// time got 2xx, and nothing explains it.
		var first *history.Upload
		for i := range t.Uploads {
			u := &t.Uploads[i]
			if u.Late {
				continue
			}
			isFirst := true
			for _, o := range t.Uploads {
				if !o.Late && o.Sent < u.Sent {
					isFirst = false
				}
			}
			if isFirst {
				first = u
			}
		}
		if first == nil || (first.Err == "" && first.Status/100 != 2) {
			continue // nothing owed
		}
		anyErr := false
		for _, u := range t.Uploads {
			anyErr = anyErr || u.Err != ""
		}
		overwritten := false
		for _, d := range t.Decisions {
			overwritten = overwritten || d.Reason == onetime.ReasonOverwritten
		}
		switch {
		case first.Err != "":
			v.Unknown++
		case overwritten:
			v.Overwritten++
		case anyErr:
			v.Unknown++
		default:
			v.FalseReject++
		}
	}
	return v
}

func uploadOf(d history.Decision) string {
	if d.VersionID != "" {
		return "v:" + d.VersionID
	}
	return "s:" + d.Sequencer
}

// randomHistory is a small run of 1 to 4 tokens with up to 3 uploads each,
// their events delivered once or twice, and decisions drawn at random
// (including impossible ones: two accepts, late accepts, wrong bytes).
func randomHistory(r *rand.Rand) *history.Run {
	base := time.Unix(1_700_000_000, 0).UTC()
	h := &history.Run{Meta: history.Meta{Strategy: "cas", Clock: "virtual"}}
	versioned := r.IntN(4) == 0
	for ti := range 1 + r.IntN(4) {
		t := &history.Token{Key: fmt.Sprintf("uploads/t%d", ti), IssueCall: 1, IssueReturn: 2,
			Issued: base, Expires: base.Add(30 * time.Second)}
		h.Tokens = append(h.Tokens, t)
		if r.IntN(12) == 0 {
			t.IssueErr = "connection refused"
			continue
		}
		var ns int64 = 10
		for ui := range 1 + r.IntN(3) {
			// Distinct send times, in any order of index.
			u := history.Upload{Index: ui, Sent: 10 + int64(r.IntN(50))*10 + int64(ui), BodyMD5: fmt.Sprintf("md5-%d", r.IntN(3))}
			u.Returned = u.Sent + 5
			switch x := r.IntN(10); {
			case x == 0:
				u.Late, u.Status, u.S3Code = true, 403, "AccessDenied"
			case x == 1:
				u.Err = "timeout"
			case x == 2:
				u.Status, u.S3Code = 403, "SignatureDoesNotMatch"
			default:
				u.Status = 204
			}
			t.Uploads = append(t.Uploads, u)
			if u.Status != 204 && !(u.Err != "" && r.IntN(2) == 0) {
				continue // no event, except sometimes for a write whose answer was lost
			}
			seq := fmt.Sprintf("%016X", ti*10+ui+1)
			ver := ""
			if versioned {
				ver = fmt.Sprintf("v%d-%d", ti, ui)
			}
			for range 1 + r.IntN(2) {
				ns += 10
				t.Deliveries = append(t.Deliveries, history.Delivery{At: ns, Sequencer: seq, ETag: u.BodyMD5, VersionID: ver})
			}
		}
		for _, dl := range t.Deliveries {
			if r.IntN(6) == 0 {
				continue // not decided
			}
			ns += 10
			d := history.Decision{At: ns + 1000, ETag: dl.ETag, VersionID: dl.VersionID, Sequencer: dl.Sequencer,
				EventTime: base.Add(time.Duration(r.IntN(32)) * time.Second)}
			switch x := r.IntN(8); {
			case x < 3:
				d.Decision, d.Reason = onetime.Accepted, onetime.ReasonFirstUse
			case x == 3:
				d.Decision, d.Reason, d.Retryable = onetime.Rejected, onetime.ReasonInfrastructure, true
			case x == 4:
				d.Decision, d.Reason = onetime.Rejected, onetime.ReasonOverwritten
			default:
				d.Decision, d.Reason = onetime.Rejected, onetime.ReasonTokenConsumed
			}
			t.Decisions = append(t.Decisions, d)
		}
		for _, d := range t.Decisions {
			if d.Decision == onetime.Accepted {
				switch x := r.IntN(8); {
				case x == 0:
					t.AcceptedETag = fmt.Sprintf("md5-%d", r.IntN(4)) // perhaps other bytes
				case x == 1:
					t.AcceptedETag = "" // the copy is missing
				default:
					t.AcceptedETag = d.ETag
				}
				break
			}
		}
	}
	return h
}

// TestCheckAgainstOracle: Check and a brute-force oracle agree on
// thousands of small random histories. The oracle shares no code with the
// checker's per-token judgement, so a bug there cannot agree with itself.
func TestCheckAgainstOracle(t *testing.T) {
	const histories = 3000
	seen := verdict{}
	for seed := range uint64(histories) {
		h := randomHistory(rand.New(rand.NewPCG(seed, 19)))
		res := check.Check(h)
		got := verdict{
			DoubleAccept: res.DoubleAccept.Count, FalseReject: res.FalseReject.Count, LateAccept: res.LateAccept.Count,
			WrongBytes: res.WrongBytes.Count, Unknown: res.Unknown.Count,
			Accepted: res.Counts.Accepted, Rejected: res.Counts.Rejected,
		}
		if p := res.ExplainedRejects[check.CauseOverwritten]; p != nil {
			got.Overwritten = p.Count
		}
		if p := res.Assumptions[check.AssumeAcceptedObjectHead]; p != nil {
			got.AcceptedObjectMissing = p.Count
		}
		want := oracle(h)
		if got != want {
			var b []byte
			for _, tok := range h.Tokens {
				j, _ := json.Marshal(tok)
				b = append(append(b, j...), '\n')
			}
			t.Fatalf("seed %d: checker %+v\noracle  %+v\nhistory:\n%s", seed, got, want, b)
		}
		seen.DoubleAccept += want.DoubleAccept
		seen.FalseReject += want.FalseReject
		seen.LateAccept += want.LateAccept
		seen.WrongBytes += want.WrongBytes
		seen.Unknown += want.Unknown
		seen.Overwritten += want.Overwritten
		seen.AcceptedObjectMissing += want.AcceptedObjectMissing
	}
	// The generator must reach every verdict, or the agreement means little.
	if seen.DoubleAccept == 0 || seen.FalseReject == 0 || seen.LateAccept == 0 || seen.WrongBytes == 0 ||
		seen.Unknown == 0 || seen.Overwritten == 0 || seen.AcceptedObjectMissing == 0 {
		t.Fatalf("verdicts reached over %d histories: %+v; want each at least once", histories, seen)
	}
	t.Logf("verdicts over %d histories: %+v", histories, seen)
}
