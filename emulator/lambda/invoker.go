// Package lambda is a Lambda-like asynchronous invoker for S3 notifications.
//
// It keeps what matters to a one-time guard: a concurrency cap (so that
// duplicate events really run at the same time), an internal queue where
// throttled events wait, retries of a failed invocation after 1 and then
// 2 minutes, and a maximum event age after which an event is dropped.
// Every wait runs on the emulator's clock.
package lambda

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

// Defaults follow Lambda's asynchronous invocation, except the concurrency,
// which is small but above 1 so that concurrent duplicates race.
const (
	DefaultConcurrency = 16
	DefaultMaxRetries  = 2
	DefaultMaxEventAge = 6 * time.Hour
	DefaultTimeout     = 30 * time.Second
	MinMaxEventAge     = 60 * time.Second
	MaxMaxEventAge     = 6 * time.Hour
)

// DefaultRetryDelays are the waits before the first and second retry.
var DefaultRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// Handler is the function under invocation: one S3 event, one record.
type Handler func(ctx context.Context, ev events.S3Event) error

// Config sets the invoker's limits. Zero values take the defaults.
type Config struct {
	Concurrency int
	// MaxRetries is 0..2, as MaximumRetryAttempts; use NoRetries for 0,
	// since zero means the default.
	MaxRetries  int
	NoRetries   bool
	RetryDelays []time.Duration
	MaxEventAge time.Duration
	Timeout     time.Duration
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.NoRetries {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if len(c.RetryDelays) == 0 {
		c.RetryDelays = DefaultRetryDelays
	}
	if c.MaxEventAge == 0 {
		c.MaxEventAge = DefaultMaxEventAge
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate checks the ranges Lambda allows.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxRetries < 0 || c.MaxRetries > 2:
		return fmt.Errorf("lambda retries %d: Lambda allows 0 to 2", c.MaxRetries)
	case c.MaxEventAge < MinMaxEventAge || c.MaxEventAge > MaxMaxEventAge:
		return fmt.Errorf("max event age %v: Lambda allows 60s to 6h", c.MaxEventAge)
	case c.Concurrency > 10000:
		return fmt.Errorf("lambda concurrency %d is above 10000", c.Concurrency)
	}
	return nil
}

// Invocation is one call of the handler, reported to observers.
type Invocation struct {
	Record   events.S3EventRecord
	Attempt  int // 1 for the first call
	Received time.Time
	Started  time.Time
	Finished time.Time
	// Duration is the handler's run time on the real clock, whatever clock
	// the invoker runs on: what Lambda bills.
	Duration time.Duration
	Err      error
	// Final is true when no retry follows: success, last attempt, or drop.
	Final bool
}

// Stats counts what the invoker did.
type Stats struct {
	Received    int64 `json:"received"`
	Invocations int64 `json:"invocations"`
	Errors      int64 `json:"errors"`
	Retries     int64 `json:"retries"`
	Throttled   int64 `json:"throttled"`
	DroppedAge  int64 `json:"dropped_max_age"`
	Exhausted   int64 `json:"retries_exhausted"`
	// BilledMS is the handlers' run time as Lambda bills it: each
	// invocation's duration rounded up to a whole millisecond.
	BilledMS int64 `json:"billed_ms"`
}

// BilledMS rounds a run time up to Lambda's 1 ms billing step.
func BilledMS(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}

// Invoker runs a Handler for each received record.
type Invoker struct {
	cfg     Config
	clock   clock.Clock
	handler Handler
	log     zerolog.Logger
	observe func(Invocation)
	// work holds a tracking clock from an event's enqueue until its attempt
	// ends, so the clock is quiet only when every event waits on a timer.
	work clock.Tracker

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []item
	busy    int
	pending int // queued + running + scheduled retries
	stats   Stats
	closed  bool
	wg      sync.WaitGroup
}

type item struct {
	rec      events.S3EventRecord
	attempt  int
	received time.Time
}

// Option configures an Invoker.
type Option func(*Invoker)

// WithObserver calls f after every invocation, from the worker goroutine.
func WithObserver(f func(Invocation)) Option { return func(i *Invoker) { i.observe = f } }

// New starts cfg.Concurrency workers that call h. Close stops them.
func New(clk clock.Clock, h Handler, cfg Config, log zerolog.Logger, opts ...Option) *Invoker {
	i := &Invoker{cfg: cfg.withDefaults(), clock: clk, handler: h, log: log, work: clock.TrackerOf(clk)}
	i.cond = sync.NewCond(&i.mu)
	for _, o := range opts {
		o(i)
	}
	for range i.cfg.Concurrency {
		i.wg.Add(1)
		go i.worker()
	}
	return i
}

// Config returns the effective configuration.
func (i *Invoker) Config() Config { return i.cfg }

// Invoke queues rec for asynchronous invocation, as S3 does. It never blocks
// on the handler.
func (i *Invoker) Invoke(rec events.S3EventRecord) {
	i.enqueue(item{rec: rec, attempt: 1, received: i.clock.Now()}, true)
}

func (i *Invoker) enqueue(it item, fresh bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return
	}
	if fresh {
		i.stats.Received++
		i.pending++
	}
	if i.busy+len(i.queue) >= i.cfg.Concurrency {
		i.stats.Throttled++
	}
	i.queue = append(i.queue, it)
	i.work.Begin()
	i.cond.Signal()
}

