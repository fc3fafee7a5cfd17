package clock

import (
	"sync"
	"testing"
	"time"
)

func TestVirtualFiresInDeadlineOrder(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := NewVirtual(start)
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	record := func(n int) func() {
		wg.Add(1)
		return func() { mu.Lock(); got = append(got, n); mu.Unlock(); wg.Done() }
	}
	// Scheduled out of order; two share a deadline.
	v.AfterFunc(3*time.Minute, record(3))
	v.AfterFunc(time.Minute, record(1))
	v.AfterFunc(2*time.Minute, record(2))
	stopped := v.AfterFunc(90*time.Second, func() { t.Error("stopped timer fired") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}

	if n := v.Advance(59 * time.Second); n != 0 {
		t.Fatalf("Advance(59s) fired %d timers, want 0", n)
	}
	if n := v.Advance(time.Second); n != 1 {
		t.Fatalf("Advance to 1m fired %d, want 1", n)
	}
	if n := v.Advance(5 * time.Minute); n != 2 {
		t.Fatalf("Advance to 6m fired %d, want 2", n)
	}
	wg.Wait()
	if got := v.Now().Sub(start); got != 6*time.Minute {
		t.Fatalf("clock moved %v, want 6m", got)
	}
	if len(got) != 3 {
		t.Fatalf("fired %v", got)
	}
	if v.Pending() != 0 {
		t.Fatalf("pending %d", v.Pending())
	}
}

func TestVirtualNegativeAdvanceKeepsTime(t *testing.T) {
	start := time.Unix(100, 0)
	v := NewVirtual(start)
	v.Advance(-time.Hour)
	if !v.Now().Equal(start) {
		t.Fatalf("now = %v, want %v", v.Now(), start)
	}
}

func TestVirtualCallbackMaySchedule(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0))
	done := make(chan struct{})
	v.AfterFunc(time.Second, func() {
		v.AfterFunc(time.Second, func() { close(done) })
	})
	v.Advance(time.Second)
	// The nested timer is scheduled from the first callback's goroutine.
	deadline := time.After(5 * time.Second)
	for v.Pending() == 0 {
		select {
		case <-deadline:
			t.Fatal("nested timer never scheduled")
		default:
			time.Sleep(time.Millisecond)
		}
	}
	v.Advance(time.Second)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("nested timer did not fire")
	}
}

func TestParse(t *testing.T) {
	for _, name := range []string{"", "real", "virtual"} {
		if _, ok := Parse(name); !ok {
			t.Errorf("Parse(%q) failed", name)
		}
	}
	if _, ok := Parse("wall"); ok {
		t.Error("Parse(wall) succeeded")
	}
}
