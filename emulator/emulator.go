// Package emulator wires the stand-ins for AWS around the one-time logic:
// the fake S3, the S3 event delivery model, the Lambda-like invoker, the
// API Gateway-like issue endpoint and the inspection API, all on one clock.
//
//	issue API ──► onetime.Issuer ──► memcached (or nothing, for S3 strategies)
//	client ──► fake S3 ──► s3event.Queue ──► lambda.Invoker ──► onetime.Verifier
//
// One http.Handler serves S3 path-style requests, /<stage>/getpresignedurl,
// /_uploadonce/ and /metrics.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Defaults.
const (
	DefaultBucket    = "uploadonce"
	DefaultStrategy  = onetime.CAS
	DefaultLogLength = 100_000
)

// Config configures an Emulator. Endpoint is required; Cache is required for
// the memcached strategies.
type Config struct {
	// Endpoint is the base URL clients use, e.g. http://127.0.0.1:4566. It
	// goes into presigned URLs.
	Endpoint string
	Bucket   string
	Stage    string
	APIKey   string
	Region   string

	AccessKeyID     string
	SecretAccessKey string

	Strategy  string
	Method    onetime.Method
	URLExpiry time.Duration
	TokenTTL  time.Duration
	// KeepRejected leaves rejected uploads in place, as the reference does.
	KeepRejected bool

	Clock    clock.Clock
	Cache    onetime.Cache
	Memcache MemcachedInfo
	Delivery s3event.Model
	Lambda   lambda.Config
	Logger   zerolog.Logger
	// LogLength bounds the in-memory decision and event logs.
	LogLength int
	// MaxObjectBytes bounds one upload; fakes3's default when zero.
	MaxObjectBytes int64
	// FunctionErrorRate fails that fraction of verifier invocations before
	// they run, as a crashed or timed-out Lambda would, so that retries can
	// be exercised. The choice is seeded by Delivery.Seed.
	FunctionErrorRate float64
}

// MemcachedInfo describes the memcached behind Cache, for health and reports.
type MemcachedInfo struct {
	Kind  string   `json:"kind"`
	Addrs []string `json:"addrs"`
}

// Emulator is a running emulated stack.
type Emulator struct {
	cfg      Config
	clock    clock.Clock
	log      zerolog.Logger
	S3       *fakes3.Server
	Issuer   *onetime.Issuer
	Verifier *onetime.Verifier
	Queue    *s3event.Queue
	Invoker  *lambda.Invoker
	api      *issueapi.Handler
	builder  *s3event.Builder
	metrics  *metrics
	registry *prometheus.Registry
	cache    *countingCache

	mu         sync.Mutex
	decisions  *ring[onetime.Decision]
	deliveries *ring[events.S3EventRecord]
	onDecision []func(onetime.Decision)
	onDelivery []func(events.S3EventRecord)
	issued     int64
}

// New builds an emulator. It creates the bucket (versioned for the
// versioning strategy) and starts the invoker; Close stops it.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger,
		decisions: newRing[onetime.Decision](cfg.LogLength), deliveries: newRing[events.S3EventRecord](cfg.LogLength),
		builder: s3event.NewBuilder(cfg.Region), registry: prometheus.NewRegistry()}
	e.metrics = newMetrics(e.registry)

	e.S3 = fakes3.New(fakes3.Config{Region: cfg.Region, AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
		Clock: cfg.Clock, Logger: cfg.Logger.With().Str("component", "s3").Logger(), Notify: e.onWrite, MaxObjectBytes: cfg.MaxObjectBytes})
	if err := e.S3.CreateBucket(cfg.Bucket, cfg.Strategy == onetime.Versioning); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}

	var strategy onetime.Strategy
	var err error
	if onetime.UsesMemcached(cfg.Strategy) {
		e.cache = &countingCache{inner: cfg.Cache}
		strategy, err = onetime.NewMemcachedStrategy(cfg.Strategy, e.cache, cfg.Clock)
	} else {
		strategy, err = onetime.NewS3Strategy(cfg.Strategy, e.Objects())
	}
	if err != nil {
		return nil, err
	}

	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	})
	e.Issuer = &onetime.Issuer{Strategy: strategy, Presigner: onetime.NewSDKPresigner(client, cfg.Clock), Clock: cfg.Clock,
		Bucket: cfg.Bucket, URLExpiry: cfg.URLExpiry, TokenTTL: cfg.TokenTTL, Method: cfg.Method,
		IfNoneMatch: cfg.Strategy == onetime.IfNoneMatch}
	e.Verifier = &onetime.Verifier{Strategy: strategy, Objects: e.Objects(), Clock: cfg.Clock,
		KeepRejected: cfg.KeepRejected, Record: e.onDecisionRecorded}
	handler := lambda.Handler(e.Verifier.Handle)
	if cfg.FunctionErrorRate > 0 {
		handler = failSome(handler, cfg.FunctionErrorRate, cfg.Delivery.Seed)
	}
	e.Invoker = lambda.New(cfg.Clock, handler, cfg.Lambda, cfg.Logger.With().Str("component", "lambda").Logger(),
		lambda.WithObserver(e.onInvocation))
	e.Queue = s3event.NewQueue(cfg.Clock, e.deliver, cfg.Delivery, cfg.Logger.With().Str("component", "events").Logger())
	e.api = issueapi.New(e.Issuer, cfg.Stage, cfg.APIKey, cfg.Logger.With().Str("component", "api").Logger())
	e.api.OnIssue = e.onIssue
	return e, nil
}

