// Package faults injects a plan's faults into the memcached a run started.
// A fault kind is switched on once, in New, into a Failpoint; which kind
// works on which provider is one table, Supports, that validation (before
// anything starts) and injection (once the provider is known) both use.
package faults

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Memcached is what a fault acts on: a memcached uploadonce started.
type Memcached interface {
	Kind() string
	Restart(ctx context.Context) error
	Flush(ctx context.Context) error
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// Knobs returns the embedded server's run-time settings, or nil for a
	// real memcached.
	Knobs() Knobs
	// Items returns the items the server holds (memcached's curr_items),
	// so that a fault can say how many tokens it dropped.
	Items(ctx context.Context) (int64, error)
}

// Knobs are the embedded server's run-time settings.
type Knobs interface {
	SetMaxBytes(n int64)
	SetLatency(d time.Duration)
	SetMaxConns(n int)
}

// Scaler is the optional capability of a memcached whose cluster can grow
// and shrink (an embedded cluster), found by type assertion.
type Scaler interface {
	AddNode(ctx context.Context) (addr string, err error)
	RemoveNode(ctx context.Context) (addr string, err error)
}

// Failpoint is one fault of a plan, ready to inject.
type Failpoint interface {
	// Inject applies the fault and says what it did.
	Inject(ctx context.Context, mc Memcached) (effect string, err error)
}

// Ender is a Failpoint with an end: a pause resumes, a limit lifts.
type Ender interface {
	End(ctx context.Context, mc Memcached) (effect string, err error)
}

// ErrUnsupported is returned for a fault the provider cannot take.
var ErrUnsupported = fmt.Errorf("fault not supported by this stack")

// capability is one row of the table: the providers a kind works on, and
// why the others cannot take it.
type capability struct {
	providers []string
	why       string // %s is the provider that cannot
}

var (
	started  = []string{memcached.KindEmbedded, memcached.KindProcess, memcached.KindContainer}
	embedded = []string{memcached.KindEmbedded}
)

// capabilities is the table: every kind, the providers it works on.
var capabilities = map[string]capability{
	plan.FaultMemcachedRestart: {started, ""},
	plan.FaultMemcachedFlush:   {started, ""},
	plan.FaultMemcachedPause:   {started, ""},
	plan.FaultMemcachedLatency: {embedded, "needs the embedded memcached provider (a real memcached has no latency knob; " +
		"use memcached-pause to stall it); this run uses %s"},
	plan.FaultMemcachedEvict: {embedded, "changes the memory limit at run time, which only the embedded provider can; " +
		"for %s start it small instead (memcached_memory_mb in a scenario, --memcached-memory-mb for loadtest)"},
	plan.FaultMemcachedConnLimit: {embedded, "needs the embedded memcached provider (memcached's -c cannot change at run time); " +
		"this run uses %s"},
	plan.FaultMemcachedAddNode:    {embedded, nodeChangeWhy},
	plan.FaultMemcachedRemoveNode: {embedded, nodeChangeWhy},
}

// nodeChangeWhy: the clients find nodes through `config get cluster`,
// which only the embedded nodes answer.
const nodeChangeWhy = "needs the embedded memcached provider (embedded:N): clients see a node change through ElastiCache's " +
	"config get cluster, which the real memcached does not answer; this run uses %s"

// Supports reports whether provider (a memcached kind) can take a fault of
// kind, and why not. "auto" is decided when the provider starts: nil.
func Supports(kind, provider string) error {
	c, ok := capabilities[kind]
	switch {
	case !ok:
		return fmt.Errorf("unknown fault %q: %w", kind, ErrUnsupported)
	case provider == memcached.KindAuto || provider == "":
		return nil
	case provider == memcached.KindExternal:
		return fmt.Errorf("%s: faults are injected only into a memcached uploadonce starts, not an external one: %w", kind, ErrUnsupported)
	case !slices.Contains(c.providers, provider):
		return fmt.Errorf("%s "+c.why+": %w", kind, provider, ErrUnsupported)
	}
	return nil
}

// New returns the Failpoint of f; f must be valid (plan.Fault.Validate).
func New(f plan.Fault) Failpoint {
	switch f.Kind {
	case plan.FaultMemcachedRestart:
		return restart{}
	case plan.FaultMemcachedFlush:
		return flush{}
	case plan.FaultMemcachedEvict:
		return evict{bytes: f.Value}
	case plan.FaultMemcachedLatency:
		return latency{d: f.Duration}
	case plan.FaultMemcachedPause:
		return pause{d: f.Duration}
	case plan.FaultMemcachedConnLimit:
		return connLimit{n: int(f.Value), d: f.Duration}
	case plan.FaultMemcachedAddNode:
		return nodeChange{add: true}
	case plan.FaultMemcachedRemoveNode:
		return nodeChange{}
	}
	return unknown{f.Kind}
}

