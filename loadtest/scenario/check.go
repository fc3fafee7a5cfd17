package scenario

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

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

func knownCause(c string) bool { return slices.Contains(ExplainedCauses(), c) }

// rejectReasons lists the verifier reasons a final rejection can carry.
func rejectReasons() []string {
	return []string{string(onetime.ReasonTokenMissing), string(onetime.ReasonTokenConsumed), string(onetime.ReasonTokenExpired),
		string(onetime.ReasonNotOldestVersion), string(onetime.ReasonConditionalWrite), string(onetime.ReasonInfrastructure),
		string(onetime.ReasonOverwritten), string(onetime.ReasonNotAnUpload)}
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

// Outcome is one expectation judged.
type Outcome struct {
	Expectation string // e.g. "group twice: accepted per token"
	OK          bool
	Got         string
	Want        string
}

func (o Outcome) String() string {
	verdict := "PASS"
	if !o.OK {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s  %s: got %s, want %s", verdict, o.Expectation, o.Got, o.Want)
}

// Expectations returns the expectations that apply to strategy: the
// common ones with the strategy's overrides laid over them field by field.
func (s *Scenario) Expectations(strategy string) Expectations {
	base := s.Expect.Expectations
	over, ok := s.Expect.Strategies[strategy]
	e := Expectations{Groups: map[string]GroupExpect{}, Totals: base.Totals, Violations: map[string]Cmp{},
		Explained: map[string]Cmp{}, Reasons: map[string]Cmp{}}
	maps.Copy(e.Groups, base.Groups)
	maps.Copy(e.Explained, base.Explained)
	maps.Copy(e.Reasons, base.Reasons)
	for _, k := range ViolationKinds() {
		e.Violations[k] = Exactly(0)
	}
	maps.Copy(e.Violations, base.Violations)
	if !ok {
		return e
	}
	for name, g := range over.Groups {
		merged := e.Groups[name]
		if g.Statuses != nil {
			merged.Statuses = g.Statuses
		}
		merged.Accepted = cmp.Or(g.Accepted, merged.Accepted)
		merged.Rejected = cmp.Or(g.Rejected, merged.Rejected)
		merged.Events = cmp.Or(g.Events, merged.Events)
		e.Groups[name] = merged
	}
	t := &e.Totals
	t.Tokens = cmp.Or(over.Totals.Tokens, t.Tokens)
	t.Uploads = cmp.Or(over.Totals.Uploads, t.Uploads)
	t.Accepted = cmp.Or(over.Totals.Accepted, t.Accepted)
	t.Rejected = cmp.Or(over.Totals.Rejected, t.Rejected)
	t.Events = cmp.Or(over.Totals.Events, t.Events)
	t.FailClosed = cmp.Or(over.Totals.FailClosed, t.FailClosed)
	t.Unknown = cmp.Or(over.Totals.Unknown, t.Unknown)
	maps.Copy(e.Violations, over.Violations)
	maps.Copy(e.Explained, over.Explained)
	maps.Copy(e.Reasons, over.Reasons)
	return e
}

// Check judges what a run of strategy observed against the expectations,
// in file order: groups, totals, violations, then the checker's own
// assumptions (which must always hold).
func (s *Scenario) Check(strategy string, o Observed) []Outcome {
	e := s.Expectations(strategy)
	var out []Outcome
	byGroup := map[string][]TokenObserved{}
	for _, t := range o.Tokens {
		byGroup[t.Group] = append(byGroup[t.Group], t)
	}
	for _, g := range s.Groups {
		ge, ok := e.Groups[g.Name]
		if !ok {
			continue
		}
		toks := byGroup[g.Name]
		prefix := "group " + g.Name + ": "
		out = append(out, Outcome{Expectation: prefix + "tokens", OK: len(toks) == g.TokenCount(),
			Got: fmt.Sprint(len(toks)), Want: fmt.Sprint(g.TokenCount())})
		if ge.Statuses != nil {
			out = append(out, perToken(prefix+"statuses per token", toks, cmpsString(ge.Statuses), func(t TokenObserved) (bool, string) {
				return statusesHold(ge.Statuses, t.Statuses), fmt.Sprint(t.Statuses)
			}))
		}
		for _, c := range []struct {
			name string
			want *Cmp
			get  func(TokenObserved) int
		}{
			{"accepted", ge.Accepted, func(t TokenObserved) int { return t.Accepted }},
			{"rejected", ge.Rejected, func(t TokenObserved) int { return t.Rejected }},
			{"events", ge.Events, func(t TokenObserved) int { return t.Events }},
		} {
			if c.want == nil {
				continue
			}
			want := *c.want
			out = append(out, perToken(prefix+c.name+" per token", toks, want.String(), func(t TokenObserved) (bool, string) {
				n := c.get(t)
				return want.Holds(n), fmt.Sprint(n)
			}))
		}
	}
	for _, c := range []struct {
		name string
		want *Cmp
		got  int
	}{
		{"tokens", e.Totals.Tokens, o.TokenCount},
		{"uploads", e.Totals.Uploads, o.UploadCount},
		{"accepted", e.Totals.Accepted, o.Total.Accepted},
		{"rejected", e.Totals.Rejected, o.Total.Rejected},
		{"events", e.Totals.Events, o.Total.Events},
		{"fail_closed", e.Totals.FailClosed, o.FailClosed},
		{"unknown", e.Totals.Unknown, o.Unknown},
	} {
		if c.want != nil {
			out = append(out, Outcome{Expectation: "total " + c.name, OK: c.want.Holds(c.got), Got: fmt.Sprint(c.got), Want: c.want.String()})
		}
	}
	for _, k := range ViolationKinds() {
		want := e.Violations[k]
		got := o.Violations[k]
		out = append(out, Outcome{Expectation: "violations " + k, OK: want.Holds(got), Got: fmt.Sprint(got), Want: want.String()})
	}
	for _, k := range slices.Sorted(maps.Keys(e.Reasons)) {
		want, got := e.Reasons[k], o.Reasons[k]
		out = append(out, Outcome{Expectation: "rejected by reason " + k, OK: want.Holds(got), Got: fmt.Sprint(got), Want: want.String()})
	}
	for _, k := range slices.Sorted(maps.Keys(e.Explained)) {
		want, got := e.Explained[k], o.Explained[k]
		out = append(out, Outcome{Expectation: "explained rejects " + k, OK: want.Holds(got), Got: fmt.Sprint(got), Want: want.String()})
	}
	failed := slices.Sorted(maps.Keys(o.Assumptions))
	got := "none failed"
	if len(failed) > 0 {
		parts := make([]string, len(failed))
		for i, name := range failed {
			parts[i] = fmt.Sprintf("%s x%d", name, o.Assumptions[name])
		}
		got = strings.Join(parts, ", ")
	}
	out = append(out, Outcome{Expectation: "checker assumptions", OK: len(failed) == 0, Got: got, Want: "none failed"})
	if o.Partial {
		out = append(out, Outcome{Expectation: "run", OK: false, Got: "cut short (timeout or signal)", Want: "complete"})
	}
	return out
}

// perToken judges one expectation over every token of a group: it holds
// when it holds for each token. got summarises the values seen.
func perToken(name string, toks []TokenObserved, want string, judge func(TokenObserved) (bool, string)) Outcome {
	type seen struct {
		n     int
		first string // first key with this value
	}
	values := map[string]*seen{}
	var order []string
	bad := 0
	var firstBad string
	for _, t := range toks {
		ok, v := judge(t)
		if !ok {
			bad++
			if firstBad == "" {
				firstBad = t.Key
			}
		}
		if values[v] == nil {
			values[v] = &seen{first: t.Key}
			order = append(order, v)
		}
		values[v].n++
	}
	var got string
	switch {
	case len(toks) == 0:
		got = "no tokens"
	case len(order) == 1:
		got = order[0]
		if len(toks) > 1 {
			got = fmt.Sprintf("%s (all %d tokens)", order[0], len(toks))
		}
	default:
		// Most common first, so the usual value leads.
		slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(values[b].n, values[a].n) })
		parts := make([]string, 0, len(order))
		for i, v := range order {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("%d more values", len(order)-i))
				break
			}
			parts = append(parts, fmt.Sprintf("%s x%d", v, values[v].n))
		}
		got = strings.Join(parts, ", ")
	}
	if bad > 0 && len(toks) > 1 {
		got += fmt.Sprintf("; %d of %d tokens fail, e.g. %s", bad, len(toks), firstBad)
	}
	return Outcome{Expectation: name, OK: bad == 0, Got: got, Want: want}
}

func statusesHold(want []Cmp, got []int) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !want[i].Holds(got[i]) {
			return false
		}
	}
	return true
}

func cmpsString(cs []Cmp) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}
