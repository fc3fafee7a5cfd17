package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Verdicts. Only VerdictOK is ok; the CLI exits 0 for it, 1 for
// VerdictFailed and VerdictInconclusive, 3 for VerdictPartial.
const (
	VerdictOK = "ok"
	// VerdictFailed: an invariant was violated, the checker's own
	// assumptions failed, or an injected fault never fired.
	VerdictFailed = "failed"
	// VerdictInconclusive: the run tested too little to be judged.
	VerdictInconclusive = "inconclusive"
	// VerdictPartial: the run was interrupted; nothing is claimed.
	VerdictPartial = "partial"
)

// FaultReport is one injected fault as the run saw it.
type FaultReport struct {
	Kind string `json:"kind"`
	// At is the planned offset from the start of the run.
	At string `json:"at"`
	// Fired says whether it was injected; FiredAtS when, in seconds of the
	// run's monotonic clock.
	Fired    bool    `json:"fired"`
	FiredAtS float64 `json:"fired_at_s,omitempty"`
	Provider string  `json:"provider"`
	// Effect says what it did (tokens dropped, for how long), or why it
	// did not fire.
	Effect string `json:"effect"`
	// Ended says how a fault with a duration ended.
	Ended string `json:"ended,omitempty"`
	// NotApplicable is set when the stack has nothing the fault acts on (a
	// strategy that keeps no tokens in memcached): not a failure.
	NotApplicable bool `json:"not_applicable,omitempty"`
}

// faultReports pairs each planned fault with what the history recorded.
func faultReports(planned []plan.Fault, recorded []history.Fault, provider string) []FaultReport {
	out := make([]FaultReport, 0, len(planned))
	used := make([]bool, len(recorded))
	find := func(kind string, at fmt.Stringer, after int) int {
		for i := after; i < len(recorded); i++ {
			if !used[i] && recorded[i].Kind == kind && recorded[i].At.String() == at.String() {
				used[i] = true
				return i
			}
		}
		return -1
	}
	for _, f := range planned {
		fr := FaultReport{Kind: f.Kind, At: f.At.String(), Provider: provider}
		i := find(f.Kind, f.At, 0)
		switch {
		case i < 0:
			fr.Effect = "never fired: the run ended before its offset " + f.At.String()
		case recorded[i].Skipped:
			fr.NotApplicable, fr.Effect = true, recorded[i].Err
		case recorded[i].Err != "":
			fr.Effect = "injection failed: " + recorded[i].Err
		default:
			fr.Fired, fr.Effect = true, recorded[i].Note
			fr.FiredAtS = float64(recorded[i].Ns) / 1e9
		}
		if end, ok := f.Ends(); ok && fr.Fired {
			if j := find(plan.RecordedFaultEnd, end, 0); j >= 0 {
				fr.Ended = recorded[j].Note
			}
		}
		out = append(out, fr)
	}
	return out
}

// judge sets the verdict and its headline: an interrupted run claims
// nothing; then coverage is judged before safety; then every injected
// fault must have fired; then the invariants.
func (r *Report) judge(c check.Result, maxErrorRate float64, partial bool) {
	switch {
	case partial:
		r.Verdict = VerdictPartial
		r.Headline = fmt.Sprintf("PARTIAL: the run was interrupted after %d of %d planned uploads; no verdict is claimed",
			r.Counts.Uploads, r.Plan.Uploads())
		if v := r.violationList(); v != "" {
			r.Headline += " (seen before the cut: " + v + ")"
		}
	case c.Inconclusive(maxErrorRate) != "":
		r.Verdict = VerdictInconclusive
		r.Headline = "INCONCLUSIVE: " + c.Inconclusive(maxErrorRate) + r.faultsInForce()
	case r.unfired() != "":
		r.Verdict = VerdictFailed
		r.Headline = "FAILED: " + r.unfired() + ": the run did not exercise what it planned"
	case !c.OK():
		r.Verdict = VerdictFailed
		r.Headline = fmt.Sprintf("FAILED: %s did not hold the one-time invariants: %s", r.Strategy, r.violationList())
	case r.undecided() != "":
		r.Verdict = VerdictInconclusive
		r.Headline = "INCONCLUSIVE: " + r.undecided()
	default:
		r.Verdict = VerdictOK
		r.Headline = fmt.Sprintf("OK: the one-time invariants held over %d URLs and %d uploads", r.Counts.Tokens, r.Counts.Uploads)
	}
	r.OK = r.Verdict == VerdictOK
}

// violationList names the non-zero violations and failed assumptions.
func (r *Report) violationList() string {
	var parts []string
	for _, v := range []struct {
		name string
		n    int
	}{{"double_accept", r.Violations.DoubleAccept}, {"false_reject", r.Violations.FalseReject},
		{"late_accept", r.Violations.LateAccept}, {"wrong_bytes", r.Violations.WrongBytes}, {"lost_urls", r.owedLost()}} {
		if v.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v.name, v.n))
		}
	}
	if r.Linearizable == check.NotLinearizable {
		parts = append(parts, "not linearizable")
	}
	keys := make([]string, 0, len(r.Assumptions))
	for k := range r.Assumptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("assumption %s failed %d times", k, r.Assumptions[k]))
	}
	return strings.Join(parts, ", ")
}

// owedLost is the lost URLs that are a violation: those of a strategy that
// owes liveness.
func (r *Report) owedLost() int {
	if !r.LivenessOwed {
		return 0
	}
	return r.Violations.LostURLs
}

// unfired names the first planned fault that should have fired and did
// not, or "".
func (r *Report) unfired() string {
	for _, f := range r.Faults {
		if !f.Fired && !f.NotApplicable {
			return fmt.Sprintf("fault %s@%s %s", f.Kind, f.At, f.Effect)
		}
	}
	return ""
}

// faultsInForce names the faults that fired, for an inconclusive headline.
func (r *Report) faultsInForce() string {
	var parts []string
	for _, f := range r.Faults {
		if f.Fired {
			parts = append(parts, f.Kind+"@"+f.At)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; faults injected: " + strings.Join(parts, ", ")
}
