package clock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrSettleLimit is returned by Settle when done is still false and the next
// timer lies beyond the limit of virtual time.
var ErrSettleLimit = errors.New("virtual time limit reached")

// Settle drives v forward timer by timer until done reports true. Before
// each step it waits for the clock to be quiet, so that fired callbacks and
// the work they start can schedule further timers; only then is the next
// deadline the next thing to happen. It moves v by at most limit of virtual
// time.
//
// done is called each time the clock has been seen quiet. If done is false, the clock
// is quiet and no timer is pending, Settle waits for a timer or work to
// appear (a request from outside may still be on its way) until ctx ends.
//
// The error wraps ErrSettleLimit or ctx's error and names what the clock
// still has pending.
func Settle(ctx context.Context, v *Virtual, done func() bool, limit time.Duration) error {
	start := v.Now()
	for {
		if err := v.WaitQuiet(ctx); err != nil {
			return v.pendingError(start, err)
		}
		changed := v.changes()
		if done() {
			return nil
		}
		next, ok := v.NextDeadline()
		if !ok {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return v.pendingError(start, ctx.Err())
			}
		}
		if next.Sub(start) > limit {
			return v.pendingError(start, fmt.Errorf("%w: next timer at +%v, limit %v", ErrSettleLimit, next.Sub(start), limit))
		}
		v.Advance(max(0, next.Sub(v.Now())))
	}
}

// StepTo moves v to target timer by timer, waiting for quiet before each
// step and once at target, so that retries and delayed deliveries happen at
// their own virtual times and everything due by target has run when it
// returns. A target in the past only waits for quiet.
func StepTo(ctx context.Context, v *Virtual, target time.Time) error {
	for {
		if err := v.WaitQuiet(ctx); err != nil {
			return err
		}
		next, ok := v.NextDeadline()
		if !ok || next.After(target) {
			v.Advance(max(0, target.Sub(v.Now())))
			return v.WaitQuiet(ctx)
		}
		v.Advance(max(0, next.Sub(v.Now())))
	}
}

// pendingError wraps err with what the clock still has to do.
func (v *Virtual) pendingError(start time.Time, err error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return fmt.Errorf("clock not settled after %v of virtual time (%d timers pending, %d callbacks running, %d works held): %w",
		v.now.Sub(start), len(v.timers), v.active, v.held, err)
}
