// Package plan describes a load or scenario run as data: the emulated stack
// to start, groups of tokens with the uploads each token receives and when,
// the load model, and faults. Scenario files and loadtest flags both become
// a Plan; the engine runs it.
//
// Times are offsets on the run's clock. On the virtual clock every token is
// issued at offset 0 (of its window, see Plan.Window) and the engine moves
// the clock from one offset to the next, so a 40 s wait costs nothing; on
// the real clock offsets are waited out, per token, from its own issue time.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Plan is one run.
type Plan struct {
	Name  string
	Seed  uint64 // seeds every random choice; logged
	Stack Stack
	// Groups of tokens; every token of a group gets the same uploads.
	Groups []Group
	// Concurrency bounds the tokens in flight (closed model) and sizes the
	// HTTP and memcached connection pools.
	Concurrency int
	// Rate, when > 0, starts tokens at this many per second (open model):
	// latency is measured from each token's intended start.
	Rate float64
	// Window, when > 0, runs the tokens on the virtual clock in windows of
	// this many: a window is issued, uploaded and settled before the next is
	// issued, so that a long run holds one window in memory. 0 issues every
	// token before the first upload (what scenarios describe). A plan with
	// faults, or on the real clock, runs in one window whatever this says.
	Window int
	// Faults fire at offsets from the start of the run.
	Faults []Fault
	// Timeout bounds the whole run, including waiting for late events.
	Timeout time.Duration
}

// Stack is the emulated system under test.
type Stack struct {
	Strategy  string // onetime strategy name
	Memcached string // memcached.ParseSpec syntax; "auto" when empty
	Clock     string // "virtual" (default) or "real"
	Method    string // "post" (default) or "put"
	URLExpiry time.Duration
	TokenTTL  time.Duration
	// KeepRejected leaves rejected uploads in place, as the reference does.
	KeepRejected bool

	EventDelay      string        // s3event.ParseDelay syntax; "" = none
	EventDuplicates float64       // 0..1
	EventReorder    time.Duration // reorder window
	EventCoalesce   bool
	MaxEventAge     time.Duration // 0 = Lambda default (6 h)

	LambdaConcurrency int // 0 = default
	LambdaRetries     *int
	// LambdaErrorRate makes that fraction of verifier invocations fail
	// before running (a function error), to exercise retries. 0..1.
	LambdaErrorRate float64
	// MemcachedMemoryMB is memcached's -m for the providers uploadonce
	// starts (the embedded server's byte limit); 0 keeps the default
	// (64 MB). A small value makes memory pressure evict live tokens.
	MemcachedMemoryMB int
}

// Group is a set of tokens with the same upload pattern.
type Group struct {
	Name    string
	Tokens  int
	Uploads []Upload
}

// Content kinds of an upload body.
const (
	ContentSame   = "same"   // every upload of a token sends the same bytes (the reference clients)
	ContentUnique = "unique" // every upload sends different bytes (detects wrong_bytes)
)

// Upload is one upload of a token.
type Upload struct {
	// At is the offset from the token's issue; with AfterPrevious, from the
	// previous upload's return (virtual clock: its offset).
	At            time.Duration
	AfterPrevious bool
	// Method overrides the grant's method: "post" or "put"; "" keeps it.
	Method  string
	Size    int    // body bytes; 0 means 16
	Content string // ContentSame (default), ContentUnique, or literal text
}

// Fault kinds.
const (
	FaultMemcachedRestart = "memcached-restart" // restart the server: tokens are lost
	FaultMemcachedFlush   = "memcached-flush"   // flush_all
	FaultMemcachedEvict   = "memcached-evict"   // memory pressure: evict (embedded: SetMaxBytes(Value))
	FaultMemcachedLatency = "memcached-latency" // add Duration to every reply (embedded)
	FaultMemcachedPause   = "memcached-pause"   // stop answering for Duration (SIGSTOP, docker pause, embedded hold)
	// FaultMemcachedConnLimit refuses connections beyond Value (embedded:
	// SetMaxConns), for Duration or, when 0, until the end of the run.
	FaultMemcachedConnLimit = "memcached-conn-limit"
)