func (c *Config) fill() error {
	if c.Endpoint == "" {
		return errors.New("emulator: Endpoint is required")
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Stage == "" {
		c.Stage = issueapi.DefaultStage
	}
	if c.Region == "" {
		c.Region = fakes3.DefaultRegion
	}
	if c.AccessKeyID == "" {
		c.AccessKeyID = fakes3.DefaultAccessKeyID
	}
	if c.SecretAccessKey == "" {
		c.SecretAccessKey = fakes3.DefaultSecretAccessKey
	}
	if c.Strategy == "" {
		c.Strategy = DefaultStrategy
	}
	if c.Method == "" {
		c.Method = onetime.MethodPOST
		if c.Strategy == onetime.IfNoneMatch {
			c.Method = onetime.MethodPUT
		}
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.LogLength <= 0 {
		c.LogLength = DefaultLogLength
	}
	if _, ok := onetime.LookupStrategy(c.Strategy); !ok {
		return fmt.Errorf("unknown strategy %q (strategies: %s)", c.Strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	if c.Strategy == onetime.IfNoneMatch && c.Method != onetime.MethodPUT {
		return errors.New("strategy if-none-match needs --upload-method put: a POST policy cannot carry If-None-Match")
	}
	if onetime.UsesMemcached(c.Strategy) && c.Cache == nil {
		return fmt.Errorf("strategy %s needs memcached", c.Strategy)
	}
	if strings.EqualFold(c.Stage, c.Bucket) || c.Stage == "_uploadonce" {
		return fmt.Errorf("stage %q collides with the bucket or the inspection path", c.Stage)
	}
	if c.Bucket == "metrics" {
		return errors.New(`bucket "metrics" would hide the /metrics endpoint`)
	}
	if c.FunctionErrorRate < 0 || c.FunctionErrorRate > 1 {
		return errors.New("function error rate must be between 0 and 1")
	}
	if err := c.Delivery.Validate(); err != nil {
		return err
	}
	return c.Lambda.Validate()
}

// Config returns the effective configuration.
func (e *Emulator) Config() Config { return e.cfg }

// Clock returns the emulator's clock.
func (e *Emulator) Clock() clock.Clock { return e.clock }

// onWrite turns a committed write into a record; only ObjectCreated events
// under uploads/ match the verifier's notification filter.
func (e *Emulator) onWrite(w s3event.Write) {
	if w.Bucket != e.cfg.Bucket || !s3event.IsCreated(w.EventName) || !strings.HasPrefix(w.Key, onetime.DefaultPrefix) {
		return
	}
	e.Queue.Publish(e.builder.Record(w))
}

// deliver is the queue's sink: it logs the delivery and invokes the verifier.
func (e *Emulator) deliver(rec events.S3EventRecord) {
	e.mu.Lock()
	e.deliveries.add(rec)
	subs := e.onDelivery
	e.mu.Unlock()
	e.metrics.eventsDelivered.Inc()
	for _, f := range subs {
		f(rec)
	}
	e.Invoker.Invoke(rec)
}

func (e *Emulator) onDecisionRecorded(d onetime.Decision) {
	e.mu.Lock()
	e.decisions.add(d)
	subs := e.onDecision
	e.mu.Unlock()
	e.metrics.decisions.WithLabelValues(d.Decision, string(d.Reason)).Inc()
	ev := e.log.Debug()
	if d.Decision == onetime.Accepted {
		ev = e.log.Info()
	}
	ev.Str("key", d.Key).Str("decision", d.Decision).Str("reason", string(d.Reason)).Str("sequencer", d.Sequencer).
		Str("detail", d.Detail).Msg("verifier decision")
	for _, f := range subs {
		f(d)
	}
}

func (e *Emulator) onInvocation(inv lambda.Invocation) {
	e.metrics.invocations.Inc()
	if inv.Err != nil {
		e.metrics.invocationErrors.Inc()
	}
}

func (e *Emulator) onIssue(g onetime.Grant, took time.Duration, err error) {
	if err != nil {
		e.metrics.issueErrors.Inc()
		return
	}
	e.mu.Lock()
	e.issued++
	e.mu.Unlock()
	e.metrics.issued.Inc()
	e.metrics.issueSeconds.Observe(took.Seconds())
}

// OnDecision registers f to see every decision from now on.
func (e *Emulator) OnDecision(f func(onetime.Decision)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onDecision = append(e.onDecision, f)
}

// OnDelivery registers f to see every delivered record from now on.
func (e *Emulator) OnDelivery(f func(events.S3EventRecord)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onDelivery = append(e.onDelivery, f)
}

// Decisions returns the logged decisions, oldest first.
func (e *Emulator) Decisions() []onetime.Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.decisions.items()
}

// Deliveries returns the logged deliveries, oldest first.
func (e *Emulator) Deliveries() []events.S3EventRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.deliveries.items()
}

// Idle reports whether no event waits for delivery or invocation.
func (e *Emulator) Idle() bool {
	return e.Queue.InFlight() == 0 && e.Invoker.Pending() == 0
}

// WaitIdle waits until Idle or ctx ends. With a virtual clock, events that
// wait on timers need Advance; see Settle.
func (e *Emulator) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !e.Idle() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("emulator not idle (%d events in delivery, %d in the invoker): %w",
				e.Queue.InFlight(), e.Invoker.Pending(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Settle drives a virtual clock forward timer by timer until the emulator is
// idle, at most by limit of virtual time; with a real clock it is WaitIdle.
func (e *Emulator) Settle(ctx context.Context, limit time.Duration) error {
	v, ok := e.clock.(*clock.Virtual)
	if !ok {
		return e.WaitIdle(ctx)
	}
	start := v.Now()
	for {
		// Fired timers and running invocations may still schedule timers;
		// only when both are done is the next deadline the next event.
		for v.Running() > 0 || e.Invoker.Busy() > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("emulator not idle: %w", ctx.Err())
			case <-time.After(100 * time.Microsecond):
			}
		}
		if e.Idle() {
			return nil
		}
		next, ok := v.NextDeadline()
		if !ok {
			continue
		}
		if next.Sub(start) > limit {
			return fmt.Errorf("emulator not idle after %v of virtual time", limit)
		}
		v.Advance(max(0, next.Sub(v.Now())))
	}
}

// Close stops the invoker; pending events are abandoned.
func (e *Emulator) Close() {
	e.Invoker.Close()
}

// ring is a bounded log keeping the newest n items.
type ring[T any] struct {
	buf   []T
	next  int
	full  bool
	limit int
}

func newRing[T any](n int) *ring[T] { return &ring[T]{limit: n} }

func (r *ring[T]) add(v T) {
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.limit
	r.full = true
}

func (r *ring[T]) items() []T {
	out := make([]T, 0, len(r.buf))
	if r.full {
		out = append(out, r.buf[r.next:]...)
		return append(out, r.buf[:r.next]...)
	}
	return append(out, r.buf...)
}

// ErrInjectedFunctionError is the error of an invocation failed on purpose.
var ErrInjectedFunctionError = errors.New("injected function error")

// failSome wraps h so that a seeded fraction of calls fail without running.
func failSome(h lambda.Handler, rate float64, seed uint64) lambda.Handler {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0xfa11))
	return func(ctx context.Context, ev events.S3Event) error {
		mu.Lock()
		fail := rng.Float64() < rate
		mu.Unlock()
		if fail {
			return ErrInjectedFunctionError
		}
		return h(ctx, ev)
	}
}
