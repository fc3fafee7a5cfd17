package lambda

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

// The invoker holds a virtual clock from an event's arrival until its
// attempt ends, and lets go while the event waits for its retry timer.
func TestInvokerHoldsTheClockUntilAnAttemptEnds(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	release := make(chan struct{})
	var calls atomic.Int32
	h := func(context.Context, events.S3Event) error {
		if calls.Add(1) == 1 {
			<-release
			return errors.New("boom")
		}
		return nil
	}
	inv := New(v, h, Config{}, zerolog.Nop())
	defer inv.Close()
	inv.Invoke(rec("k"))
	if v.Held() != 1 {
		t.Fatalf("held %d right after Invoke, want 1", v.Held())
	}
	quiet := v.Quiet()
	waitFor(t, "first attempt", func() bool { return calls.Load() == 1 })
	select {
	case <-quiet:
		t.Fatal("quiet while the handler runs")
	default:
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	// Quiet with the event parked on its retry timer.
	if inv.Pending() != 1 || v.Pending() != 1 {
		t.Fatalf("after the failed attempt: invoker pending %d, timers %d; want 1 and 1", inv.Pending(), v.Pending())
	}
	v.Advance(time.Minute)
	if err := v.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || inv.Pending() != 0 {
		t.Fatalf("after the retry: %d calls, %d pending; want 2 and 0", calls.Load(), inv.Pending())
	}
}

func TestCloseReleasesAbandonedEvents(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	release := make(chan struct{})
	h := func(context.Context, events.S3Event) error { <-release; return nil }
	inv := New(v, h, Config{Concurrency: 1}, zerolog.Nop())
	for range 3 {
		inv.Invoke(rec("k"))
	}
	if v.Held() != 3 {
		t.Fatalf("held %d, want 3", v.Held())
	}
	go func() { time.Sleep(10 * time.Millisecond); close(release) }()
	inv.Close()
	if v.Held() != 0 {
		t.Fatalf("held %d after Close, want 0", v.Held())
	}
}
