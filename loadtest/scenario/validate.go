package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/expect"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/loadtest/faults"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

var groupName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks every value and cross-reference, section by section. It
// returns nil or every problem found, each an *Error naming the line the
// value came from (errors.Join; use errors.As to get the first *Error).
func (s *Scenario) Validate() error {
	v := &validation{s: s}
	spec := s.validateStack(v.bad, &v.errs)
	s.validateLoad(v)
	s.validateGroups(v)
	s.validateFaults(spec, v.bad)
	s.validateAllExpectations(v)
	// A backstop: the plans must pass the engine's own check.
	if len(v.errs) == 0 {
		for _, p := range s.Plans() {
			if err := p.Validate(); err != nil {
				v.errs = append(v.errs, &Error{File: s.file, Msg: "plan " + p.Name + ": " + err.Error()})
				break
			}
		}
	}
	sortErrors(v.errs)
	return errors.Join(v.errs...)
}

// validation collects a scenario's problems.
type validation struct {
	s    *Scenario
	errs []error
}

func (v *validation) bad(field, format string, args ...any) {
	v.errs = append(v.errs, v.s.errorAt(field, format, args...))
}

func (s *Scenario) validateLoad(v *validation) {
	if s.Concurrency < 0 || s.Concurrency > MaxConcurrency {
		v.bad("concurrency", "%d: want 1..%d (0 or absent for %d)", s.Concurrency, MaxConcurrency, plan.DefaultConcurrency)
	}
	if !(s.Rate >= 0) || s.Rate > 1e7 {
		v.bad("rate", "%v: want tokens per second, 0 (closed model) up to 10,000,000", s.Rate)
	}
	if s.Timeout < 0 {
		v.bad("timeout", "must not be negative")
	}
}

// validateGroups checks the groups, their uploads and the run's totals.
func (s *Scenario) validateGroups(v *validation) {
	if len(s.Groups) == 0 {
		v.bad("groups", "a scenario needs at least one group of tokens")
	}
	names := map[string]bool{}
	tokens, bodyBytes, last := 0, int64(0), time.Duration(0)
	for i, g := range s.Groups {
		gf := fmt.Sprintf("groups[%d]", i)
		switch {
		case g.Name == "":
			v.bad(gf+".name", "every group needs a name (expectations refer to it)")
		case !groupName.MatchString(g.Name):
			v.bad(gf+".name", "%q: use 1..64 of A-Z a-z 0-9 _ -", g.Name)
		case names[g.Name]:
			v.bad(gf+".name", "group %q is defined twice", g.Name)
		}
		names[g.Name] = true
		n := g.TokenCount()
		if n < 0 {
			v.bad(gf+".tokens", "%d: must not be negative", n)
			n = 0
		} else if n > MaxTokens {
			v.bad(gf+".tokens", "%d: the bound is %d", n, MaxTokens)
			n = MaxTokens
		}
		tokens += n
		if len(g.Uploads) > MaxUploadsPerToken {
			v.bad(gf+".uploads", "%d uploads per token: the bound is %d", len(g.Uploads), MaxUploadsPerToken)
		}
		bytes, lastOffset := validateUploads(v, gf, g.Uploads)
		bodyBytes += bytes * int64(n)
		last = max(last, lastOffset)
	}
	if len(s.Groups) > 0 && tokens == 0 {
		v.bad("groups", "the scenario issues no tokens")
	}
	if tokens > MaxTokens {
		v.bad("groups", "%d tokens in all: the bound is %d", tokens, MaxTokens)
	}
	if bodyBytes > MaxTotalBodyBytes {
		v.bad("groups", "%d bytes of upload bodies in all: the bound is %d (2 GiB)", bodyBytes, int64(MaxTotalBodyBytes))
	}
	if s.Clock == "real" && s.timeout() <= last {
		v.bad("timeout", "%s is not longer than the last upload offset %s on the real clock", s.timeout(), last)
	}
}

// validateUploads checks one group's uploads; it returns the body bytes
// of one token and the last upload's offset.
func validateUploads(v *validation, gf string, uploads []Upload) (bodyBytes int64, last time.Duration) {
	offset := time.Duration(0)
	for j, u := range uploads {
		uf := fmt.Sprintf("%s.uploads[%d]", gf, j)
		switch {
		case u.At != nil && u.AfterPrevious != nil:
			v.bad(uf+".after_previous", "use at or after_previous, not both")
		case u.At != nil && *u.At < 0:
			v.bad(uf+".at", "%s: offsets must not be negative", *u.At)
		case u.AfterPrevious != nil && *u.AfterPrevious < 0:
			v.bad(uf+".after_previous", "%s: offsets must not be negative", *u.AfterPrevious)
		case u.At != nil:
			offset = u.At.D()
		case u.AfterPrevious != nil:
			offset += u.AfterPrevious.D()
		}
		last = max(last, offset)
		switch u.Method {
		case "", "post", "put":
		default:
			v.bad(uf+".method", "%q: want post or put", u.Method)
		}
		size := int64(DefaultSize)
		if u.Size != nil {
			size = int64(*u.Size)
			if size < 0 || size > MaxBodyBytes {
				v.bad(uf+".size", "%d: want 0..%d bytes (64 MiB)", size, MaxBodyBytes)
				size = 0
			}
		}
		if u.Content != "" && u.Content != plan.ContentSame && u.Content != plan.ContentUnique {
			if u.Size != nil {
				v.bad(uf+".size", "a literal content sets the body; leave size out")
			}
			if len(u.Content) > MaxBodyBytes {
				v.bad(uf+".content", "literal content longer than 64 MiB")
			}
			size = int64(len(u.Content))
		}
		bodyBytes += size
	}
	return bodyBytes, last
}

