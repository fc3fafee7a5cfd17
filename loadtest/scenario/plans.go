package scenario

import (
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Plans returns one plan per strategy, in the order StrategyNames gives,
// with every default filled in. Call it after Validate.
func (s *Scenario) Plans() []plan.Plan {
	names := s.StrategyNames()
	plans := make([]plan.Plan, 0, len(names))
	for _, name := range names {
		plans = append(plans, s.planFor(name))
	}
	return plans
}

// Plan returns the plan of one strategy the scenario runs.
func (s *Scenario) Plan(strategy string) (plan.Plan, bool) {
	for _, name := range s.StrategyNames() {
		if name == strategy {
			return s.planFor(name), true
		}
	}
	return plan.Plan{}, false
}

func (s *Scenario) planFor(strategy string) plan.Plan {
	seed := uint64(DefaultSeed)
	if s.Seed != nil {
		seed = *s.Seed
	}
	urlExpiry := s.URLExpiry.D()
	if urlExpiry == 0 {
		urlExpiry = onetime.DefaultURLExpiry
	}
	tokenTTL := s.TokenTTL.D()
	if tokenTTL == 0 {
		tokenTTL = onetime.DefaultTokenTTL
	}
	concurrency := s.Concurrency
	if concurrency == 0 {
		concurrency = DefaultConcurrency
	}
	p := plan.Plan{
		Name: s.Name,
		Seed: seed,
		Stack: plan.Stack{
			Strategy:          strategy,
			Memcached:         orDefault(s.Memcached, DefaultMemcached),
			Clock:             orDefault(s.Clock, DefaultClock),
			Method:            orDefault(s.Method, DefaultMethod),
			URLExpiry:         urlExpiry,
			TokenTTL:          tokenTTL,
			KeepRejected:      s.KeepRejected,
			EventDelay:        s.Events.Delay,
			EventDuplicates:   s.Events.Duplicates,
			EventReorder:      s.Events.Reorder.D(),
			EventCoalesce:     s.Events.Coalesce,
			MaxEventAge:       s.Events.MaxAge.D(),
			LambdaConcurrency: s.Lambda.Concurrency,
			LambdaErrorRate:   s.Lambda.ErrorRate,
			MemcachedMemoryMB: s.MemcachedMemoryMB,
		},
		Concurrency: concurrency,
		Rate:        s.Rate,
		Timeout:     s.timeout(),
	}
	if s.Lambda.Retries != nil {
		r := *s.Lambda.Retries
		p.Stack.LambdaRetries = &r
	}
	for _, g := range s.Groups {
		pg := plan.Group{Name: g.Name, Tokens: g.TokenCount()}
		for _, u := range g.Uploads {
			pu := plan.Upload{Method: u.Method, Size: DefaultSize, Content: orDefault(u.Content, plan.ContentSame)}
			switch {
			case u.At != nil:
				pu.At = u.At.D()
			case u.AfterPrevious != nil:
				pu.At, pu.AfterPrevious = u.AfterPrevious.D(), true
			}
			if u.Size != nil {
				pu.Size = *u.Size
			}
			if pu.Content != plan.ContentSame && pu.Content != plan.ContentUnique {
				pu.Size = len(pu.Content)
			}
			pg.Uploads = append(pg.Uploads, pu)
		}
		p.Groups = append(p.Groups, pg)
	}
	for _, f := range s.Faults {
		p.Faults = append(p.Faults, plan.Fault{Kind: f.Kind, At: f.At.D(), Duration: f.Duration.D(), Value: f.Value})
	}
	return p
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
