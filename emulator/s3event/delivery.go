package s3event

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

// Sink receives delivered records. The invoker's Invoke is one.
type Sink func(rec events.S3EventRecord)

// Delay is a distribution of notification delays.
type Delay interface {
	Sample(r *rand.Rand) time.Duration
	String() string
}

// ParseDelay reads a delay distribution:
//
//	0 | 250ms          fixed
//	10ms..2s           uniform between the bounds
//	exp:300ms          exponential with that mean
//	aws                what S3 usually does: 99% exponential around 200 ms,
//	                   1% between 30 s and 2 min
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "0":
		return fixedDelay(0), nil
	case s == "aws":
		return awsDelay{}, nil
	case strings.HasPrefix(s, "exp:"):
		mean, err := time.ParseDuration(strings.TrimPrefix(s, "exp:"))
		if err != nil || mean < 0 {
			return nil, fmt.Errorf("event delay %q: exp:MEAN needs a non-negative duration", s)
		}
		return expDelay(mean), nil
	case strings.Contains(s, ".."):
		lo, hi, _ := strings.Cut(s, "..")
		a, err1 := time.ParseDuration(lo)
		b, err2 := time.ParseDuration(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("event delay %q: MIN..MAX needs two durations with 0 <= MIN <= MAX", s)
		}
		return uniformDelay{a, b}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("event delay %q: want a duration (250ms), MIN..MAX, exp:MEAN or aws", s)
	}
	return fixedDelay(d), nil
}

type fixedDelay time.Duration

func (d fixedDelay) Sample(*rand.Rand) time.Duration { return time.Duration(d) }
func (d fixedDelay) String() string                  { return time.Duration(d).String() }

type uniformDelay struct{ lo, hi time.Duration }

func (d uniformDelay) Sample(r *rand.Rand) time.Duration {
	if d.hi == d.lo {
		return d.lo
	}
	return d.lo + time.Duration(r.Int64N(int64(d.hi-d.lo)+1))
}
func (d uniformDelay) String() string { return d.lo.String() + ".." + d.hi.String() }

type expDelay time.Duration

func (d expDelay) Sample(r *rand.Rand) time.Duration {
	v := r.ExpFloat64() * float64(d)
	if v > float64(math.MaxInt64/2) {
		v = float64(math.MaxInt64 / 2)
	}
	return time.Duration(v)
}
func (d expDelay) String() string { return "exp:" + time.Duration(d).String() }

type awsDelay struct{}

func (awsDelay) Sample(r *rand.Rand) time.Duration {
	if r.Float64() < 0.01 {
		return uniformDelay{30 * time.Second, 2 * time.Minute}.Sample(r)
	}
	return expDelay(200 * time.Millisecond).Sample(r)
}
func (awsDelay) String() string { return "aws" }

// Model is the delivery fault model. The zero Model delivers every record
// once, at once, in order.
type Model struct {
	// Delay of each delivery; nil means none.
	Delay Delay
	// Duplicates is the chance of one extra delivery of a record, 0..1;
	// 1 delivers every record twice.
	Duplicates float64
	// ReorderWindow adds a uniform random extra delay in [0, window) to every
	// delivery, so records published within the window swap places.
	ReorderWindow time.Duration
	// Coalesce folds a write into a still-undelivered record of the same
	// key on an unversioned bucket, as S3 may for concurrent writes: one
	// record is sent, the earlier write's, while the object now holds the
	// later write's bytes.
	Coalesce bool
	// MaxEventAge drops deliveries whose delay reaches it; zero keeps all.
	MaxEventAge time.Duration
	// Seed of the random source; the queue logs it.
	Seed uint64
}

// Validate reports the first bad field.
func (m Model) Validate() error {
	switch {
	case m.Duplicates < 0 || m.Duplicates > 1 || math.IsNaN(m.Duplicates):
		return errors.New("event duplicates must be a probability between 0 and 1")
	case m.ReorderWindow < 0:
		return errors.New("event reorder window must not be negative")
	case m.MaxEventAge < 0:
		return errors.New("max event age must not be negative")
	}
	return nil
}

// Stats counts what the queue did.
type Stats struct {
	Published  int64 `json:"published"`
	Delivered  int64 `json:"delivered"`
	Duplicated int64 `json:"duplicated"`
	Coalesced  int64 `json:"coalesced"`
	Dropped    int64 `json:"dropped"`
}

// Observer hears of every delivery the queue schedules and of its end, so
// that a caller can tell which keys still have events on their way.
//
// Scheduled is called once per delivery (a duplicated record is two) before
// Publish returns; a coalesced write schedules none. Ended is called once
// per delivery after the sink has returned, or with delivered false when the
// delivery was dropped for its age. Both are called without the queue's
// lock held, and MUST NOT call back into the queue.
type Observer interface {
	Scheduled(rec events.S3EventRecord)
	Ended(rec events.S3EventRecord, delivered bool)
}

// Option configures a Queue.
type Option func(*Queue)

// WithObserver reports every delivery's start and end to o.
func WithObserver(o Observer) Option { return func(q *Queue) { q.observer = o } }

