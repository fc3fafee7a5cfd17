package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

const s = time.Second

// TestChains: uploads due at one offset go at once, except that an
// AfterPrevious upload joins the chain of the upload before it, to be sent
// when that one has returned.
func TestChains(t *testing.T) {
	for _, tc := range []struct {
		name    string
		uploads []plan.Upload
		want    string // chains as offset:[uploads]
	}{
		{"one", []plan.Upload{{}}, "[0s:[0]]"},
		// plain uploads at one offset: concurrent, one chain each
		{"concurrent", []plan.Upload{{}, {}, {}}, "[0s:[0] 0s:[1] 0s:[2]]"},
		// upload2x: the second right after the first's answer
		{"back to back", []plan.Upload{{}, {AfterPrevious: true}}, "[0s:[0 1]]"},
		{"three back to back", []plan.Upload{{}, {AfterPrevious: true}, {AfterPrevious: true}}, "[0s:[0 1 2]]"},
		// a plain upload at the same offset still goes at once with the chain
		{"chain and a plain one", []plan.Upload{{}, {AfterPrevious: true}, {}}, "[0s:[0 1] 0s:[2]]"},
		// a wait after the previous moves it to a later offset of its own
		{"after a wait", []plan.Upload{{At: s}, {AfterPrevious: true, At: 2 * s}}, "[1s:[0] 3s:[1]]"},
		// back to back after a later plain upload
		{"chain later", []plan.Upload{{}, {At: 5 * s}, {AfterPrevious: true}}, "[0s:[0] 5s:[1 2]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := New(plan.Plan{Groups: []plan.Group{{Name: "g", Tokens: 1, Uploads: tc.uploads}}}, true)
			var got []string
			for _, c := range sc.Groups[0].Chains {
				got = append(got, fmt.Sprintf("%v:%v", c.At, c.Uploads))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("chains %v, want %s", got, tc.want)
			}
		})
	}
}

// TestSteps: on the real clock uploads at one offset form one step, and
// an AfterPrevious upload starts its own step, timed from the answer.
func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		uploads []plan.Upload
		want    string // steps as [+]offset:[uploads], + for after previous
	}{
		{"storm", []plan.Upload{{}, {}, {}}, "[0s:[0 1 2]]"},
		{"upload2x", []plan.Upload{{}, {AfterPrevious: true}}, "[0s:[0] +0s:[1]]"},
		// upload_with_delay: one upload 40 s after the issue
		{"delayed", []plan.Upload{{At: 40 * s}}, "[40s:[0]]"},
		{"mixed", []plan.Upload{{}, {}, {At: 5 * s}, {AfterPrevious: true, At: s}}, "[0s:[0 1] 5s:[2] +1s:[3]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := New(plan.Plan{Groups: []plan.Group{{Name: "g", Tokens: 1, Uploads: tc.uploads}}}, false)
			var got []string
			for _, st := range sc.Groups[0].Steps {
				plus := ""
				if st.AfterPrevious {
					plus = "+"
				}
				got = append(got, fmt.Sprintf("%s%v:%v", plus, st.At, st.Uploads))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("steps %v, want %s", got, tc.want)
			}
		})
	}
}

// TestLayout: windows cut across groups, in group order, with each token's
// index in the run.
func TestLayout(t *testing.T) {
	sc := New(plan.Plan{Groups: []plan.Group{{Name: "a", Tokens: 3, Uploads: []plan.Upload{{}}},
		{Name: "b", Tokens: 0}, {Name: "c", Tokens: 2, Uploads: []plan.Upload{{}, {}}}}}, true)
	var got []string
	for _, tk := range sc.Tokens(Window{2, 5}) {
		got = append(got, fmt.Sprintf("%s%d/%d", tk.Group.Name, tk.Index, len(tk.Group.Uploads)))
	}
	if want := "[a2/1 c3/2 c4/2]"; fmt.Sprint(got) != want {
		t.Fatalf("layout %v, want %s", got, want)
	}
}

// TestWindows: windows exist only on the virtual clock and without
// faults; they cover every token once, in order, the last one short.
func TestWindows(t *testing.T) {
	groups := []plan.Group{{Name: "in-time", Tokens: 7, Uploads: []plan.Upload{{}}},
		{Name: "delayed", Tokens: 3, Uploads: []plan.Upload{{At: 40 * s}}}}
	restart := []plan.Fault{{Kind: plan.FaultMemcachedRestart, At: 5 * s}}
	for _, tc := range []struct {
		name    string
		window  int
		virtual bool
		faults  []plan.Fault
		want    string
	}{
		{"windows of 4", 4, true, nil, "[{0 4} {4 8} {8 10}]"},
		{"zero is one window", 0, true, nil, "[{0 10}]"},
		{"larger than the run", 50, true, nil, "[{0 10}]"},
		{"real clock: one window", 4, false, nil, "[{0 10}]"},
		{"faults: one window", 4, true, restart, "[{0 10}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := New(plan.Plan{Groups: groups, Window: tc.window, Faults: tc.faults}, tc.virtual)
			if got := fmt.Sprint(sc.Windows()); got != tc.want {
				t.Fatalf("windows %s, want %s", got, tc.want)
			}
		})
	}
}

