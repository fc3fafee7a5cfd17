package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

var groupName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks every value and cross-reference. It returns nil or every
// problem found, each an *Error naming the line the value came from
// (errors.Join; use errors.As to get the first *Error).
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, s.errorAt(field, format, args...))
	}

	switch s.Clock {
	case "", "virtual", "real":
	default:
		bad("clock", "%q: want virtual or real", s.Clock)
	}
	spec := memcached.Spec{Kind: memcached.KindAuto}
	if s.Memcached != "" {
		var err error
		if spec, err = memcached.ParseSpec(s.Memcached); err != nil {
			bad("memcached", "%v", err)
		}
	}
	switch s.Method {
	case "", "post", "put":
	default:
		bad("method", "%q: want post or put", s.Method)
	}
	if s.URLExpiry < 0 {
		bad("url_expiry", "must not be negative")
	} else if s.URLExpiry.D() > 7*24*time.Hour {
		bad("url_expiry", "%s: S3 allows at most 7 days (604800 s)", s.URLExpiry)
	}
	if s.TokenTTL < 0 {
		bad("token_ttl", "must not be negative")
	}
	if m := s.MemcachedMemoryMB; m != 0 && (m < plan.MinMemcachedMemoryMB || m > plan.MaxMemcachedMemoryMB) {
		bad("memcached_memory_mb", "%d: want %d..%d (0 or absent for memcached's default); memcached refuses -m below twice its 1 MB item size limit",
			m, plan.MinMemcachedMemoryMB, plan.MaxMemcachedMemoryMB)
	} else if m > 0 && spec.Kind == memcached.KindExternal {
		bad("memcached_memory_mb", "an external memcached's memory is not uploadonce's to set")
	}

	// Strategies.
	if s.Strategy != "" && len(s.Strategies) > 0 {
		bad("strategies", "use strategy or strategies, not both")
	}
	seen := map[string]bool{}
	for i, name := range s.StrategyNames() {
		field := "strategy"
		if len(s.Strategies) > 0 {
			field = fmt.Sprintf("strategies[%d]", i)
		}
		if _, ok := onetime.LookupStrategy(name); !ok {
			bad(field, "unknown strategy %q: want one of %s", name, strings.Join(onetime.StrategyNames(), ", "))
			continue
		}
		if seen[name] {
			bad(field, "strategy %q is listed twice", name)
		}
		seen[name] = true
		if name == onetime.IfNoneMatch && s.Method != "put" {
			bad(field, "strategy if-none-match signs If-None-Match on a presigned PUT: set method: put")
		}
	}

	// Events and the invoker.
	if _, err := s3event.ParseDelay(s.Events.Delay); err != nil {
		bad("events.delay", "%v", err)
	}
	if !(s.Events.Duplicates >= 0 && s.Events.Duplicates <= 1) {
		bad("events.duplicates", "%v: want a chance between 0 and 1", s.Events.Duplicates)
	}
	if s.Events.Reorder < 0 {
		bad("events.reorder", "must not be negative")
	}
	if a := s.Events.MaxAge.D(); a != 0 && (a < lambda.MinMaxEventAge || a > lambda.MaxMaxEventAge) {
		bad("events.max_age", "%s: want %s..%s, as Lambda's MaximumEventAgeInSeconds", a, lambda.MinMaxEventAge, lambda.MaxMaxEventAge)
	}
	if c := s.Lambda.Concurrency; c < 0 || c > MaxConcurrency {
		bad("lambda.concurrency", "%d: want 1..%d (0 or absent for the default)", c, MaxConcurrency)
	}
	if r := s.Lambda.Retries; r != nil && (*r < 0 || *r > 2) {
		bad("lambda.retries", "%d: want 0..2, as Lambda's MaximumRetryAttempts", *r)
	}
	if !(s.Lambda.ErrorRate >= 0 && s.Lambda.ErrorRate <= 1) {
		bad("lambda.error_rate", "%v: want a fraction between 0 and 1", s.Lambda.ErrorRate)
	}

	// Load model.
	if s.Concurrency < 0 || s.Concurrency > MaxConcurrency {
		bad("concurrency", "%d: want 1..%d (0 or absent for %d)", s.Concurrency, MaxConcurrency, DefaultConcurrency)
	}
	if !(s.Rate >= 0) || s.Rate > 1e7 {
		bad("rate", "%v: want tokens per second, 0 (closed model) up to 10,000,000", s.Rate)
	}
	if s.Timeout < 0 {
		bad("timeout", "must not be negative")
	}

	// Groups and uploads.
	if len(s.Groups) == 0 {
		bad("groups", "a scenario needs at least one group of tokens")
	}
	names := map[string]bool{}
	tokens, bodyBytes, last := 0, int64(0), time.Duration(0)
	for i, g := range s.Groups {
		gf := fmt.Sprintf("groups[%d]", i)
		switch {
		case g.Name == "":
			bad(gf+".name", "every group needs a name (expectations refer to it)")
		case !groupName.MatchString(g.Name):
			bad(gf+".name", "%q: use 1..64 of A-Z a-z 0-9 _ -", g.Name)
		case names[g.Name]:
			bad(gf+".name", "group %q is defined twice", g.Name)
		}
		names[g.Name] = true
		n := g.TokenCount()
		if n < 0 {
			bad(gf+".tokens", "%d: must not be negative", n)
			n = 0
		} else if n > MaxTokens {
			bad(gf+".tokens", "%d: the bound is %d", n, MaxTokens)
			n = MaxTokens
		}
		tokens += n
		if len(g.Uploads) > MaxUploadsPerToken {
			bad(gf+".uploads", "%d uploads per token: the bound is %d", len(g.Uploads), MaxUploadsPerToken)
		}
		offset := time.Duration(0)
		for j, u := range g.Uploads {
			uf := fmt.Sprintf("%s.uploads[%d]", gf, j)
			switch {
			case u.At != nil && u.AfterPrevious != nil:
				bad(uf+".after_previous", "use at or after_previous, not both")
			case u.At != nil && *u.At < 0:
				bad(uf+".at", "%s: offsets must not be negative", *u.At)
			case u.AfterPrevious != nil && *u.AfterPrevious < 0:
				bad(uf+".after_previous", "%s: offsets must not be negative", *u.AfterPrevious)
			case u.At != nil:
				offset = u.At.D()
			case u.AfterPrevious != nil:
				offset += u.AfterPrevious.D()
			}
			last = max(last, offset)
			switch u.Method {
			case "", "post", "put":
			default:
				bad(uf+".method", "%q: want post or put", u.Method)
			}
			size := int64(DefaultSize)
			if u.Size != nil {
				size = int64(*u.Size)
				if size < 0 || size > MaxBodyBytes {
					bad(uf+".size", "%d: want 0..%d bytes (64 MiB)", size, MaxBodyBytes)
					size = 0
				}
			}
			if u.Content != "" && u.Content != plan.ContentSame && u.Content != plan.ContentUnique {
				if u.Size != nil {
					bad(uf+".size", "a literal content sets the body; leave size out")
				}
				if len(u.Content) > MaxBodyBytes {
					bad(uf+".content", "literal content longer than 64 MiB")
				}
				size = int64(len(u.Content))
			}
			bodyBytes += size * int64(n)
		}
	}
	if len(s.Groups) > 0 && tokens == 0 {
		bad("groups", "the scenario issues no tokens")
	}
	if tokens > MaxTokens {
		bad("groups", "%d tokens in all: the bound is %d", tokens, MaxTokens)
	}
	if bodyBytes > MaxTotalBodyBytes {
		bad("groups", "%d bytes of upload bodies in all: the bound is %d (2 GiB)", bodyBytes, int64(MaxTotalBodyBytes))
	}
	if s.Clock == "real" && s.timeout() <= last {
		bad("timeout", "%s is not longer than the last upload offset %s on the real clock", s.timeout(), last)
	}

	// Faults.
	for i, f := range s.Faults {
		ff := fmt.Sprintf("faults[%d]", i)
		switch f.Kind {
		case plan.FaultMemcachedRestart, plan.FaultMemcachedFlush:
		case plan.FaultMemcachedEvict:
			if f.Value <= 0 {
				bad(ff+".value", "evict needs value: the memory limit in bytes (> 0)")
			}
			if spec.Kind == memcached.KindProcess || spec.Kind == memcached.KindContainer {
				bad(ff+".kind", "memcached-evict sets the memory limit at run time, which only the embedded server can; "+
					"for %s use memcached_memory_mb (memcached -m) and enough tokens to fill it", spec.Kind)
			}
		case plan.FaultMemcachedConnLimit:
			if f.Value <= 0 {
				bad(ff+".value", "conn-limit needs value: the most connections allowed (> 0)")
			}
			if spec.Kind == memcached.KindProcess || spec.Kind == memcached.KindContainer {
				bad(ff+".kind", "memcached-conn-limit needs the embedded server: memcached's -c cannot change at run time")
			}
		case plan.FaultMemcachedLatency, plan.FaultMemcachedPause:
			if f.Duration <= 0 {
				bad(ff+".duration", "%s needs a positive duration", f.Kind)
			}
			if f.Kind == plan.FaultMemcachedLatency && (spec.Kind == memcached.KindProcess || spec.Kind == memcached.KindContainer) {
				bad(ff+".kind", "memcached-latency needs the embedded server; stall a %s with memcached-pause", spec.Kind)
			}
		case "":
			bad(ff+".kind", "every fault needs a kind")
		default:
			bad(ff+".kind", "unknown fault %q: want %s", f.Kind, strings.Join(faultKinds, ", "))
		}
		if f.At < 0 {
			bad(ff+".at", "must not be negative")
		}
		if f.Duration < 0 {
			bad(ff+".duration", "must not be negative")
		}
		if f.Value < 0 {
			bad(ff+".value", "must not be negative")
		}
		if spec.Kind == memcached.KindExternal {
			bad(ff+".kind", "faults are injected only into a memcached uploadonce runs, not an external one")
		}
	}

	// Expectations.
	groupUploads := map[string]int{}
	for _, g := range s.Groups {
		groupUploads[g.Name] = len(g.Uploads)
	}
	s.validateExpectations("expect", s.Expect.Expectations, groupUploads, &errs)
	for name, e := range s.Expect.Strategies {
		f := "expect.strategies." + name
		if !slices.Contains(s.StrategyNames(), name) {
			errs = append(errs, s.errorAt(f, "expectations for strategy %q, which the scenario does not run (it runs %s)", name, strings.Join(s.StrategyNames(), ", ")))
		}
		s.validateExpectations(f, e, groupUploads, &errs)
	}

	// A backstop: the plans must pass the engine's own check.
	if len(errs) == 0 {
		for _, p := range s.Plans() {
			if err := p.Validate(); err != nil {
				errs = append(errs, &Error{File: s.file, Msg: "plan " + p.Name + ": " + err.Error()})
				break
			}
		}
	}
	sortErrors(errs)
	return errors.Join(errs...)
}

var faultKinds = plan.FaultKinds()

func (s *Scenario) validateExpectations(field string, e Expectations, groupUploads map[string]int, errs *[]error) {
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
		if !slices.Contains(ViolationKinds(), kind) {
			*errs = append(*errs, s.errorAt(field+".violations."+kind, "unknown violation %q: want %s", kind, strings.Join(ViolationKinds(), ", ")))
		}
	}
	for cause := range e.Explained {
		if !knownCause(cause) {
			*errs = append(*errs, s.errorAt(field+".explained."+cause, "unknown cause %q: want %s", cause, strings.Join(ExplainedCauses(), ", ")))
		}
	}
	for reason := range e.Reasons {
		if !slices.Contains(rejectReasons(), reason) {
			*errs = append(*errs, s.errorAt(field+".reasons."+reason, "unknown reason %q: want %s", reason, strings.Join(rejectReasons(), ", ")))
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
