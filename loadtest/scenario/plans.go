package scenario

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
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
	st, _ := s.stack(strategy)
	p := plan.Plan{
		Name:        s.Name,
		Seed:        plan.DefaultSeed,
		Stack:       st,
		Concurrency: s.Concurrency,
		Rate:        s.Rate,
		Timeout:     s.timeout(),
	}
	if s.Seed != nil {
		p.Seed = *s.Seed
	}
	for _, g := range s.Groups {
		p.Groups = append(p.Groups, g.plan())
	}
	for _, f := range s.Faults {
		p.Faults = append(p.Faults, plan.Fault{Kind: f.Kind, At: f.At.D(), Duration: f.Duration.D(), Value: f.Value})
	}
	return p.WithDefaults()
}

// stack returns the scenario's stack for one strategy, with the values the
// file leaves out at their defaults. The errors are those of the values
// that do not parse, each a *plan.FieldError named as the file names it.
func (s *Scenario) stack(strategy string) (plan.Stack, error) {
	st := plan.DefaultStack()
	st.Strategy = strategy
	var errs []error
	bad := func(field string, err error) { errs = append(errs, &plan.FieldError{Field: field, Err: err}) }
	if s.Memcached != "" {
		spec, err := memcached.ParseSpec(s.Memcached)
		if err != nil {
			bad("memcached", err)
		}
		st.Memcached = spec
	}
	if s.Clock != "" {
		st.Clock = plan.ClockKind(s.Clock)
	}
	st.Method = onetime.Method(s.Method)
	st.MemcachedMemoryMB = s.MemcachedMemoryMB
	for _, h := range []struct {
		field, value string
		to           *cluster.Hashing
	}{
		{"memcached_hashing", s.MemcachedHashing, &st.MemcachedHashing},
		{"verifier_memcached_hashing", s.VerifierMemcachedHashing, &st.VerifierMemcachedHashing},
	} {
		if _, err := cluster.ParseHashing(h.value); err != nil {
			bad(h.field, err)
		}
		*h.to = cluster.Hashing(h.value)
	}
	st.URLExpiry = orDur(s.URLExpiry.D(), st.URLExpiry)
	st.TokenTTL = orDur(s.TokenTTL.D(), st.TokenTTL)
	st.KeepRejected = s.KeepRejected
	delay, err := s3event.ParseDelay(s.Events.Delay)
	if err != nil {
		bad("events.delay", err)
	}
	if s.Events.Delay != "" && s.Events.Delay != "0" {
		st.Delivery.Delay = delay
	}
	st.Delivery.Duplicates, st.Delivery.ReorderWindow, st.Delivery.Coalesce = s.Events.Duplicates, s.Events.Reorder.D(), s.Events.Coalesce
	st.MaxEventAge = orDur(s.Events.MaxAge.D(), st.MaxEventAge)
	if s.Lambda.Concurrency != 0 {
		st.LambdaConcurrency = s.Lambda.Concurrency
	}
	if s.Lambda.Retries != nil {
		st.LambdaRetries = *s.Lambda.Retries
	}
	st.LambdaErrorRate = s.Lambda.ErrorRate
	st.Functions.Verify, st.Functions.Issue = s.Functions.Verify, s.Functions.Issue
	st.Functions.Timeout = orDur(s.Functions.Timeout.D(), st.Functions.Timeout)
	for _, k := range slices.Sorted(maps.Keys(s.Functions.Env)) {
		st.Functions.Env = append(st.Functions.Env, k+"="+s.Functions.Env[k])
	}
	return st, errors.Join(errs...)
}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// plan returns the group as the engine runs it.
func (g Group) plan() plan.Group {
	pg := plan.Group{Name: g.Name, Tokens: g.TokenCount()}
	for _, u := range g.Uploads {
		pu := plan.Upload{Method: onetime.Method(u.Method), Size: DefaultSize, Content: u.Content}
		if pu.Content == "" {
			pu.Content = plan.ContentSame
		}
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
	return pg
}
