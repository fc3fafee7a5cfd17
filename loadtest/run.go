// Package loadtest runs a plan against a target stack: it issues one-time
// URLs and uploads over real HTTP through a recording client, observes the
// stack's server-side log, checks the history against the one-time
// invariants, and builds the report.
//
//	plan → schedule → target (issue API → fake S3 → events → invoker →
//	verifier → memcached) → client.Recording → history → check → report
//
// Timeline. On the virtual clock (the default) tokens go in windows of
// Plan.Window (all of them in one when 0). A window's tokens are issued at
// its offset 0 while the clock stands still, each followed at once by its
// uploads due at 0; then the engine walks the window's later offsets,
// moving the clock timer by timer to each one. While a window's uploads
// go out, the previous window's events are still being verified: it is
// judged, written out and dropped once nothing is in flight for its keys,
// so that memory holds two windows and the verify tail never stalls the
// pipeline. A plan with faults (offsets from the start of the run) runs as
// one window. On the real clock each token runs its own timeline with
// sleeps, and the run is one window. A run in one window keeps its token
// histories in Result.History; a run in several streams them to a
// temporary file as its windows finish, which SaveHistory reads back.
//
// Models. Closed (Rate 0): Concurrency workers each take the next token,
// issue it and send its uploads. Open (Rate > 0): token i is due at i/Rate
// seconds; latencies count from the intended time (no coordinated
// omission), and sends that start more than 1 ms late are counted.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/faults"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// Defaults of a run.
const (
	// DefaultDrain bounds the wait for in-flight work after cancellation.
	DefaultDrain = 10 * time.Second
	// DefaultWindow is a Plan.Window that keeps a run's memory small (a
	// few tens of MB per window) while the pipeline stays full.
	DefaultWindow = 8192
	// settleLimit bounds the virtual time a settle may move after the last
	// upload: Lambda's longest event age plus its retries.
	settleLimit = lambda.MaxMaxEventAge + time.Hour
	// loadLogLength bounds the emulator's decision and event logs, which
	// only serve its inspection API: the recorder observes both.
	loadLogLength = 1024
	// startTimeout bounds starting the stack (a container is the slowest).
	startTimeout = 2 * time.Minute
)

// ErrFaultUnsupported is returned when a plan's fault cannot be injected
// into the chosen stack (e.g. latency on a memcached that is not embedded).
var ErrFaultUnsupported = faults.ErrUnsupported

// Option configures Run.
type Option func(*options)

type options struct {
	log      zerolog.Logger
	progress io.Writer
	terminal bool
	drain    time.Duration
	mcOpts   []memcached.Option
	wrap     func(onetime.Cache) onetime.Cache
	// keepHistory keeps a passing run's history for SaveHistory too.
	keepHistory bool
}

// WithHistory keeps the run's history whatever its verdict, for
// Result.SaveHistory (by default a passing run in several windows drops
// its tokens as it goes).
func WithHistory() Option { return func(o *options) { o.keepHistory = true } }

// WithLogger sets the run's logger (default: none).
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithProgress shows live progress on w: a single rewritten line when
// terminal is true, else a log line every 2 s through the logger.
func WithProgress(w io.Writer, terminal bool) Option {
	return func(o *options) { o.progress, o.terminal = w, terminal }
}

// WithDrain bounds the wait for in-flight work after ctx ends.
func WithDrain(d time.Duration) Option { return func(o *options) { o.drain = d } }

// WithMemcachedOptions passes options to memcached.Start.
func WithMemcachedOptions(opts ...memcached.Option) Option {
	return func(o *options) { o.mcOpts = append(o.mcOpts, opts...) }
}

// WithCacheWrapper wraps the memcached client the strategies use (tests
// force a schedule with it).
func WithCacheWrapper(f func(onetime.Cache) onetime.Cache) Option {
	return func(o *options) { o.wrap = f }
}

// Run starts the plan's stack in process and runs p against it. An error
// means the run could not be carried out (bad plan, stack failed to
// start); a cancelled or timed-out run returns a partial Result and no
// error.
func Run(ctx context.Context, p plan.Plan, opts ...Option) (*Result, error) {
	p, o, err := prepare(p, opts)
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	tgt, err := target.StartLocal(startCtx, p.Stack, target.LocalOptions{Seed: p.Seed, Concurrency: p.Concurrency,
		Logger: o.log, LogLength: loadLogLength, MemcachedOptions: o.mcOpts, WrapCache: o.wrap})
	cancel()
	if err != nil {
		return nil, err
	}
	return runOn(ctx, p, o, tgt)
}

// runOn runs the prepared plan against tgt and closes it.
func runOn(ctx context.Context, p plan.Plan, o options, tgt target.Target) (*Result, error) {
	e := newEngine(p, o, tgt)
	defer e.close()
	return e.execute(ctx)
}

// prepare applies opts and fills and validates p: what Run and RunTarget
// share before they have a target.
func prepare(p plan.Plan, opts []Option) (plan.Plan, options, error) {
	o := options{log: zerolog.Nop(), drain: DefaultDrain}
	for _, f := range opts {
		f(&o)
	}
	p = p.WithDefaults()
	return p, o, p.Validate()
}

// RunTarget runs p against a stack the caller started or reached (a
// target.Remote): the plan's stack section only says what that stack runs.
// The target is closed at the end.
func RunTarget(ctx context.Context, p plan.Plan, tgt target.Target, opts ...Option) (*Result, error) {
	p, o, err := prepare(p, opts)
	if err != nil {
		return nil, err
	}
	return runOn(ctx, p, o, tgt)
}

// close closes the target. Connections the client dialed but never used
// look new to the server, whose Shutdown waits 5 s for new connections:
// they are closed first.
func (e *engine) close() {
	if e.cl != nil {
		e.cl.Client().HTTP.CloseIdleConnections()
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.tgt.Close(cctx); err != nil {
		e.log.Warn().Err(err).Msg("closing the stack")
	}
}

// memcachedOf returns the target's memcached for faults, and why there is
// none.
func memcachedOf(tgt target.Target) (faults.Memcached, string) {
	f, ok := tgt.(target.Faultable)
	if !ok {
		return nil, "this target gives no control of its memcached"
	}
	if mc := f.Memcached(); mc != nil {
		return faults.Server{Server: mc}, ""
	}
	return nil, "strategy " + tgt.Describe().Strategy + " keeps no tokens in memcached"
}

// errNotSettled: the stack did not finish its in-flight work in time.
var errNotSettled = errors.New("the stack did not become idle")

func wrapNotSettled(err error) error { return fmt.Errorf("%w: %w", errNotSettled, err) }