type restart struct{}

func (restart) Inject(ctx context.Context, mc Memcached) (string, error) {
	dropped := itemsNote(ctx, mc)
	return mc.Kind() + " restarted: every token is lost" + dropped, mc.Restart(ctx)
}

type flush struct{}

func (flush) Inject(ctx context.Context, mc Memcached) (string, error) {
	dropped := itemsNote(ctx, mc)
	return "flush_all: every token is lost" + dropped, mc.Flush(ctx)
}

// itemsNote says how many items a fault that drops everything drops.
func itemsNote(ctx context.Context, mc Memcached) string {
	n, err := mc.Items(ctx)
	if err != nil {
		return " (the item count could not be read: " + err.Error() + ")"
	}
	return fmt.Sprintf(" (%d items dropped)", n)
}

type evict struct{ bytes int64 }

func (e evict) Inject(_ context.Context, mc Memcached) (string, error) {
	k := mc.Knobs()
	if k == nil {
		return "", Supports(plan.FaultMemcachedEvict, mc.Kind())
	}
	k.SetMaxBytes(e.bytes)
	return fmt.Sprintf("memory limit %d bytes from now on: least recently used tokens are evicted", e.bytes), nil
}

type latency struct{ d time.Duration }

func (l latency) Inject(_ context.Context, mc Memcached) (string, error) {
	k := mc.Knobs()
	if k == nil {
		return "", Supports(plan.FaultMemcachedLatency, mc.Kind())
	}
	k.SetLatency(l.d)
	return "every reply delayed by " + l.d.String() + " until the end of the run", nil
}

type pause struct{ d time.Duration }

func (p pause) Inject(ctx context.Context, mc Memcached) (string, error) {
	return fmt.Sprintf("%s paused for %s: commands wait, clients time out after %s", mc.Kind(), p.d, memcached.DefaultClientTimeout),
		mc.Pause(ctx)
}

func (p pause) End(ctx context.Context, mc Memcached) (string, error) {
	return plan.FaultMemcachedPause + " ended: memcached answers again", mc.Resume(ctx)
}

type connLimit struct {
	n int
	d time.Duration
}

func (c connLimit) Inject(_ context.Context, mc Memcached) (string, error) {
	k := mc.Knobs()
	if k == nil {
		return "", Supports(plan.FaultMemcachedConnLimit, mc.Kind())
	}
	k.SetMaxConns(c.n)
	effect := fmt.Sprintf("connections beyond %d refused", c.n)
	if c.d > 0 {
		effect += " for " + c.d.String()
	}
	return effect, nil
}

func (c connLimit) End(_ context.Context, mc Memcached) (string, error) {
	if k := mc.Knobs(); k != nil {
		k.SetMaxConns(0)
	}
	return plan.FaultMemcachedConnLimit + " ended: connections unlimited again", nil
}

// nodeChange adds or removes a node of the cluster. Clients that discover
// it see the change on their next refresh (cluster.DefaultRefreshInterval
// on the run clock); from then on a token whose key moved is looked for on
// a node that does not hold it.
type nodeChange struct{ add bool }

func (n nodeChange) Inject(ctx context.Context, mc Memcached) (string, error) {
	kind := plan.FaultMemcachedRemoveNode
	if n.add {
		kind = plan.FaultMemcachedAddNode
	}
	sc, ok := mc.(Scaler)
	if !ok {
		if err := Supports(kind, mc.Kind()); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%s: this %s memcached cannot change its nodes: %w", kind, mc.Kind(), ErrUnsupported)
	}
	refresh := fmt.Sprintf("; clients see it when they next rediscover the nodes (at most every %s)", cluster.DefaultRefreshInterval)
	if n.add {
		addr, err := sc.AddNode(ctx)
		return "node " + addr + " added" + refresh + ": tokens whose keys move to it are lost", err
	}
	addr, err := sc.RemoveNode(ctx)
	return "node " + addr + " removed, its tokens with it" + refresh + ": tokens whose keys move are lost", err
}

type unknown struct{ kind string }

func (u unknown) Inject(context.Context, Memcached) (string, error) {
	return "", fmt.Errorf("unknown fault %q: %w", u.kind, ErrUnsupported)
}

var (
	_ Ender = pause{}
	_ Ender = connLimit{}
)

// Server adapts a *memcached.Server to Memcached.
type Server struct{ *memcached.Server }

// Knobs implements Memcached.
func (s Server) Knobs() Knobs {
	if e := s.Embedded(); e != nil {
		return e
	}
	return nil
}

// Items implements Memcached.
func (s Server) Items(ctx context.Context) (int64, error) {
	st, err := memcached.ReadStats(ctx, s.Addrs())
	if err != nil {
		return 0, err
	}
	return st["curr_items"], nil
}

var _ Memcached = Server{}
