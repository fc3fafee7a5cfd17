package clock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// isClosed reports whether ch is closed now, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestQuietFollowsBeginAndEnd(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0))
	if !isClosed(v.Quiet()) {
		t.Fatal("a new clock is not quiet")
	}
	v.Begin()
	v.Begin()
	q := v.Quiet()
	v.End()
	if isClosed(q) {
		t.Fatal("quiet with one Begin still held")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.WaitQuiet(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitQuiet with a held Begin = %v, want deadline exceeded", err)
	}
	v.End()
	// The signal is given by End itself: no poller has to notice it later.
	if !isClosed(q) {
		t.Fatal("quiet channel not closed when End returned")
	}
	if err := v.WaitQuiet(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.End() // unmatched: ignored
	if v.Held() != 0 || !isClosed(v.Quiet()) {
		t.Fatalf("after an unmatched End: held %d", v.Held())
	}
}

func TestWaitQuietBlocksWhileACallbackRuns(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0))
	release := make(chan struct{})
	v.AfterFunc(time.Second, func() { <-release })
	if !isClosed(v.Quiet()) {
		t.Fatal("a pending timer alone makes the clock busy")
	}
	if n := v.Advance(time.Second); n != 1 {
		t.Fatalf("fired %d", n)
	}
	if v.Running() != 1 || isClosed(v.Quiet()) {
		t.Fatalf("right after Advance: running %d, quiet %v", v.Running(), isClosed(v.Quiet()))
	}
	got := make(chan error, 1)
	go func() { got <- v.WaitQuiet(context.Background()) }()
	select {
	case err := <-got:
		t.Fatalf("WaitQuiet returned %v while the callback runs", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitQuiet did not return after the callback did")
	}
}

// worker stands in for the invoker: a fired timer hands work to a goroutine
// that holds the clock, and that work may schedule the next timer.
type worker struct {
	v     *Virtual
	start time.Time
	mu    sync.Mutex
	at    []time.Duration
}

func (w *worker) fire(next ...time.Duration) func() {
	return func() {
		w.v.Begin()
		go func() {
			defer w.v.End()
			time.Sleep(time.Millisecond) // work outside the callback
			w.mu.Lock()
			w.at = append(w.at, w.v.Now().Sub(w.start))
			w.mu.Unlock()
			if len(next) > 0 {
				w.v.AfterFunc(next[0], w.fire(next[1:]...))
			}
		}()
	}
}

func (w *worker) times() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.at...)
}

func TestSettleRunsEachTimerAtItsTime(t *testing.T) {
	start := time.Unix(0, 0)
	v := NewVirtual(start)
	w := &worker{v: v, start: start}
	// Attempts after 0, 1 and then 2 more minutes, as Lambda retries.
	v.AfterFunc(0, w.fire(time.Minute, 2*time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Settle(ctx, v, func() bool { return len(w.times()) == 3 }, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, time.Minute, 3 * time.Minute}
	got := w.times()
	if len(got) != len(want) {
		t.Fatalf("ran at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran at %v, want %v", got, want)
		}
	}
	if v.Now().Sub(start) != 3*time.Minute {
		t.Fatalf("clock at +%v, want +3m", v.Now().Sub(start))
	}
}

func TestSettleLimitAndContext(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0))
	v.AfterFunc(10*time.Minute, func() {})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Settle(ctx, v, func() bool { return false }, 5*time.Minute)
	if !errors.Is(err, ErrSettleLimit) {
		t.Fatalf("Settle past its limit = %v, want ErrSettleLimit", err)
	}
	if v.Pending() != 1 || v.Now() != time.Unix(0, 0) {
		t.Fatalf("Settle moved past its limit: pending %d, now %v", v.Pending(), v.Now())
	}

	// Busy forever: the context ends the wait.
	v.Begin()
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := Settle(short, v, func() bool { return true }, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Settle on a busy clock = %v, want deadline exceeded", err)
	}
	v.End()
}

func TestSettleWaitsForWorkFromOutside(t *testing.T) {
	start := time.Unix(0, 0)
	v := NewVirtual(start)
	w := &worker{v: v, start: start}
	// Quiet, no timer and not done: Settle waits until a request from
	// outside schedules something.
	go func() {
		time.Sleep(10 * time.Millisecond)
		v.AfterFunc(time.Second, w.fire())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Settle(ctx, v, func() bool { return len(w.times()) == 1 }, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := w.times(); got[0] != time.Second {
		t.Fatalf("ran at %v, want 1s", got)
	}
}

func TestStepTo(t *testing.T) {
	start := time.Unix(0, 0)
	v := NewVirtual(start)
	w := &worker{v: v, start: start}
	v.AfterFunc(time.Second, w.fire(time.Second, 10*time.Second))
	v.AfterFunc(5*time.Second, w.fire())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The timer at the target itself runs, and the work it starts ends,
	// before StepTo returns.
	if err := StepTo(ctx, v, start.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := w.times()
	if len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Fatalf("ran at %v by +2s, want [1s 2s]", got)
	}
	if v.Now().Sub(start) != 2*time.Second || v.Pending() != 2 {
		t.Fatalf("at +%v with %d pending, want +2s with 2", v.Now().Sub(start), v.Pending())
	}
	if err := StepTo(ctx, v, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got = w.times()
	if len(got) != 4 || got[2] != 5*time.Second || got[3] != 12*time.Second {
		t.Fatalf("ran at %v by +1m, want [1s 2s 5s 12s]", got)
	}
}
