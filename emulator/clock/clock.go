// Package clock is the one time source shared by every part of the emulator:
// presign and policy expiry, token deadlines, event delays and Lambda retries.
//
// Two implementations exist. Real follows the wall clock. Virtual stands still
// until Advance moves it, firing every timer that falls due in time order, so
// a scenario can wait 40 s or 3 min of "AWS time" in microseconds.
//
// Both are safe for concurrent use.
//
// A Virtual clock also knows when it is quiet: no fired callback is running
// and no part of the emulator holds work it can still do (see Tracker).
// Quiet means nothing will happen until the clock moves, so Settle and
// StepTo wait for that signal before each step instead of polling.
package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock tells the time and schedules callbacks.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled callback. Stop reports whether it prevented the call.
type Timer interface {
	Stop() bool
}

// Tracker is the optional capability of a clock that tells when it is
// quiet. Parts that do work outside the clock's own callbacks (a delivery
// handed to its sink, an invocation queued or running) call Begin when such
// work becomes runnable and End once it is done or parked on a timer, so
// that the clock is quiet only when nothing will happen until it moves.
//
// Every Begin MUST be matched by exactly one End. Work that waits on a timer
// MUST NOT be held: the clock cannot move while it waits for quiet.
type Tracker interface {
	Begin()
	End()
}

var (
	_ Clock   = Real{}
	_ Clock   = (*Virtual)(nil)
	_ Tracker = (*Virtual)(nil)
	_ Tracker = noTracker{}
)

// TrackerOf returns c's Tracker, or one that does nothing when c has none
// (the real clock: its timers fire on their own, nobody waits for quiet).
func TrackerOf(c Clock) Tracker {
	if t, ok := c.(Tracker); ok {
		return t
	}
	return noTracker{}
}

type noTracker struct{}

func (noTracker) Begin() {}
func (noTracker) End()   {}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now.
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Since is here so that Real satisfies gofakes3.TimeSource.
func (Real) Since(t time.Time) time.Duration { return time.Since(t) }

// Virtual is a clock that moves only when told to.
//
// Timers that fall due during Advance are fired in deadline order (ties in
// scheduling order); each callback runs in its own goroutine, as with
// time.AfterFunc, so a callback may schedule further timers.
type Virtual struct {
	mu     sync.Mutex
	now    time.Time
	timers timerHeap
	seq    uint64
	// active counts fired callbacks that have not returned yet; held counts
	// Begin calls not yet matched by End.
	active int64
	held   int64
	// quiet is closed when active+held drops to zero; it is made only when
	// someone waits, so that Begin and End cost no allocation otherwise.
	quiet chan struct{}
	// changed is closed when a timer is scheduled or work begins; made only
	// when Settle waits for either.
	changed chan struct{}
}

// NewVirtual returns a virtual clock that starts at start.
func NewVirtual(start time.Time) *Virtual {
	return &Virtual{now: start}
}

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// Since returns the virtual time elapsed since t.
func (v *Virtual) Since(t time.Time) time.Duration { return v.Now().Sub(t) }

// AfterFunc schedules f at Now()+d. A d of zero or less fires at the next
// Advance (including Advance(0)).
func (v *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	t := &virtualTimer{clock: v, at: v.now.Add(d), seq: v.seq, f: f, index: -1}
	heap.Push(&v.timers, t)
	v.signalChangeLocked()
	return t
}

// Advance moves the clock forward by d (negative d is treated as zero) and
// fires every timer due by the new time. It returns the number fired.
//
// The fired callbacks count as running from the moment they are taken off
// the heap, so the clock is never quiet between Advance and their start.
func (v *Virtual) Advance(d time.Duration) int {
	if d < 0 {
		d = 0
	}
	v.mu.Lock()
	target := v.now.Add(d)
	var due []*virtualTimer
	for len(v.timers) > 0 && !v.timers[0].at.After(target) {
		t := heap.Pop(&v.timers).(*virtualTimer)
		due = append(due, t)
	}
	v.now = target
	v.active += int64(len(due))
	v.mu.Unlock()
	for _, t := range due {
		go func() {
			defer v.done(&v.active)
			t.f()
		}()
	}
	return len(due)
}

// Begin marks work in progress: the clock is not quiet until the matching
// End.
func (v *Virtual) Begin() {
	v.mu.Lock()
	v.held++
	v.signalChangeLocked()
	v.mu.Unlock()
}

// End marks the end of work begun with Begin. An End without a Begin is
// ignored rather than driving the count negative.
func (v *Virtual) End() { v.done(&v.held) }

// done decrements *n (active or held) and wakes quiet waiters at zero.
func (v *Virtual) done(n *int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if *n <= 0 {
		return
	}
	*n--
	if v.active+v.held == 0 && v.quiet != nil {
		close(v.quiet)
		v.quiet = nil
	}
}

// changes returns a channel closed at the next AfterFunc or Begin.
func (v *Virtual) changes() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

func (v *Virtual) signalChangeLocked() {
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
}

// closed is the channel Quiet returns when the clock is quiet already.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Quiet returns a channel that is closed once no fired callback runs and no
// work is held; it is closed already if that is so now. The clock may turn
// busy again right after: a receive says it was quiet at some instant.
func (v *Virtual) Quiet() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.active+v.held == 0 {
		return closed
	}
	if v.quiet == nil {
		v.quiet = make(chan struct{})
	}
	return v.quiet
}

// WaitQuiet blocks until the clock is quiet or ctx ends, without polling.
func (v *Virtual) WaitQuiet(ctx context.Context) error {
	q := v.Quiet()
	select {
	case <-q:
		return nil // quiet wins over an ended ctx
	default:
	}
	select {
	case <-q:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running returns the number of fired callbacks still running.
func (v *Virtual) Running() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return int(v.active)
}

// Held returns the number of Begin calls not yet matched by End.
func (v *Virtual) Held() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return int(v.held)
}

// Pending returns how many timers wait to fire.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.timers)
}

// NextDeadline returns the deadline of the earliest pending timer.
func (v *Virtual) NextDeadline() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.timers) == 0 {
		return time.Time{}, false
	}
	return v.timers[0].at, true
}

type virtualTimer struct {
	clock *Virtual
	at    time.Time
	seq   uint64
	f     func()
	index int
}

func (t *virtualTimer) Stop() bool {
	v := t.clock
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&v.timers, t.index)
	return true
}

type timerHeap []*virtualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*virtualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}

// Parse turns "real" or "virtual" into a Clock. The virtual clock starts at
// the wall-clock time, so that presigned dates look plausible.
func Parse(name string) (Clock, bool) {
	switch name {
	case "real", "":
		return Real{}, true
	case "virtual":
		return NewVirtual(time.Now().UTC().Truncate(time.Second)), true
	}
	return nil, false
}