// FaultKinds lists the fault kinds a plan may inject.
func FaultKinds() []string {
	return []string{FaultMemcachedRestart, FaultMemcachedFlush, FaultMemcachedEvict, FaultMemcachedLatency,
		FaultMemcachedPause, FaultMemcachedConnLimit}
}

// Kinds the engine records in a run's history beside the injected faults.
// They are observations, never planned.
const (
	// RecordedEvictions: the server reported evicting live items under
	// memory pressure during the run; the note gives the count.
	RecordedEvictions = "memcached-evictions"
	// RecordedTokenTTLElapsed: the virtual run clock passed the token TTL
	// after the issue, so every token not yet claimed had expired.
	RecordedTokenTTLElapsed = "token-ttl-elapsed"
	// RecordedFaultEnd: a fault with a duration ended (resume, limit lifted).
	RecordedFaultEnd = "fault-end"
)

// Fault is an injected failure.
type Fault struct {
	Kind     string
	At       time.Duration // offset from the start of the run
	Duration time.Duration // for latency and pause; for conn-limit, how long (0: to the end)
	Value    int64         // for evict: the memory limit in bytes; for conn-limit: connections
}

// Validate reports the first problem, naming the field.
func (p *Plan) Validate() error {
	if len(p.Groups) == 0 {
		return errors.New("plan has no token groups")
	}
	total := 0
	for i, g := range p.Groups {
		if g.Tokens < 0 {
			return fmt.Errorf("groups[%d] (%s): tokens must not be negative", i, g.Name)
		}
		if g.Tokens > 0 && len(g.Uploads) == 0 && g.Name == "" {
			return fmt.Errorf("groups[%d]: tokens without uploads need a name saying why", i)
		}
		for j, u := range g.Uploads {
			if u.At < 0 {
				return fmt.Errorf("groups[%d] (%s) uploads[%d]: at must not be negative", i, g.Name, j)
			}
			if u.Size < 0 || u.Size > 64<<20 {
				return fmt.Errorf("groups[%d] (%s) uploads[%d]: size %d outside 0..64MiB", i, g.Name, j, u.Size)
			}
			switch u.Method {
			case "", "post", "put":
			default:
				return fmt.Errorf("groups[%d] (%s) uploads[%d]: method %q: want post or put", i, g.Name, j, u.Method)
			}
		}
		total += g.Tokens
	}
	if total == 0 {
		return errors.New("plan issues no tokens")
	}
	if total > 2_000_000 {
		return fmt.Errorf("plan issues %d tokens; the bound is 2,000,000", total)
	}
	if p.Concurrency < 0 || p.Concurrency > 4096 {
		return fmt.Errorf("concurrency %d outside 1..4096", p.Concurrency)
	}
	if p.Rate < 0 {
		return errors.New("rate must not be negative")
	}
	if p.Window < 0 {
		return errors.New("window must not be negative")
	}
	switch p.Stack.Clock {
	case "", "virtual", "real":
	default:
		return fmt.Errorf("clock %q: want virtual or real", p.Stack.Clock)
	}
	switch p.Stack.Method {
	case "", "post", "put":
	default:
		return fmt.Errorf("method %q: want post or put", p.Stack.Method)
	}
	if p.Stack.EventDuplicates < 0 || p.Stack.EventDuplicates > 1 {
		return errors.New("event duplicates must be between 0 and 1")
	}
	if p.Stack.LambdaErrorRate < 0 || p.Stack.LambdaErrorRate > 1 {
		return errors.New("lambda error rate must be between 0 and 1")
	}
	if m := p.Stack.MemcachedMemoryMB; m != 0 && (m < MinMemcachedMemoryMB || m > MaxMemcachedMemoryMB) {
		return fmt.Errorf("memcached memory %d MB outside %d..%d", m, MinMemcachedMemoryMB, MaxMemcachedMemoryMB)
	}
	for i, f := range p.Faults {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("faults[%d]: %w", i, err)
		}
	}
	return nil
}

// Bounds of Stack.MemcachedMemoryMB. memcached refuses -m below twice its
// item size limit (-I, 1 MB by default): "Cannot set item size limit higher
// than 1/2 of memory max".
const (
	MinMemcachedMemoryMB = 2
	MaxMemcachedMemoryMB = 64 << 10
)

