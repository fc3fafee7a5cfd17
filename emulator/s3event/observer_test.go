package s3event

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

// counter is an Observer that keeps each key's deliveries in flight.
type counter struct {
	mu        sync.Mutex
	inFlight  map[string]int
	scheduled int
	delivered int
	dropped   int
}

func newCounter() *counter { return &counter{inFlight: map[string]int{}} }

func (c *counter) Scheduled(rec events.S3EventRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight[rec.S3.Object.URLDecodedKey]++
	c.scheduled++
}

func (c *counter) Ended(rec events.S3EventRecord, delivered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight[rec.S3.Object.URLDecodedKey]--
	if delivered {
		c.delivered++
	} else {
		c.dropped++
	}
}

// snapshot returns key's count and the totals.
func (c *counter) snapshot(key string) (inFlight, scheduled, delivered, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight[key], c.scheduled, c.delivered, c.dropped
}

func TestQueueObserver(t *testing.T) {
	b := NewBuilder("")
	write := func(key string) events.S3EventRecord {
		return b.Record(Write{EventName: ObjectCreatedPost, Bucket: "b", Key: key, ETag: "e"})
	}
	type want struct{ inFlight, scheduled, delivered, dropped int }
	check := func(t *testing.T, c *counter, key string, w want) {
		t.Helper()
		n, s, d, x := c.snapshot(key)
		if got := (want{n, s, d, x}); got != w {
			t.Fatalf("%s: got %+v, want %+v", key, got, w)
		}
	}
	for _, tc := range []struct {
		name   string
		model  Model
		writes []string
		// before is key k's state when Publish has returned, after once
		// the clock moved 1 min and the deliveries ended.
		before, after want
	}{
		{"undelayed: scheduled and ended within Publish", Model{},
			[]string{"k"}, want{0, 1, 1, 0}, want{0, 1, 1, 0}},
		{"a delayed record is in flight until delivered", Model{Delay: fixedDelay(time.Second)},
			[]string{"k"}, want{1, 1, 0, 0}, want{0, 1, 1, 0}},
		{"a duplicated record counts twice", Model{Delay: fixedDelay(time.Second), Duplicates: 1},
			[]string{"k"}, want{2, 2, 0, 0}, want{0, 2, 2, 0}},
		{"a coalesced write schedules nothing", Model{Delay: fixedDelay(time.Second), Coalesce: true},
			[]string{"k", "k", "other"}, want{1, 2, 0, 0}, want{0, 2, 2, 0}},
		{"a dropped record ends undelivered", Model{Delay: fixedDelay(2 * time.Second), MaxEventAge: time.Second},
			[]string{"k"}, want{1, 1, 0, 0}, want{0, 1, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := clock.NewVirtual(time.Unix(0, 0))
			c := newCounter()
			q := NewQueue(v, func(events.S3EventRecord) {}, tc.model, zerolog.Nop(), WithObserver(c))
			for _, k := range tc.writes {
				q.Publish(write(k))
			}
			check(t, c, "k", tc.before)
			// Delayed deliveries wait on their timers unheld.
			if v.Held() != 0 {
				t.Fatalf("%d works held after Publish", v.Held())
			}
			v.Advance(time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := v.WaitQuiet(ctx); err != nil {
				t.Fatal(err)
			}
			check(t, c, "k", tc.after)
		})
	}
}

func TestQueueHoldsTheClockWhileTheSinkRuns(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	entered, release := make(chan struct{}), make(chan struct{})
	q := NewQueue(v, func(events.S3EventRecord) { close(entered); <-release }, Model{}, zerolog.Nop())
	go q.Publish(NewBuilder("").Record(Write{EventName: ObjectCreatedPut, Bucket: "b", Key: "k"}))
	<-entered
	quiet := v.Quiet()
	select {
	case <-quiet:
		t.Fatal("the clock is quiet while the sink runs")
	default:
	}
	close(release)
	select {
	case <-quiet:
	case <-time.After(5 * time.Second):
		t.Fatal("the clock did not turn quiet after the sink returned")
	}
}
