// Package clock is the one time source shared by every part of the emulator:
// presign and policy expiry, token deadlines, event delays and Lambda retries.
//
// Two implementations exist. Real follows the wall clock. Virtual stands still
// until Advance moves it, firing every timer that falls due in time order, so
// a scenario can wait 40 s or 3 min of "AWS time" in microseconds.
//
// Both are safe for concurrent use.
package clock

import (
	"container/heap"
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

var (
	_ Clock = Real{}
	_ Clock = (*Virtual)(nil)
)

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
	// active counts fired callbacks that have not returned yet.
	active int64
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
	return t
}

// Advance moves the clock forward by d (negative d is treated as zero) and
// fires every timer due by the new time. It returns the number fired.
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
	v.mu.Unlock()
	for _, t := range due {
		v.mu.Lock()
		v.active++
		v.mu.Unlock()
		go func() {
			defer func() {
				v.mu.Lock()
				v.active--
				v.mu.Unlock()
			}()
			t.f()
		}()
	}
	return len(due)
}

// Running returns the number of fired callbacks still running.
func (v *Virtual) Running() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return int(v.active)
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
