package faults

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Timeout bounds one injection (a container restart is the slowest).
const Timeout = time.Minute

// Runner applies a plan's faults to one memcached, each at most once, and
// ends those with a duration; every step is recorded in the history.
type Runner struct {
	faults []plan.Fault
	fps    []Failpoint
	mc     Memcached // nil: the strategy keeps no tokens
	why    string    // why mc is nil
	rec    *history.Recorder
	log    zerolog.Logger

	mu        sync.Mutex
	applied   []bool
	ended     []bool
	restarted bool
}

// NewRunner prepares faults for mc. A nil mc (a strategy that keeps no
// tokens) records every fault as not applied, with why.
func NewRunner(faults []plan.Fault, mc Memcached, why string, rec *history.Recorder, log zerolog.Logger) *Runner {
	r := &Runner{faults: faults, mc: mc, why: why, rec: rec, log: log,
		applied: make([]bool, len(faults)), ended: make([]bool, len(faults))}
	for _, f := range faults {
		r.fps = append(r.fps, New(f))
	}
	return r
}

// Check refuses, before any load runs, faults the provider cannot take.
func (r *Runner) Check() error {
	if r.mc == nil {
		return nil
	}
	for _, f := range r.faults {
		if err := Supports(f.Kind, r.mc.Kind()); err != nil {
			return err
		}
	}
	return nil
}

// ApplyDue applies, in order, every fault due by offset off, then ends
// every fault whose duration is over by then.
func (r *Runner) ApplyDue(ctx context.Context, off time.Duration) {
	for i, f := range r.faults {
		if f.At <= off {
			r.Apply(ctx, i)
		}
	}
	for i, f := range r.faults {
		if end, ok := f.Ends(); ok && end <= off {
			r.End(ctx, i)
		}
	}
}

// Apply applies fault i unless it was applied.
func (r *Runner) Apply(ctx context.Context, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied[i] {
		return
	}
	r.applied[i] = true
	f := r.faults[i]
	rec := history.Fault{Kind: f.Kind, At: f.At}
	if r.mc == nil {
		// Err, not Note: nothing was injected, so nothing may be explained by it.
		rec.Err, rec.Skipped = "not applied: "+r.why, true
		r.rec.Fault(rec)
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	note, err := r.fps[i].Inject(fctx, r.mc)
	rec.Note = note
	if f.Kind == plan.FaultMemcachedRestart || f.Kind == plan.FaultMemcachedRemoveNode {
		r.restarted = true // counters started again, or left with a node
	}
	if err != nil {
		rec.Err = err.Error()
		r.ended[i] = true // nothing to undo
		r.log.Error().Err(err).Str("fault", f.Kind).Msg("fault injection failed")
	} else {
		r.log.Info().Str("fault", f.Kind).Dur("at", f.At).Msg("fault injected")
	}
	r.rec.Fault(rec)
}

// End undoes fault i when it has an end and is in force.
func (r *Runner) End(ctx context.Context, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ender, ok := r.fps[i].(Ender)
	end, timed := r.faults[i].Ends()
	if !ok || !timed || !r.applied[i] || r.ended[i] || r.mc == nil {
		return
	}
	r.ended[i] = true
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	note, err := ender.End(fctx, r.mc)
	rec := history.Fault{Kind: plan.RecordedFaultEnd, At: end, Note: note}
	if err != nil {
		rec.Err = err.Error()
		r.log.Error().Err(err).Str("fault", r.faults[i].Kind).Msg("ending a fault failed")
	}
	r.rec.Fault(rec)
}

// EndAll ends every fault still in force, so that settling and the final
// counter reads never wait on a paused server.
func (r *Runner) EndAll(ctx context.Context) {
	for i := range r.faults {
		r.End(ctx, i)
	}
}

// Restarted reports whether a restart was injected, or a node removed: the
// server's counters started again from zero, or some went with the node.
func (r *Runner) Restarted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarted
}
