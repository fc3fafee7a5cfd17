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

	"github.com/uploadonce/uploadonce/emulator/onetime"
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
	// Shard, when Count > 1, makes the run the Index-th (1-based) of Count
	// disjoint parts of the plan (see schedule.New).
	Shard Shard
	// MaxErrorRate is the share of issue calls, or of uploads, that may
	// fail before the run is too broken to judge (inconclusive); 0 means
	// DefaultMaxErrorRate.
	MaxErrorRate float64
}

// Shard is one of Count disjoint parts of a plan; the zero value is the
// whole plan.
type Shard struct{ Index, Count int }

// Part returns the tokens [lo, hi) of n that are the shard's.
func (s Shard) Part(n int) (lo, hi int) {
	if s.Count <= 1 {
		return 0, n
	}
	return n * (s.Index - 1) / s.Count, n * s.Index / s.Count
}

// String renders the shard as I/N, "" for the whole plan.
func (s Shard) String() string {
	if s.Count <= 1 {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// DefaultMaxErrorRate is Plan.MaxErrorRate's default: 1%.
const DefaultMaxErrorRate = 0.01

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
	// Method overrides the grant's method; "" keeps it.
	Method  onetime.Method
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
	// FaultMemcachedAddNode adds a node to the cluster (embedded:N) and
	// publishes it to `config get cluster`; FaultMemcachedRemoveNode stops
	// the newest node. The clients see the change on their next discovery
	// refresh; tokens whose keys then live on another node are lost.
	FaultMemcachedAddNode    = "memcached-add-node"
	FaultMemcachedRemoveNode = "memcached-remove-node"
)

// FaultKinds lists the fault kinds a plan may inject.
func FaultKinds() []string {
	return []string{FaultMemcachedRestart, FaultMemcachedFlush, FaultMemcachedEvict, FaultMemcachedLatency,
		FaultMemcachedPause, FaultMemcachedConnLimit, FaultMemcachedAddNode, FaultMemcachedRemoveNode}
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

// Validate returns every bad value of the plan, each a *FieldError
// (errors.Join): the stack's, then the load's, the groups' and the faults'.
func (p *Plan) Validate() error {
	var fe fieldErrs
	if err := p.Stack.Validate(); err != nil {
		fe = append(fe, err)
	}
	p.validateLoad(&fe)
	p.validateGroups(&fe)
	for i, f := range p.Faults {
		if err := f.Validate(); err != nil {
			fe = append(fe, &FieldError{Field: fmt.Sprintf("faults[%d]", i), Err: err})
		}
	}
	return errors.Join(fe...)
}

func (p *Plan) validateLoad(fe *fieldErrs) {
	if p.Concurrency < 1 || p.Concurrency > MaxConcurrency {
		fe.add("concurrency", "%d: want 1..%d", p.Concurrency, MaxConcurrency)
	}
	if !(p.Rate >= 0) || p.Rate > 1e7 {
		fe.add("rate", "%v: want URLs per second, 0 (closed model) up to 10,000,000", p.Rate)
	}
	if p.Window < 0 {
		fe.add("window", "%d: want 0 or more URLs", p.Window)
	}
	if p.Timeout <= 0 {
		fe.add("timeout", "%v: want a positive duration", p.Timeout)
	}
	if !(p.MaxErrorRate >= 0 && p.MaxErrorRate <= 1) {
		fe.add("max_error_rate", "%v: want a fraction between 0 and 1", p.MaxErrorRate)
	}
}

func (p *Plan) validateGroups(fe *fieldErrs) {
	if len(p.Groups) == 0 {
		fe.add("groups", "the plan has no token groups")
		return
	}
	total := 0
	for i, g := range p.Groups {
		gf := fmt.Sprintf("groups[%d]", i)
		if g.Tokens < 0 {
			fe.add(gf+".tokens", "%d: must not be negative", g.Tokens)
		}
		if g.Tokens > 0 && len(g.Uploads) == 0 && g.Name == "" {
			fe.add(gf, "tokens without uploads need a name saying why")
		}
		for j, u := range g.Uploads {
			uf := fmt.Sprintf("%s.uploads[%d]", gf, j)
			if u.At < 0 {
				fe.add(uf+".at", "%v: offsets must not be negative", u.At)
			}
			if u.Size < 0 || u.Size > MaxBodyBytes {
				fe.add(uf+".size", "%d: want 0..%d bytes (64 MiB)", u.Size, MaxBodyBytes)
			}
			switch u.Method {
			case "", onetime.MethodPOST, onetime.MethodPUT:
			default:
				fe.add(uf+".method", "%q: want post or put", u.Method)
			}
		}
		total += max(g.Tokens, 0)
	}
	switch {
	case total == 0:
		fe.add("groups", "the plan issues no tokens")
	case total > MaxTokens:
		fe.add("groups", "%d tokens in all: the bound is %d", total, MaxTokens)
	}
}

// Limits of a plan.
const (
	MaxTokens      = 2_000_000
	MaxConcurrency = 4096
	MaxBodyBytes   = 64 << 20
)

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

// WithDefaults returns p with every zero field that has a default filled
// in, its stack's included.
func (p Plan) WithDefaults() Plan {
	p.Stack = p.Stack.WithDefaults()
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxErrorRate == 0 {
		p.MaxErrorRate = DefaultMaxErrorRate
	}
	return p
}
