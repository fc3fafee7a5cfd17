package expect

import (
	"slices"
	"sort"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Observed is what a run produced, in the terms expectations use.
type Observed struct {
	Tokens []TokenObserved
	// Violations counts each kind in ViolationKinds.
	Violations map[string]int
	// Totals over the run.
	Total TokenObserved
	// TokenCount and UploadCount are the tokens issued and uploads sent.
	TokenCount, UploadCount int
	// Assumptions are the checker's own assumptions that failed, with a
	// count each; a failed assumption makes every verdict doubtful.
	Assumptions map[string]int
	// Partial is set when the run was cut short (timeout or signal).
	Partial bool
	// Explained counts URLs owed an accept that got none, by the cause the
	// checker attributed; Reasons counts final rejections by reason.
	Explained map[string]int
	Reasons   map[string]int
	// FailClosed counts fail-closed (retryable) rejections; Unknown the
	// URLs whose outcome the client could not see.
	FailClosed, Unknown int
}

// ExplainedCauses lists the causes an explained reject can have.
func ExplainedCauses() []string {
	return []string{
		check.CauseTokenLost + plan.FaultMemcachedRestart,
		check.CauseTokenLost + plan.FaultMemcachedFlush,
		check.CauseNodeChange,
		check.CauseTokenEvicted,
		check.CauseTokenTTL,
		check.CauseMemcachedUnavailable + plan.FaultMemcachedPause,
		check.CauseMemcachedUnavailable + plan.FaultMemcachedLatency,
		check.CauseMemcachedUnavailable + plan.FaultMemcachedConnLimit,
		check.CauseRetriesExhausted,
		check.CauseEventDropped,
		check.CauseOverwritten,
	}
}

// KnownCause reports whether c is one of ExplainedCauses.
func KnownCause(c string) bool { return slices.Contains(ExplainedCauses(), c) }

// RejectReasons lists the verifier reasons a final rejection can carry.
func RejectReasons() []string {
	return []string{string(onetime.ReasonTokenMissing), string(onetime.ReasonTokenConsumed), string(onetime.ReasonTokenExpired),
		string(onetime.ReasonNotOldestVersion), string(onetime.ReasonConditionalWrite), string(onetime.ReasonInfrastructure),
		string(onetime.ReasonOverwritten), string(onetime.ReasonClaimReleased), string(onetime.ReasonNotAnUpload)}
}

// TokenObserved is one token's outcome.
type TokenObserved struct {
	Key   string
	Group string
	// Statuses are the S3 statuses of its uploads in plan order; 0 is no
	// answer (a transport error or an upload never sent).
	Statuses []int
	// Accepted counts distinct uploads accepted; Rejected counts final
	// rejections; Events counts event deliveries to the verifier.
	Accepted, Rejected, Events int
}

// Observe reads a run's history and the checker's verdict on it.
func Observe(h *history.Run, r *check.Result) Observed {
	o := Observed{Violations: map[string]int{
		DoubleAccept: r.DoubleAccept.Count,
		FalseReject:  r.FalseReject.Count,
		LateAccept:   r.LateAccept.Count,
		WrongBytes:   r.WrongBytes.Count,
		LostURLs:     r.LostURLs.Count,
	}, Assumptions: map[string]int{}, Explained: map[string]int{}, Reasons: map[string]int{}}
	for cause, p := range r.ExplainedRejects {
		if p != nil {
			o.Explained[cause] = p.Count
		}
	}
	o.Unknown = r.Unknown.Count
	for name, p := range r.Assumptions {
		if p != nil {
			o.Assumptions[name] = p.Count
		}
	}
	o.TokenCount, o.UploadCount = r.Counts.Tokens, r.Counts.Uploads
	o.Total = TokenObserved{Accepted: r.Counts.Accepted, Rejected: r.Counts.Rejected, Events: r.Counts.Deliveries}
	for _, t := range h.Tokens {
		to := TokenObserved{Key: t.Key, Group: t.Group, Events: len(t.Deliveries)}
		ups := slices.Clone(t.Uploads)
		sort.SliceStable(ups, func(i, j int) bool { return ups[i].Index < ups[j].Index })
		for _, u := range ups {
			to.Statuses = append(to.Statuses, u.Status)
		}
		accepted := map[string]bool{}
		for _, d := range t.Decisions {
			switch {
			case d.Accepted():
				accepted[d.ID()] = true
			case !d.Retryable:
				to.Rejected++
				o.Reasons[string(d.Reason)]++
			default:
				o.FailClosed++
			}
		}
		to.Accepted = len(accepted)
		o.Tokens = append(o.Tokens, to)
	}
	return o
}