// Validate reports the first problem of one fault.
func (f Fault) Validate() error {
	if !slices.Contains(FaultKinds(), f.Kind) {
		return fmt.Errorf("unknown kind %q: want one of %s", f.Kind, strings.Join(FaultKinds(), ", "))
	}
	if f.At < 0 || f.Duration < 0 || f.Value < 0 {
		return fmt.Errorf("%s: at, duration and value must not be negative", f.Kind)
	}
	switch f.Kind {
	case FaultMemcachedEvict:
		if f.Value <= 0 {
			return fmt.Errorf("%s needs a value: the memory limit in bytes", f.Kind)
		}
	case FaultMemcachedConnLimit:
		if f.Value <= 0 {
			return fmt.Errorf("%s needs a value: the most connections allowed", f.Kind)
		}
	case FaultMemcachedLatency, FaultMemcachedPause:
		if f.Duration <= 0 {
			return fmt.Errorf("%s needs a positive duration", f.Kind)
		}
	}
	return nil
}

// Ends returns when a fault with a duration ends (pause, connection
// limit), as an offset from the start of the run; ok is false for faults
// that last to the end of the run or have no extent.
func (f Fault) Ends() (at time.Duration, ok bool) {
	switch f.Kind {
	case FaultMemcachedPause, FaultMemcachedConnLimit:
		if f.Duration > 0 {
			return f.At + f.Duration, true
		}
	}
	return 0, false
}

// ParseFault reads the --fault syntax KIND@OFFSET[:DURATION|:VALUE]:
// memcached-restart@5s, memcached-pause@5s:90s, memcached-latency@0s:2ms,
// memcached-evict@5s:4096 (bytes), memcached-conn-limit@5s:2 or
// memcached-conn-limit@5s:2:30s (a limit of 2 for 30 s).
func ParseFault(s string) (Fault, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok || kind == "" || rest == "" {
		return Fault{}, fmt.Errorf("fault %q: want KIND@OFFSET[:DURATION|:VALUE], e.g. memcached-restart@5s or memcached-pause@5s:90s", s)
	}
	parts := strings.Split(rest, ":")
	f := Fault{Kind: kind}
	var err error
	if f.At, err = time.ParseDuration(parts[0]); err != nil {
		return Fault{}, fmt.Errorf("fault %q: offset %q: want a duration such as 5s", s, parts[0])
	}
	args := parts[1:]
	switch kind {
	case FaultMemcachedEvict, FaultMemcachedConnLimit:
		if len(args) == 0 || (kind == FaultMemcachedEvict && len(args) > 1) || len(args) > 2 {
			return Fault{}, fmt.Errorf("fault %q: %s takes :VALUE (%s)", s, kind, map[string]string{
				FaultMemcachedEvict: "memory limit in bytes", FaultMemcachedConnLimit: "connections, then optionally :DURATION"}[kind])
		}
		if f.Value, err = strconv.ParseInt(args[0], 10, 64); err != nil {
			return Fault{}, fmt.Errorf("fault %q: value %q: want an integer", s, args[0])
		}
		if len(args) == 2 {
			if f.Duration, err = time.ParseDuration(args[1]); err != nil {
				return Fault{}, fmt.Errorf("fault %q: duration %q: want a duration such as 30s", s, args[1])
			}
		}
	case FaultMemcachedLatency, FaultMemcachedPause:
		if len(args) != 1 {
			return Fault{}, fmt.Errorf("fault %q: %s takes :DURATION", s, kind)
		}
		if f.Duration, err = time.ParseDuration(args[0]); err != nil {
			return Fault{}, fmt.Errorf("fault %q: duration %q: want a duration such as 90s", s, args[0])
		}
	default:
		if len(args) != 0 && slices.Contains(FaultKinds(), kind) {
			return Fault{}, fmt.Errorf("fault %q: %s takes no :DURATION or :VALUE", s, kind)
		}
	}
	if err := f.Validate(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", s, err)
	}
	return f, nil
}

// Tokens returns the number of tokens the plan issues.
func (p *Plan) Tokens() int {
	n := 0
	for _, g := range p.Groups {
		n += g.Tokens
	}
	return n
}

// Uploads returns the number of uploads the plan sends.
func (p *Plan) Uploads() int {
	n := 0
	for _, g := range p.Groups {
		n += g.Tokens * len(g.Uploads)
	}
	return n
}
