package lambda

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

func rec(key string) events.S3EventRecord {
	var r events.S3EventRecord
	r.S3.Object.URLDecodedKey = key
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrencyCapAndThrottles(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	h := func(ctx context.Context, _ events.S3Event) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return nil
	}
	inv := New(clock.Real{}, h, Config{Concurrency: 3}, zerolog.Nop())
	defer inv.Close()
	for range 10 {
		inv.Invoke(rec("k"))
	}
	waitFor(t, "3 running", func() bool { return running.Load() == 3 })
	time.Sleep(10 * time.Millisecond)
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3", p)
	}
	close(release)
	waitFor(t, "all done", func() bool { return inv.Pending() == 0 })
	st := inv.Stats()
	if st.Invocations != 10 || st.Throttled < 7 {
		t.Fatalf("stats %+v: want 10 invocations and at least 7 throttled", st)
	}
}

func TestRetriesFollowLambdaTiming(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	var mu sync.Mutex
	var attempts []time.Duration
	h := func(context.Context, events.S3Event) error {
		mu.Lock()
		attempts = append(attempts, v.Now().Sub(time.Unix(0, 0)))
		mu.Unlock()
		return errors.New("boom")
	}
	var final []Invocation
	inv := New(v, h, Config{}, zerolog.Nop(), WithObserver(func(i Invocation) {
		if i.Final {
			mu.Lock()
			final = append(final, i)
			mu.Unlock()
		}
	}))
	defer inv.Close()
	inv.Invoke(rec("k"))
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(attempts) }
	waitFor(t, "first attempt", func() bool { return count() == 1 && inv.Busy() == 0 })
	v.Advance(59 * time.Second)
	time.Sleep(5 * time.Millisecond)
	if count() != 1 {
		t.Fatal("retried before 1 minute")
	}
	v.Advance(time.Second)
	waitFor(t, "second attempt", func() bool { return count() == 2 && inv.Busy() == 0 })
	v.Advance(2 * time.Minute)
	waitFor(t, "third attempt", func() bool { return count() == 3 && inv.Pending() == 0 })
	v.Advance(10 * time.Minute)
	time.Sleep(5 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{0, time.Minute, 3 * time.Minute}
	for i, w := range want {
		if attempts[i] != w {
			t.Fatalf("attempts at %v, want %v", attempts, want)
		}
	}
	if len(attempts) != 3 || len(final) != 1 || final[0].Attempt != 3 {
		t.Fatalf("attempts %v, final %+v: want exactly 3 attempts and one final", attempts, final)
	}
	if st := inv.Stats(); st.Retries != 2 || st.Exhausted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoRetriesAndMaxEventAge(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	var calls atomic.Int32
	h := func(context.Context, events.S3Event) error { calls.Add(1); return errors.New("boom") }
	inv := New(v, h, Config{NoRetries: true}, zerolog.Nop())
	inv.Invoke(rec("k"))
	waitFor(t, "done", func() bool { return inv.Pending() == 0 })
	inv.Close()
	if calls.Load() != 1 {
		t.Fatalf("%d calls with retries off", calls.Load())
	}

	calls.Store(0)
	inv = New(v, h, Config{MaxEventAge: time.Minute}, zerolog.Nop())
	defer inv.Close()
	inv.Invoke(rec("k"))
	waitFor(t, "first", func() bool { return calls.Load() == 1 && inv.Busy() == 0 })
	v.Advance(time.Minute) // the retry is due exactly when the event is 60 s old
	waitFor(t, "dropped", func() bool { return inv.Pending() == 0 })
	if calls.Load() != 1 || inv.Stats().DroppedAge != 1 {
		t.Fatalf("calls %d, stats %+v: the retry should be dropped by age", calls.Load(), inv.Stats())
	}
}

func TestPanicIsAFunctionError(t *testing.T) {
	var got error
	var mu sync.Mutex
	h := func(context.Context, events.S3Event) error { panic("bad handler") }
	inv := New(clock.Real{}, h, Config{NoRetries: true}, zerolog.Nop(), WithObserver(func(i Invocation) { mu.Lock(); got = i.Err; mu.Unlock() }))
	defer inv.Close()
	inv.Invoke(rec("k"))
	waitFor(t, "done", func() bool { return inv.Pending() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(got, ErrHandlerPanic) {
		t.Fatalf("error %v, want ErrHandlerPanic", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{MaxRetries: 3}, {MaxEventAge: 30 * time.Second}, {MaxEventAge: 7 * time.Hour}, {Concurrency: 20000}} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
	if (Config{}).Validate() != nil {
		t.Error("zero config refused")
	}
}

func TestBilledMSRoundsUpToWholeMilliseconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {time.Microsecond, 1}, {time.Millisecond, 1}, {time.Millisecond + 1, 2}, {2200 * time.Microsecond, 3}, {time.Second, 1000}} {
		if got := BilledMS(c.d); got != c.want {
			t.Errorf("BilledMS(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// The billed time is the handler's real run time, also on a virtual clock
// that does not move while the handler runs.
func TestBilledTimeIsTheHandlersRealRunTime(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	h := func(_ context.Context, ev events.S3Event) error {
		if ev.Records[0].S3.Object.URLDecodedKey == "slow" {
			time.Sleep(2200 * time.Microsecond)
		}
		return nil
	}
	var mu sync.Mutex
	var runs []Invocation
	inv := New(v, h, Config{}, zerolog.Nop(), WithObserver(func(i Invocation) { mu.Lock(); runs = append(runs, i); mu.Unlock() }))
	defer inv.Close()
	for _, k := range []string{"slow", "slow", "slow", "fast"} {
		inv.Invoke(rec(k))
	}
	waitFor(t, "done", func() bool { return inv.Pending() == 0 })
	mu.Lock()
	defer mu.Unlock()
	var billed int64
	for _, r := range runs {
		if r.Record.S3.Object.URLDecodedKey == "slow" && r.Duration < 2200*time.Microsecond {
			t.Errorf("slow invocation ran %v, want at least 2.2 ms", r.Duration)
		}
		if !r.Finished.Equal(r.Started) {
			t.Errorf("the virtual clock moved during a run: %v to %v", r.Started, r.Finished)
		}
		billed += BilledMS(r.Duration)
	}
	st := inv.Stats()
	if len(runs) != 4 || st.Invocations != 4 || st.BilledMS != billed || st.BilledMS < 3*3+1 {
		t.Fatalf("%d runs, stats %+v, billed from the runs %d: want 4 invocations billing at least 10 ms in all", len(runs), st, billed)
	}
}
