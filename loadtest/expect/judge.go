package expect

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Group is a group of tokens as the expectations name it.
type Group struct {
	Name   string
	Tokens int
}

// Judge judges what a run observed against e, in file order: groups (as
// listed), totals, violations, then the checker's own assumptions (which
// must always hold).
func Judge(e Expectations, groups []Group, o Observed) []Outcome {
	var out []Outcome
	byGroup := map[string][]TokenObserved{}
	for _, t := range o.Tokens {
		byGroup[t.Group] = append(byGroup[t.Group], t)
	}
	for _, g := range groups {
		ge, ok := e.Groups[g.Name]
		if !ok {
			continue
		}
		toks := byGroup[g.Name]
		prefix := "group " + g.Name + ": "
		out = append(out, Outcome{Expectation: prefix + "tokens", OK: len(toks) == g.Tokens,
			Got: fmt.Sprint(len(toks)), Want: fmt.Sprint(g.Tokens)})
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