type noObserver struct{}

func (noObserver) Scheduled(events.S3EventRecord)   {}
func (noObserver) Ended(events.S3EventRecord, bool) {}

var _ Observer = noObserver{}

// Queue applies a Model between the fake S3 and a Sink.
//
// On a clock that is a clock.Tracker, the queue holds the clock while
// Publish runs, so that a record on its way to a timer or to the sink keeps
// the clock from looking quiet; a delayed delivery waits on its timer
// unheld, and the timer's callback counts as running while it calls the
// sink.
type Queue struct {
	model    Model
	clock    clock.Clock
	work     clock.Tracker
	sink     Sink
	observer Observer

	mu      sync.Mutex
	rng     *rand.Rand
	pending map[string]*pendingRecord // by bucket/key, for coalescing
	stats   Stats
	inQueue int
}

type pendingRecord struct {
	rec events.S3EventRecord
}

// NewQueue returns a queue that delivers to sink on clk.
func NewQueue(clk clock.Clock, sink Sink, m Model, log zerolog.Logger, opts ...Option) *Queue {
	q := &Queue{
		model:    m,
		clock:    clk,
		work:     clock.TrackerOf(clk),
		sink:     sink,
		observer: noObserver{},
		rng:      rand.New(rand.NewPCG(m.Seed, 0x5eed0e7e)),
		pending:  make(map[string]*pendingRecord),
	}
	for _, o := range opts {
		o(q)
	}
	delay := "0"
	if m.Delay != nil {
		delay = m.Delay.String()
	}
	log.Info().Uint64("seed", m.Seed).Str("delay", delay).Float64("duplicates", m.Duplicates).
		Dur("reorder_window", m.ReorderWindow).Bool("coalesce", m.Coalesce).
		Dur("max_event_age", m.MaxEventAge).Msg("event delivery model")
	return q
}

// Publish hands a record to the model. Without delay and faults it calls the
// sink before returning. Every delivery it schedules is reported to the
// Observer before it returns.
func (q *Queue) Publish(rec events.S3EventRecord) {
	q.work.Begin()
	defer q.work.End()
	q.mu.Lock()
	q.stats.Published++
	immediate := q.model.Delay == nil && q.model.ReorderWindow == 0 && q.model.Duplicates == 0
	if immediate {
		q.stats.Delivered++
		q.mu.Unlock()
		q.observer.Scheduled(rec)
		q.sink(rec)
		q.observer.Ended(rec, true)
		return
	}
	id := rec.S3.Bucket.Name + "/" + rec.S3.Object.URLDecodedKey
	if q.model.Coalesce && rec.S3.Object.VersionID == "" && IsCreated(rec.EventName) {
		if _, ok := q.pending[id]; ok {
			q.stats.Coalesced++
			q.mu.Unlock()
			return
		}
	}
	copies := 1
	if q.model.Duplicates > 0 && q.rng.Float64() < q.model.Duplicates {
		copies = 2
		q.stats.Duplicated++
	}
	p := &pendingRecord{rec: rec}
	if q.model.Coalesce {
		q.pending[id] = p
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = q.sampleLocked()
	}
	q.inQueue += copies
	q.mu.Unlock()

	for range copies {
		q.observer.Scheduled(rec)
	}
	for i, d := range delays {
		first := i == 0
		if d <= 0 {
			// Not a timer: on a virtual clock it would wait for the next
			// Advance, and an undelayed event should not.
			q.deliver(id, p, d, first)
			continue
		}
		q.clock.AfterFunc(d, func() { q.deliver(id, p, d, first) })
	}
}

func (q *Queue) sampleLocked() time.Duration {
	var d time.Duration
	if q.model.Delay != nil {
		d = q.model.Delay.Sample(q.rng)
	}
	if w := q.model.ReorderWindow; w > 0 {
		d += time.Duration(q.rng.Int64N(int64(w)))
	}
	return d
}

func (q *Queue) deliver(id string, p *pendingRecord, delay time.Duration, first bool) {
	q.mu.Lock()
	if first && q.pending[id] == p {
		delete(q.pending, id)
	}
	rec := p.rec
	drop := q.model.MaxEventAge > 0 && delay >= q.model.MaxEventAge
	if drop {
		q.stats.Dropped++
	} else {
		q.stats.Delivered++
	}
	q.mu.Unlock()
	if !drop {
		q.sink(rec)
	}
	q.mu.Lock()
	q.inQueue--
	q.mu.Unlock()
	q.observer.Ended(rec, !drop)
}

// InFlight returns the number of scheduled, undelivered records.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inQueue
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// ParseProbability reads "0.25" or "25%".
func ParseProbability(s string) (float64, error) {
	s = strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSuffix(s, "%"), 100
	}
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(p) {
		return 0, fmt.Errorf("%q is not a probability", s)
	}
	p /= scale
	if p < 0 || p > 1 {
		return 0, fmt.Errorf("probability %v is outside 0..1", p)
	}
	return p, nil
}