// validateAllExpectations checks the common expectations and each
// strategy's overrides.
func (s *Scenario) validateAllExpectations(v *validation) {
	groupUploads := map[string]int{}
	for _, g := range s.Groups {
		groupUploads[g.Name] = len(g.Uploads)
	}
	s.validateExpectations("expect", s.Expect.Expectations, groupUploads, &v.errs)
	for name, e := range s.Expect.Strategies {
		f := "expect.strategies." + name
		if !slices.Contains(s.StrategyNames(), name) {
			v.bad(f, "expectations for strategy %q, which the scenario does not run (it runs %s)", name, strings.Join(s.StrategyNames(), ", "))
		}
		s.validateExpectations(f, e, groupUploads, &v.errs)
	}
}

// validateStack checks the stack of every strategy the file runs, with
// the rules of plan.Stack.Validate, and returns the memcached spec.
func (s *Scenario) validateStack(bad func(field, format string, args ...any), errs *[]error) memcached.Spec {
	if s.Strategy != "" && len(s.Strategies) > 0 {
		bad("strategies", "use strategy or strategies, not both")
	}
	seen := map[string]bool{}
	reported := map[string]bool{}
	spec := memcached.Spec{Kind: memcached.KindAuto}
	for i, name := range s.StrategyNames() {
		field := "strategy"
		if len(s.Strategies) > 0 {
			field = fmt.Sprintf("strategies[%d]", i)
		}
		if seen[name] {
			bad(field, "strategy %q is listed twice", name)
		}
		seen[name] = true
		st, perr := s.stack(name)
		spec = st.Memcached
		for _, err := range plan.Errors(errors.Join(perr, st.Validate())) {
			var fe *plan.FieldError
			if !errors.As(err, &fe) {
				*errs = append(*errs, s.errorAt("", "%v", err))
				continue
			}
			f := fe.Field
			if f == "strategy" {
				f = field
			}
			if key := f + "\x00" + fe.Err.Error(); !reported[key] {
				reported[key] = true
				*errs = append(*errs, s.errorAt(f, "%v", fe.Err))
			}
		}
	}
	return spec
}

// validateFaults checks each fault's values and, when the file names its
// memcached, whether that provider can take it.
func (s *Scenario) validateFaults(spec memcached.Spec, bad func(field, format string, args ...any)) {
	for i, f := range s.Faults {
		ff := fmt.Sprintf("faults[%d]", i)
		if f.Kind == "" {
			bad(ff+".kind", "every fault needs a kind")
			continue
		}
		pf := plan.Fault{Kind: f.Kind, At: f.At.D(), Duration: f.Duration.D(), Value: f.Value}
		if err := pf.Validate(); err != nil {
			bad(ff+"."+faultField(pf), "%v", err)
			continue
		}
		if err := faults.Supports(f.Kind, spec.Kind); err != nil {
			bad(ff+".kind", "%v", err)
		}
	}
}

// faultField names the field a fault's validation error is about.
func faultField(f plan.Fault) string {
	switch {
	case !slices.Contains(plan.FaultKinds(), f.Kind):
		return "kind"
	case f.At < 0:
		return "at"
	case f.Kind == plan.FaultMemcachedEvict || f.Kind == plan.FaultMemcachedConnLimit:
		return "value"
	}
	return "duration"
}

func (s *Scenario) validateExpectations(field string, e expect.Expectations, groupUploads map[string]int, errs *[]error) {
	for name, ge := range e.Groups {
		gf := field + ".groups." + name
		n, ok := groupUploads[name]
		if !ok {
			*errs = append(*errs, s.errorAt(gf, "expectations for group %q, which the scenario does not define", name))
			continue
		}
		if ge.Statuses != nil && len(ge.Statuses) != n {
			*errs = append(*errs, s.errorAt(gf+".statuses", "%d statuses for %d uploads per token: give one per upload", len(ge.Statuses), n))
		}
	}
	for kind := range e.Violations {
		if !slices.Contains(expect.ViolationKinds(), kind) {
			*errs = append(*errs, s.errorAt(field+".violations."+kind, "unknown violation %q: want %s", kind, strings.Join(expect.ViolationKinds(), ", ")))
		}
	}
	for cause := range e.Explained {
		if !expect.KnownCause(cause) {
			*errs = append(*errs, s.errorAt(field+".explained."+cause, "unknown cause %q: want %s", cause, strings.Join(expect.ExplainedCauses(), ", ")))
		}
	}
	for reason := range e.Reasons {
		if !slices.Contains(expect.RejectReasons(), reason) {
			*errs = append(*errs, s.errorAt(field+".reasons."+reason, "unknown reason %q: want %s", reason, strings.Join(expect.RejectReasons(), ", ")))
		}
	}
}

// sortErrors orders errors by line so that the first one is the first in
// the file; map iteration must not make the output flicker.
func sortErrors(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *Error
		errors.As(a, &ea)
		errors.As(b, &eb)
		if ea == nil || eb == nil {
			return 0
		}
		if ea.Line != eb.Line {
			return ea.Line - eb.Line
		}
		if ea.Column != eb.Column {
			return ea.Column - eb.Column
		}
		return strings.Compare(ea.Field+ea.Msg, eb.Field+eb.Msg)
	})
}

func (s *Scenario) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultTimeout
	}
	return s.Timeout.D()
}
