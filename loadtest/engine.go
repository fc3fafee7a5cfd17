package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/client"
	"github.com/uploadonce/uploadonce/loadtest/faults"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/schedule"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// engine drives one run: it walks the schedule, sends through the
// recording client, injects faults and finishes windows. What it finds is
// handed to the checker, the metrics collector and the report builder.
type engine struct {
	p       plan.Plan
	o       options
	log     zerolog.Logger
	sched   *schedule.Schedule
	tgt     target.Target
	virtual *clock.Virtual // nil on the real clock
	desc    target.Description

	rec    *history.Recorder
	cl     *client.Recording
	faults *faults.Runner
	reqCtx context.Context // in-flight requests: outlives cancellation by the drain

	// prev is the window whose verify tail runs while the next one's
	// uploads go out; finishWindow judges it and drops it.
	prev      *window
	settleErr error // a window that did not settle ends the run, partial
	ttlOnce   sync.Once

	// What finished windows leave behind.
	checker   *check.Checker
	collector *metrics.Collector
	kept      []*history.Token // when the history stays in memory
	spill     *spill           // else
	notes     []string
	truth     target.GroundTruth
	// interrupted: the run was cut short; what is left waits no longer
	// than the drain.
	interrupted bool
}

func newEngine(p plan.Plan, o options, tgt target.Target) *engine {
	e := &engine{p: p, o: o, log: o.log, tgt: tgt, desc: tgt.Describe(), truth: target.GroundTruth{Source: target.EmulatorLog}}
	if c, ok := tgt.(target.Clocked); ok {
		e.virtual = c.Virtual()
	}
	e.sched = schedule.New(p, e.virtual != nil)
	return e
}

// execute runs the plan and builds the result.
func (e *engine) execute(ctx context.Context) (*Result, error) {
	wallStart := time.Now()
	if err := e.setup(); err != nil {
		return nil, err
	}
	runCtx, cancelRun := context.WithTimeout(ctx, e.p.Timeout)
	defer cancelRun()
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()
	stopDrain := context.AfterFunc(runCtx, func() { time.AfterFunc(e.o.drain, cancelReq) })
	defer stopDrain()
	e.reqCtx = reqCtx

	before := e.readCounters(ctx)
	stopProgress := e.startProgress()
	if e.virtual != nil {
		e.runVirtual(runCtx)
	} else {
		e.runReal(runCtx)
	}
	partial := runCtx.Err() != nil || e.settleErr != nil
	// A fault must not outlive the load: a paused memcached would stall the
	// settle and the counter reads below.
	e.faults.EndAll(ctx)
	if err := e.settle(ctx, partial); err != nil {
		e.log.Warn().Err(err).Msg("the emulator did not become idle; the run is partial")
		partial = true
	}
	stopProgress()
	e.interrupted = partial
	after := e.readCounters(context.WithoutCancel(ctx))
	if e.prev != nil {
		// A stack the run did not start outlives it: its last window's
		// objects go too.
		_, outlives := e.tgt.(target.Witness)
		e.finishWindow(context.WithoutCancel(ctx), e.prev, outlives)
	}
	e.recordEvictions(after)
	return e.result(partial, before, after, wallStart)
}

// setup builds the recorder, the client, the faults and the sinks of
// finished windows.
func (e *engine) setup() error {
	e.rec = history.NewRecorder()
	if ob, ok := e.tgt.(target.Observable); ok {
		ob.Observe(e.rec)
	}
	ep := e.tgt.Endpoint()
	var clk clock.Clock = clock.Real{}
	if e.virtual != nil {
		clk = e.virtual
	}
	e.cl = client.NewRecording(client.New(ep.IssueURL, ep.APIKey, e.p.Concurrency), e.rec, clk, e.desc.URLExpiry)
	mc, why := memcachedOf(e.tgt)
	e.faults = faults.NewRunner(e.p.Faults, mc, why, e.rec, e.log)
	if err := e.faults.Check(); err != nil {
		return err
	}
	e.checker, e.collector = check.NewChecker(), metrics.NewCollector()
	if e.sched.WindowSize() < e.sched.Total() {
		var err error
		if e.spill, err = newSpill(); err != nil {
			return err
		}
		e.notes = append(e.notes, fmt.Sprintf("tokens ran in windows of %d: each window was judged once nothing was in flight for its URLs",
			e.sched.WindowSize()))
	} else if e.p.Window > 0 && e.p.Window < e.sched.Total() && len(e.p.Faults) > 0 {
		e.notes = append(e.notes, "one window: faults are timed from the start of the run, so every token was issued before the first upload")
	}
	if e.p.Stack.MemcachedMemoryMB > 0 && mc != nil {
		e.notes = append(e.notes, fmt.Sprintf("memcached started with -m %d (MB): memory pressure may evict live tokens", e.p.Stack.MemcachedMemoryMB))
	}
	if _, note := e.p.Stack.UploadMethod(); note != "" {
		e.notes = append(e.notes, note)
	}
	return nil
}

// settle lets the events of the last uploads reach a decision.
func (e *engine) settle(ctx context.Context, partial bool) error {
	s, ok := e.tgt.(target.Settler)
	if !ok {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.settleBound(partial))
	defer cancel()
	return s.Settle(sctx, settleLimit)
}

func (e *engine) settleBound(partial bool) time.Duration {
	if partial {
		return e.o.drain
	}
	return max(e.p.Timeout/2, time.Minute)
}

// counters are the target's operation counters at one moment.
type counters struct {
	s3    metrics.S3Requests
	mc    metrics.MemcachedOps
	evict int64
	mcErr error
}

func (e *engine) readCounters(ctx context.Context) counters {
	c, ok := e.tgt.(target.Counted)
	if !ok {
		return counters{}
	}
	st, err := c.MemcachedStats(ctx)
	return counters{s3: c.S3Requests(), mc: metrics.MemcachedOpsFrom(st), evict: st["evictions"], mcErr: err}
}

// recordEvictions records, when memcached evicted items during the run,
// how many: the checker attributes lost tokens to it. The server's count
// since it started is the run's: the stack is the run's own.
func (e *engine) recordEvictions(after counters) {
	if after.mcErr != nil {
		e.log.Warn().Err(after.mcErr).Msg("reading memcached evictions")
		return
	}
	if after.evict > 0 {
		e.rec.Fault(history.Fault{Kind: plan.RecordedEvictions,
			Note: fmt.Sprintf("%d items evicted under memory pressure", after.evict)})
	}
}
