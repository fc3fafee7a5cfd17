package emulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A key's events count as in flight from before its upload returns until
// they are decided, whatever waits on the virtual clock meanwhile.
func TestKeysDoneAndWaitKeysOnTheVirtualClock(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Delivery = s3event.Model{Delay: mustDelay(t, "90s")}
	})
	other := s.uploadAll(t, "other")
	s.settle(t)
	key := s.uploadAll(t, "body")
	keys := []string{other, key}
	if s.KeysDone(keys) || s.Idle() {
		t.Fatal("done right after the upload returned, with its event delayed 90s")
	}
	if !s.KeysDone([]string{other, "uploads/never-written"}) {
		t.Fatal("settled and unwritten keys are not done")
	}
	if err := s.WaitKeys(ctxFor(t), keys); !errors.Is(err, emulator.ErrNeedsClock) {
		t.Fatalf("WaitKeys with the event on a timer = %v, want ErrNeedsClock", err)
	}
	s.settle(t)
	if !s.KeysDone(keys) || s.tally(key).accepted != 1 {
		t.Fatalf("after Settle: done %v, tally %+v", s.KeysDone(keys), s.tally(key))
	}
	if err := s.WaitKeys(ctxFor(t), keys); err != nil {
		t.Fatal(err)
	}
}

// Every failed attempt parks the event on a retry timer; the key is done
// only when the retries are exhausted.
func TestWaitKeysThroughRetries(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) { o.FunctionErrorRate = 1 })
	key := s.uploadAll(t, "body")
	// The first attempt runs at once; each failure parks the event on a
	// retry timer, 1 and then 2 minutes long.
	for retry := 1; retry <= 2; retry++ {
		if err := s.WaitKeys(ctxFor(t), []string{key}); !errors.Is(err, emulator.ErrNeedsClock) {
			t.Fatalf("before retry %d: WaitKeys = %v, want ErrNeedsClock", retry, err)
		}
		next, ok := s.clock.NextDeadline()
		if !ok {
			t.Fatalf("before retry %d: no retry timer", retry)
		}
		if err := clock.StepTo(ctxFor(t), s.clock, next); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitKeys(ctxFor(t), []string{key}); err != nil {
		t.Fatalf("after the last retry: %v", err)
	}
	if st := s.Invoker.Stats(); st.Invocations != 3 || st.Exhausted != 1 {
		t.Fatalf("invoker stats %+v: want 3 invocations, 1 exhausted", st)
	}
}

// Both copies of a duplicated record count: the key is not done while the
// later copy waits, though the earlier one is decided.
func TestKeysDoneCountsDuplicates(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Delivery = s3event.Model{Duplicates: 1, Delay: mustDelay(t, "1s..60s"), Seed: 5}
	})
	key := s.uploadAll(t, "body")
	first, _ := s.clock.NextDeadline()
	if err := clock.StepTo(ctxFor(t), s.clock, first); err != nil {
		t.Fatal(err)
	}
	if n := s.eventsFor(t, key); n != 1 || s.clock.Pending() != 1 {
		t.Fatalf("after the first copy: %d delivered, %d timers; want 1 and 1", n, s.clock.Pending())
	}
	if s.KeysDone([]string{key}) {
		t.Fatal("done with the second copy still on its way")
	}
	s.settle(t)
	if !s.KeysDone([]string{key}) || s.eventsFor(t, key) != 2 {
		t.Fatalf("after Settle: done %v, %d events", s.KeysDone([]string{key}), s.eventsFor(t, key))
	}
}

// A coalesced write adds no delivery, so it adds nothing to wait for.
func TestKeysDoneWithCoalescing(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Delivery = s3event.Model{Delay: mustDelay(t, "2s"), Coalesce: true}
	})
	key := s.uploadAll(t, "first", "second")
	if s.KeysDone([]string{key}) {
		t.Fatal("done with the event delayed")
	}
	s.settle(t)
	if !s.KeysDone([]string{key}) || s.Queue.Stats().Coalesced != 1 {
		t.Fatalf("after Settle: done %v, queue %+v", s.KeysDone([]string{key}), s.Queue.Stats())
	}
}

// On the real clock WaitKeys and WaitIdle wait for the events themselves.
func TestWaitKeysOnTheRealClock(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Clock = clock.Real{}
		o.Delivery = s3event.Model{Delay: mustDelay(t, "50ms")}
	})
	key := s.uploadAll(t, "body")
	if s.KeysDone([]string{key}) {
		t.Fatal("done right after the upload, with its event delayed 50ms")
	}
	if err := s.WaitKeys(ctxFor(t), []string{key}); err != nil {
		t.Fatal(err)
	}
	if s.tally(key).accepted != 1 {
		t.Fatalf("WaitKeys returned before the decision: %+v", s.tally(key))
	}
	other := s.uploadAll(t, "other")
	if err := s.WaitIdle(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if s.tally(other).accepted != 1 {
		t.Fatalf("WaitIdle returned before the decision: %+v", s.tally(other))
	}
}