func (i *Invoker) worker() {
	defer i.wg.Done()
	for {
		i.mu.Lock()
		for len(i.queue) == 0 && !i.closed {
			i.cond.Wait()
		}
		if i.closed {
			i.mu.Unlock()
			return
		}
		it := i.queue[0]
		i.queue[0] = item{}
		i.queue = i.queue[1:]
		i.busy++
		i.mu.Unlock()

		i.run(it)

		i.mu.Lock()
		i.busy--
		i.work.End() // after run scheduled any retry and observed the end
		i.mu.Unlock()
	}
}

func (i *Invoker) run(it item) {
	now := i.clock.Now()
	inv := Invocation{Record: it.rec, Attempt: it.attempt, Received: it.received, Started: now}
	if now.Sub(it.received) >= i.cfg.MaxEventAge {
		inv.Err = ErrMaxEventAge
		inv.Final = true
		inv.Finished = now
		i.mu.Lock()
		i.stats.DroppedAge++
		i.mu.Unlock()
		i.finish(inv)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), i.cfg.Timeout)
	start := time.Now()
	err := i.call(ctx, it.rec)
	inv.Duration = time.Since(start)
	cancel()
	inv.Err = err
	inv.Finished = i.clock.Now()

	i.mu.Lock()
	i.stats.Invocations++
	i.stats.BilledMS += BilledMS(inv.Duration)
	retry := err != nil && it.attempt <= i.cfg.MaxRetries && !i.closed
	if err != nil {
		i.stats.Errors++
		if retry {
			i.stats.Retries++
		} else {
			i.stats.Exhausted++
		}
	}
	i.mu.Unlock()

	if retry {
		delay := i.cfg.RetryDelays[min(it.attempt-1, len(i.cfg.RetryDelays)-1)]
		next := item{rec: it.rec, attempt: it.attempt + 1, received: it.received}
		i.log.Debug().Err(err).Str("key", it.rec.S3.Object.URLDecodedKey).Int("attempt", it.attempt).
			Dur("retry_in", delay).Msg("invocation failed; retrying")
		i.clock.AfterFunc(delay, func() { i.enqueue(next, false) })
	} else {
		inv.Final = true
	}
	if i.observe != nil {
		i.observe(inv)
	}
	if inv.Final {
		i.done()
	}
}

// call runs the handler and turns a panic into an error, as the Lambda
// runtime reports a crashed function as a function error.
func (i *Invoker) call(ctx context.Context, rec events.S3EventRecord) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrHandlerPanic, p)
			i.log.Error().Str("key", rec.S3.Object.URLDecodedKey).Str("stack", string(debug.Stack())).
				Msgf("verifier panicked: %v", p)
		}
	}()
	return i.handler(ctx, events.S3Event{Records: []events.S3EventRecord{rec}})
}

func (i *Invoker) finish(inv Invocation) {
	if i.observe != nil {
		i.observe(inv)
	}
	i.done()
}

func (i *Invoker) done() {
	i.mu.Lock()
	i.pending--
	if i.pending == 0 {
		i.cond.Broadcast()
	}
	i.mu.Unlock()
}

// Pending returns the events not yet finished: queued, running or waiting
// for a retry.
func (i *Invoker) Pending() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.pending
}

// Busy returns the events queued or running now, leaving out those that
// wait for a retry timer.
func (i *Invoker) Busy() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.queue) + i.busy
}

// Stats returns a snapshot of the counters.
func (i *Invoker) Stats() Stats {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stats
}

// Close stops the workers after the running invocations return. Queued
// events and scheduled retries are abandoned.
func (i *Invoker) Close() {
	i.mu.Lock()
	i.closed = true
	for range i.queue {
		i.work.End() // abandoned: no longer work the clock waits for
	}
	i.queue = nil
	i.cond.Broadcast()
	i.mu.Unlock()
	i.wg.Wait()
}

// Errors reported in Invocation.Err.
var (
	ErrMaxEventAge  = errors.New("event dropped: older than the maximum event age")
	ErrHandlerPanic = errors.New("function panicked")
)