// TestWalk: a window walks the offsets of the groups it holds; delayed
// uploads add their offset only to the windows that hold delayed tokens;
// faults add their start and end in the first window.
func TestWalk(t *testing.T) {
	groups := []plan.Group{{Name: "in-time", Tokens: 4, Uploads: []plan.Upload{{}, {}}},
		{Name: "delayed", Tokens: 4, Uploads: []plan.Upload{{At: 40 * s}}}}
	pause := []plan.Fault{{Kind: plan.FaultMemcachedPause, At: 5 * s, Duration: 30 * s}}
	sc := New(plan.Plan{Groups: groups, Window: 4, Faults: nil}, true)
	if got := fmt.Sprint(sc.Walk(Window{0, 4}, false)); got != "[0s]" {
		t.Errorf("in-time window walks %s, want [0s]", got)
	}
	if got := fmt.Sprint(sc.Walk(Window{2, 6}, false)); got != "[0s 40s]" {
		t.Errorf("mixed window walks %s, want [0s 40s]", got)
	}
	sc = New(plan.Plan{Groups: groups, Faults: pause}, true)
	if got := fmt.Sprint(sc.Walk(Window{0, 8}, true)); got != "[0s 5s 35s 40s]" {
		t.Errorf("window with a pause walks %s, want [0s 5s 35s 40s]", got)
	}
}

// TestDue: the jobs due at an offset, token by token, each chain once.
func TestDue(t *testing.T) {
	sc := New(plan.Plan{Groups: []plan.Group{{Name: "g", Tokens: 2,
		Uploads: []plan.Upload{{}, {AfterPrevious: true}, {}, {At: 40 * s}}}}}, true)
	toks := sc.Tokens(Window{0, 2})
	var got []string
	for _, j := range Due(toks, 0) {
		got = append(got, fmt.Sprintf("%d:%v", j.Token.Index, j.Chain.Uploads))
	}
	if want := "[0:[0 1] 0:[2] 1:[0 1] 1:[2]]"; fmt.Sprint(got) != want {
		t.Fatalf("due at 0: %v, want %s", got, want)
	}
	if n := len(Due(toks, 40*s)); n != 2 {
		t.Fatalf("due at 40s: %d jobs, want 2", n)
	}
	if n := len(Due(toks, 5*s)); n != 0 {
		t.Fatalf("due at 5s: %d jobs, want 0", n)
	}
}

// TestModels: the open model spaces issues 1/Rate apart from the window's
// start; the closed model has no due time (a worker takes the next token).
func TestModels(t *testing.T) {
	groups := []plan.Group{{Name: "g", Tokens: 10, Uploads: []plan.Upload{{}}}}
	open := New(plan.Plan{Groups: groups, Rate: 4}, true)
	for k, want := range map[int]time.Duration{0: 0, 1: 250 * time.Millisecond, 4: s, 9: 2250 * time.Millisecond} {
		if at, ok := open.IssueAt(k); !ok || at != want {
			t.Errorf("open model: token %d due at %v (ok %v), want %v", k, at, ok, want)
		}
	}
	if _, ok := New(plan.Plan{Groups: groups}, true).IssueAt(3); ok {
		t.Error("closed model: a token has a due time")
	}
}

// TestShards: N shards take disjoint parts of every group that together
// are the whole plan, each token keeping its index in the whole plan (its
// bodies), at Rate/N each.
func TestShards(t *testing.T) {
	p := plan.Plan{Rate: 90, Groups: []plan.Group{{Name: "a", Tokens: 10, Uploads: []plan.Upload{{}}},
		{Name: "b", Tokens: 7, Uploads: []plan.Upload{{}}}}}
	whole := map[int]string{}
	for _, tok := range New(p, true).Tokens(Window{0, 17}) {
		whole[tok.Seq()] = tok.Group.Name
	}
	for _, n := range []int{1, 2, 3, 17} {
		seen := map[int]string{}
		for i := 1; i <= n; i++ {
			p.Shard = plan.Shard{Index: i, Count: n}
			sc := New(p, true)
			if at, _ := sc.IssueAt(1); at != time.Duration(float64(s)*float64(n)/90) {
				t.Errorf("%d shards: token 1 due at %v", n, at)
			}
			for _, tok := range sc.Tokens(Window{0, sc.Total()}) {
				if _, dup := seen[tok.Seq()]; dup {
					t.Errorf("%d shards: token %d in two shards", n, tok.Seq())
				}
				seen[tok.Seq()] = tok.Group.Name
			}
		}
		if fmt.Sprint(seen) != fmt.Sprint(whole) {
			t.Errorf("%d shards: %v, want %v", n, seen, whole)
		}
	}
}
