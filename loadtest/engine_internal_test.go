package loadtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestChains: uploads due at one offset go at once, except that an
// AfterPrevious upload joins the chain of the upload before it, to be sent
// when that one has returned.
func TestChains(t *testing.T) {
	s := time.Second
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
			e := &engine{p: plan.Plan{Groups: []plan.Group{{Name: "g", Tokens: 1, Uploads: tc.uploads}}}}
			e.buildGroups()
			var got []string
			for _, c := range e.groups[0].chains {
				got = append(got, fmt.Sprintf("%v:%v", c.at, c.uploads))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("chains %v, want %s", got, tc.want)
			}
		})
	}
}

// TestLayout: windows cut across groups, in group order, with each token's
// index in the run.
func TestLayout(t *testing.T) {
	e := &engine{p: plan.Plan{Groups: []plan.Group{{Name: "a", Tokens: 3, Uploads: []plan.Upload{{}}},
		{Name: "b", Tokens: 0}, {Name: "c", Tokens: 2, Uploads: []plan.Upload{{}, {}}}}}}
	e.buildGroups()
	var got []string
	for _, ts := range e.layout(2, 5) {
		got = append(got, fmt.Sprintf("%s%d/%d", ts.group.Name, ts.idx, len(ts.h.Uploads)))
	}
	if want := "[a2/1 c3/2 c4/2]"; fmt.Sprint(got) != want {
		t.Fatalf("layout %v, want %s", got, want)
	}
}
