package scenario

import "github.com/uploadonce/uploadonce/loadtest/expect"

// Expectations returns the expectations that apply to strategy.
func (s *Scenario) Expectations(strategy string) expect.Expectations { return s.Expect.For(strategy) }

// Check judges what a run of strategy observed against its expectations.
func (s *Scenario) Check(strategy string, o expect.Observed) []expect.Outcome {
	groups := make([]expect.Group, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = expect.Group{Name: g.Name, Tokens: g.TokenCount()}
	}
	return expect.Judge(s.Expectations(strategy), groups, o)
}
