// Package schedule turns a plan into a timeline, with no stack behind it:
// which tokens run together (windows), when each token is issued (closed or
// open model), and when each of its uploads goes (offsets and chains). The
// engine walks what it returns; tests check it without starting anything.
//
// Offsets are from a token's issue. On the virtual clock an upload due
// "after the previous one" is due at the previous upload's offset plus its
// own (virtual time does not move while an upload runs), and uploads due at
// one offset go at once, except that an AfterPrevious upload follows the
// one before it: together they form a Chain. On the real clock the same
// uploads form Steps, each waited out from the issue or, for
// AfterPrevious, from the previous step's answer.
package schedule

import (
	"slices"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Group is a plan group laid out for the run.
type Group struct {
	plan.Group
	// First is the run index of the group's first token.
	First int
	// Seq0 is the index in the whole plan of the group's first token: First
	// unless the run is one shard of the plan (Plan.Shard).
	Seq0 int
	// Offsets[j] is upload j's offset from the issue on the virtual clock.
	Offsets []time.Duration
	// Chains are the uploads by offset, back-to-back ones chained.
	Chains []Chain
	// Steps are the uploads as the real clock waits them out.
	Steps []Step
}

// Chain is uploads due at one virtual offset that go one after the other:
// the first, then every AfterPrevious upload at the same offset after it.
type Chain struct {
	At      time.Duration
	Uploads []int
}

// Step is uploads that go at once on the real clock, At after the token's
// issue or, with AfterPrevious, after the previous step's last answer.
type Step struct {
	At            time.Duration
	AfterPrevious bool
	Uploads       []int
}

// Token is one token of the run.
type Token struct {
	Index int // in the run, group by group
	Group *Group
}

// Seq returns the token's index in the whole plan, which its bodies are
// made from: the same in a shard as in one run of the whole plan.
func (t Token) Seq() int { return t.Group.Seq0 + t.Index - t.Group.First }

// Window is the tokens [Lo, Hi) of the run.
type Window struct{ Lo, Hi int }

// Len returns the number of tokens in w.
func (w Window) Len() int { return w.Hi - w.Lo }

// Schedule is a plan laid out.
type Schedule struct {
	Groups []*Group
	faults []plan.Fault
	total  int
	window int
	rate   float64
}

// New lays out p. virtual says whether the run is on the virtual clock:
// only there do windows exist, and only without faults, whose offsets
// count from the start of the run.
//
// A plan with a Shard runs its I-th of N parts: of each group the tokens
// [Tokens*(I-1)/N, Tokens*I/N), at Rate/N, so that the N shards together
// send what one run of the whole plan sends, with the same bodies.
func New(p plan.Plan, virtual bool) *Schedule {
	s := &Schedule{faults: p.Faults, rate: p.Rate}
	sh := p.Shard
	if sh.Count > 1 {
		s.rate /= float64(sh.Count)
	}
	seq := 0
	for _, g := range p.Groups {
		lo, hi := sh.Part(g.Tokens)
		lg := layout(g)
		lg.Tokens = hi - lo
		lg.First, lg.Seq0 = s.total, seq+lo
		s.Groups = append(s.Groups, lg)
		s.total += lg.Tokens
		seq += g.Tokens
	}
	s.window = max(s.total, 1)
	if virtual && p.Window > 0 && len(p.Faults) == 0 {
		s.window = min(p.Window, s.window)
	}
	return s
}

func layout(g plan.Group) *Group {
	out := &Group{Group: g}
	var prev time.Duration
	last := -1 // the chain of the previous upload
	for j, u := range g.Uploads {
		at := u.At
		if u.AfterPrevious {
			at += prev
		}
		out.Offsets = append(out.Offsets, at)
		if j > 0 && u.AfterPrevious && at == prev {
			out.Chains[last].Uploads = append(out.Chains[last].Uploads, j)
		} else {
			out.Chains = append(out.Chains, Chain{At: at, Uploads: []int{j}})
			last = len(out.Chains) - 1
		}
		prev = at
	}
	for j := 0; j < len(g.Uploads); {
		k := j + 1
		for k < len(g.Uploads) && !g.Uploads[j].AfterPrevious && !g.Uploads[k].AfterPrevious && g.Uploads[k].At == g.Uploads[j].At {
			k++
		}
		st := Step{At: g.Uploads[j].At, AfterPrevious: g.Uploads[j].AfterPrevious}
		for x := j; x < k; x++ {
			st.Uploads = append(st.Uploads, x)
		}
		out.Steps = append(out.Steps, st)
		j = k
	}
	return out
}

// Total returns the tokens of the run.
func (s *Schedule) Total() int { return s.total }

// WindowSize returns the tokens per window.
func (s *Schedule) WindowSize() int { return s.window }

// Windows returns the run's windows in order; the last may be short.
func (s *Schedule) Windows() []Window {
	var out []Window
	for lo := 0; lo < s.total; lo += s.window {
		out = append(out, Window{lo, min(lo+s.window, s.total)})
	}
	return out
}

// Tokens returns the tokens of w in run order.
func (s *Schedule) Tokens(w Window) []Token {
	out := make([]Token, 0, w.Len())
	for _, g := range s.Groups {
		for i := max(w.Lo, g.First); i < min(w.Hi, g.First+g.Tokens); i++ {
			out = append(out, Token{Index: i, Group: g})
		}
	}
	return out
}

// Walk returns the distinct offsets at which something is due in w, from
// its issue, ascending: every upload offset of its groups, and with faults
// (the first window of a run that has them) each fault's start and end.
func (s *Schedule) Walk(w Window, faults bool) []time.Duration {
	var out []time.Duration
	for _, g := range s.Groups {
		if g.First+g.Tokens <= w.Lo || g.First >= w.Hi {
			continue
		}
		out = append(out, g.Offsets...)
	}
	if faults {
		for _, f := range s.faults {
			out = append(out, f.At)
			if end, ok := f.Ends(); ok {
				out = append(out, end)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Job is one chain of one token.
type Job struct {
	Token Token
	Chain *Chain
}

// Due returns the chains of tokens due at offset off, token by token.
func Due(tokens []Token, off time.Duration) []Job {
	var out []Job
	for _, t := range tokens {
		for ci := range t.Group.Chains {
			if c := &t.Group.Chains[ci]; c.At == off {
				out = append(out, Job{Token: t, Chain: c})
			}
		}
	}
	return out
}

// IssueAt returns when the k-th token of a window is due in the open model
// (Rate > 0), from the window's start; ok is false in the closed model,
// where a token is due when a worker takes it.
func (s *Schedule) IssueAt(k int) (at time.Duration, ok bool) {
	if s.rate <= 0 {
		return 0, false
	}
	return time.Duration(float64(k) * float64(time.Second) / s.rate), true
}
