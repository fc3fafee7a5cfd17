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
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
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
	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Defaults.
const (
	DefaultBucket   = "uploadonce"
	DefaultStrategy = onetime.CAS
	// DefaultKeepDecisions and DefaultKeepEvents bound the inspection logs
	// of a long-running emulator: about 5 MB and 15 MB of entries.
	DefaultKeepDecisions = 10_000
	DefaultKeepEvents    = 10_000
	// DefaultMaxUploadSize is S3's limit of one PUT, 5 GiB.
	DefaultMaxUploadSize = 5 << 30
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
	// SigV2 says whether the fake S3 accepts SigV2 from outside clients
	// (the zero value) or refuses it; the issue API always presigns SigV4.
	SigV2 s3auth.SigV2Mode
	// CORSOrigins are the origins the buckets' starting CORS configuration
	// allows (fakes3.DefaultCORS); nil means any. NoCORS starts the buckets
	// without one, as S3 does.
	CORSOrigins []string
	NoCORS      bool

	Strategy  string
	Method    onetime.Method
	URLExpiry time.Duration
	TokenTTL  time.Duration
	// KeepRejected leaves rejected uploads in place, as the reference does.
	KeepRejected bool
	// VersionedBucket creates the bucket with versioning enabled whatever
	// the strategy (the versioning strategy always has it), as a team
	// whose bucket keeps versions deploys it.
	VersionedBucket bool

	Clock    clock.Clock
	Cache    onetime.Cache
	Memcache MemcachedInfo
	Delivery s3event.Model
	Lambda   lambda.Config
	Logger   zerolog.Logger
	// KeepDecisions and KeepEvents bound the in-memory decision and event
	// logs behind /_uploadonce/decisions and /events: the oldest entries are
	// dropped, and counted (DefaultKeepDecisions, DefaultKeepEvents when
	// zero). LogLength, when set, is the default of both.
	KeepDecisions, KeepEvents int
	LogLength                 int
	// MaxObjectBytes bounds one upload; fakes3's default when zero.
	MaxObjectBytes int64
	// MaxUploadSize bounds every POST grant with the policy condition
	// content-length-range 0..MaxUploadSize; zero grants any size, as the
	// reference does (serve's --max-upload-size, DefaultMaxUploadSize).
	MaxUploadSize int64
	// PublicURL, when set, is the base URL (scheme://host[:port]) issued
	// URLs name; otherwise they name the host each client called.
	PublicURL string
	// BodyTimeout and MinBodyRate pace S3 request bodies (fakes3.Config):
	// a body that stalls for BodyTimeout, or brings less than MinBodyRate
	// bytes/s over a BodyTimeout window, gets 400 RequestTimeout. Zero
	// means fakes3's defaults (20 s, 1 KiB/s); negative turns them off.
	BodyTimeout time.Duration
	MinBodyRate int64
	// FunctionErrorRate fails that fraction of verifier invocations before
	// they run, as a crashed or timed-out Lambda would, so that retries can
	// be exercised. The choice is seeded by Delivery.Seed.
	FunctionErrorRate float64

	// VerifyFunction and IssueFunction, when set, are command lines (split
	// by runtimeapi.Split) run as Lambda functions over the Runtime API in
	// place of the in-process verifier and issuer (DESIGN §4, "Functions").
	VerifyFunction string
	IssueFunction  string
	// FunctionEnv adds or overrides the functions' variables, K=V each.
	FunctionEnv []string
	// FunctionTimeout is the functions' timeout; runtimeapi.DefaultTimeout
	// when zero.
	FunctionTimeout time.Duration

	// VerifierCache, when set, is the verifier's memcached client and Cache
	// the issuer's only: two clients that may place keys differently, as a
	// Python issuer and a Go verifier do (the mixed-placement hazard). Nil
	// means the verifier uses Cache.
	VerifierCache onetime.Cache
}

// MemcachedInfo describes the memcached behind Cache, for health and reports.
type MemcachedInfo struct {
	Kind string `json:"kind"`
	// Addrs are every node of the cluster; Nodes, when set, gives them at
	// the time of asking (a cluster may grow or shrink while it runs).
	Addrs []string        `json:"addrs"`
	Nodes func() []string `json:"-"`
	// ConfigEndpoint is the ElastiCache configuration endpoint the clients
	// discover the nodes from, "" when they use Addrs as given.
	ConfigEndpoint string `json:"config_endpoint"`
	// Hashing is the clients' key placement; VerifierHashing the
	// verifier's when it differs from the issuer's.
	Hashing         string `json:"hashing,omitempty"`
	VerifierHashing string `json:"verifier_hashing,omitempty"`
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
	api      http.Handler
	fns      *functions
	builder  *s3event.Builder
	metrics  *metrics
	registry *prometheus.Registry
	cache    *countingCache
	inflight *inFlight

	mu         sync.Mutex
	decisions  *ring[onetime.Decision]
	deliveries *ring[events.S3EventRecord]
	onDecision []func(onetime.Decision)
	onDelivery []func(events.S3EventRecord)
	issued     int64
}

// New builds an emulator. It creates the bucket (versioned for the
// versioning strategy and with VersionedBucket) and starts the invoker; Close stops it.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger,
		decisions: newRing[onetime.Decision](cfg.KeepDecisions), deliveries: newRing[events.S3EventRecord](cfg.KeepEvents),
		builder: s3event.NewBuilder(cfg.Region), registry: prometheus.NewRegistry(), inflight: newInFlight()}
	e.metrics = newMetrics(e.registry)

	e.S3 = fakes3.New(fakes3.Config{Region: cfg.Region, AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
		Clock: cfg.Clock, Logger: cfg.Logger.With().Str("component", "s3").Logger(), Notify: e.onWrite, MaxObjectBytes: cfg.MaxObjectBytes,
		SigV2: cfg.SigV2, BodyTimeout: cfg.BodyTimeout, MinBodyRate: cfg.MinBodyRate,
		CORSOrigins: cfg.CORSOrigins, NoCORS: cfg.NoCORS})
	registerS3(e.registry, e.S3.Stats())
	e.registerLogs()
	if err := e.S3.CreateBucket(cfg.Bucket, cfg.VersionedBucket || cfg.Strategy == onetime.Versioning); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}

	strategy, verifierStrategy, err := e.strategies(cfg)
	if err != nil {
		return nil, err
	}

	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	})
	presigner := onetime.NewSDKPresigner(client, cfg.Clock)
	presigner.MaxUploadSize = cfg.MaxUploadSize
	e.Issuer = &onetime.Issuer{Strategy: strategy, Presigner: presigner, Clock: cfg.Clock,
		Bucket: cfg.Bucket, URLExpiry: cfg.URLExpiry, TokenTTL: cfg.TokenTTL, Method: cfg.Method,
		IfNoneMatch: cfg.Strategy == onetime.IfNoneMatch}
	e.Verifier = &onetime.Verifier{Strategy: verifierStrategy, Objects: e.Objects(), Clock: cfg.Clock,
		KeepRejected: cfg.KeepRejected, Record: e.onDecisionRecorded}
	handler := lambda.Handler(e.Verifier.Handle)
	if e.fns, err = e.startFunctions(); err != nil {
		return nil, err
	}
	if e.fns != nil && e.fns.verify != nil {
		handler = e.fns.verifyHandler()
	}
	if cfg.FunctionErrorRate > 0 {
		handler = failSome(handler, cfg.FunctionErrorRate, cfg.Delivery.Seed)
	}
	e.Invoker = lambda.New(cfg.Clock, handler, cfg.Lambda, cfg.Logger.With().Str("component", "lambda").Logger(),
		lambda.WithObserver(e.onInvocation))
	e.Queue = s3event.NewQueue(cfg.Clock, e.deliver, cfg.Delivery, cfg.Logger.With().Str("component", "events").Logger(),
		s3event.WithObserver(e.inflight))
	api := issueapi.New(e.Issuer, cfg.Stage, cfg.APIKey, cfg.Logger.With().Str("component", "api").Logger())
	api.OnIssue = e.onIssue
	e.api = api
	if e.fns != nil && e.fns.issue != nil {
		e.api = e.fns.issueHandler()
	}
	return e, nil
}

// strategies returns the issuer's strategy and the verifier's: the same one,
// or for a VerifierCache the same strategy over the verifier's client.
func (e *Emulator) strategies(cfg Config) (issuer, verifier onetime.Strategy, err error) {
	if !onetime.UsesMemcached(cfg.Strategy) {
		s, err := onetime.NewS3Strategy(cfg.Strategy, e.Objects())
		return s, s, err
	}
	e.cache = &countingCache{inner: cfg.Cache, cacheCounters: &cacheCounters{}}
	if issuer, err = onetime.NewMemcachedStrategy(cfg.Strategy, e.cache, cfg.Clock); err != nil {
		return nil, nil, err
	}
	if cfg.VerifierCache == nil {
		return issuer, issuer, nil
	}
	vc := &countingCache{inner: cfg.VerifierCache, cacheCounters: e.cache.cacheCounters}
	verifier, err = onetime.NewMemcachedStrategy(cfg.Strategy, vc, cfg.Clock)
	return issuer, verifier, err
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
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.KeepDecisions <= 0 {
		c.KeepDecisions = cmp.Or(max(c.LogLength, 0), DefaultKeepDecisions)
	}
	if c.KeepEvents <= 0 {
		c.KeepEvents = cmp.Or(max(c.LogLength, 0), DefaultKeepEvents)
	}
	if _, ok := onetime.LookupStrategy(c.Strategy); !ok {
		return fmt.Errorf("unknown strategy %q (strategies: %s)", c.Strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	var err error
	if c.Method, err = onetime.UploadMethod(c.Strategy, c.Method); err != nil {
		return err
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
	if c.MaxUploadSize < 0 {
		return errors.New("max upload size must not be negative")
	}
	if c.PublicURL != "" {
		if err := CheckPublicURL(c.PublicURL); err != nil {
			return err
		}
	}
	if c.VerifyFunction != "" || c.IssueFunction != "" {
		if c.FunctionTimeout < 0 {
			return errors.New("function timeout must not be negative")
		}
		// The invoker's own deadline must not cut a function short: it
		// covers the function's init and its timeout.
		c.Lambda.Timeout = max(c.Lambda.Timeout, cmp.Or(c.FunctionTimeout, runtimeapi.DefaultTimeout)+runtimeapi.InitTimeout+time.Second)
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
//
// fakes3 calls it under the key's write lock, after the commit and before
// the S3 response is written; Publish counts the record's deliveries in
// flight before it returns. So by the time a client sees its 2xx, KeysDone
// of its key is false until those deliveries end: the guarantee WaitKeys
// callers rely on.
func (e *Emulator) onWrite(w s3event.Write) {
	if e.fns != nil && e.fns.verify != nil && w.Bucket == e.cfg.Bucket && w.EventName == s3event.ObjectCreatedCopy &&
		strings.HasPrefix(w.Key, onetime.AcceptedPrefix) {
		e.fns.copied(w)
	}
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
	e.inflight.add(keyOf(rec)) // until its final invocation; see onInvocation
	e.Invoker.Invoke(rec)
}

func (e *Emulator) onDecisionRecorded(d onetime.Decision) {
	e.mu.Lock()
	e.decisions.add(d)
	subs := e.onDecision
	e.mu.Unlock()
	e.metrics.decisions.WithLabelValues(d.Decision, string(d.Reason)).Inc()
	// Every decision at info, rejections included: what a user of serve
	// watches for. Load runs log at warn.
	e.log.Info().Str("key", d.Key).Str("decision", d.Decision).Str("reason", string(d.Reason)).Str("sequencer", d.Sequencer).
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
	if inv.Final {
		e.inflight.done(keyOf(inv.Record))
	}
}

func (e *Emulator) onIssue(g onetime.Grant, took time.Duration, err error) {
	e.recordIssue(took, err == nil)
}

// recordIssue counts one issue call, in process or by an issue function.
func (e *Emulator) recordIssue(took time.Duration, ok bool) {
	if !ok {
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

// Idle reports whether no event waits for delivery or invocation: every
// delivery the queue scheduled has been dropped or has reached its final
// invocation. Events abandoned by Close never finish.
func (e *Emulator) Idle() bool { return e.inflight.empty() }

// WaitIdle waits until Idle or ctx ends, woken by the end of a key's last
// event rather than by polling. With a virtual clock, events that wait on
// timers need Advance; see Settle.
func (e *Emulator) WaitIdle(ctx context.Context) error {
	for {
		idle, zero := e.inflight.idle()
		if idle {
			return nil
		}
		select {
		case <-zero:
		case <-ctx.Done():
			return e.notIdle(ctx.Err())
		}
	}
}

// Settle drives a virtual clock forward timer by timer until the emulator is
// idle, at most by limit of virtual time; with a real clock it is WaitIdle.
// See clock.Settle.
func (e *Emulator) Settle(ctx context.Context, limit time.Duration) error {
	v, ok := e.clock.(*clock.Virtual)
	if !ok {
		return e.WaitIdle(ctx)
	}
	if err := clock.Settle(ctx, v, e.Idle, limit); err != nil {
		return e.notIdle(err)
	}
	return nil
}

func (e *Emulator) notIdle(err error) error {
	return fmt.Errorf("emulator not idle (%d keys with events in flight, %d events in delivery, %d in the invoker): %w",
		e.inflight.keys(), e.Queue.InFlight(), e.Invoker.Pending(), err)
}

// ErrNeedsClock is returned by WaitKeys when the virtual clock is quiet and
// a key still has an event waiting on a timer (a delayed delivery or a
// retry): only moving the clock (Settle, clock.StepTo) can finish it.
var ErrNeedsClock = errors.New("keys wait on the virtual clock")

// KeysDone reports whether none of keys (object keys, as in uploads/…) has
// an event in flight: scheduled for delivery, queued or running in the
// invoker, or waiting for a retry. A key that was never written is done.
//
// The count of a key starts before the S3 request writing it returns (see
// onWrite), so once a caller's uploads to keys have returned, KeysDone is
// true only when every event they caused is finished.
func (e *Emulator) KeysDone(keys []string) bool {
	i, _ := e.inflight.firstBusy(keys, 0)
	return i == len(keys)
}

// WaitKeys blocks until KeysDone(keys) and returns nil. On a virtual clock
// it returns an error wrapping ErrNeedsClock as soon as the clock is quiet
// while a key still has an event in flight; the caller moves the clock and
// calls again. It returns ctx's error, wrapped, when ctx ends first.
//
// Keys found done are checked again, all at once, before it returns nil, so
// a key written again meanwhile is waited for too.
func (e *Emulator) WaitKeys(ctx context.Context, keys []string) error {
	v, _ := e.clock.(*clock.Virtual)
	var zero <-chan struct{}
	for i := 0; ; {
		if i, zero = e.inflight.firstBusy(keys, i); i == len(keys) {
			if i, zero = e.inflight.firstBusy(keys, 0); i == len(keys) {
				return nil
			}
		}
		var quiet <-chan struct{} // nil: a real clock's timers fire by themselves
		if v != nil {
			quiet = v.Quiet()
		}
		select {
		case <-zero:
		case <-quiet:
			if e.inflight.busy(keys[i]) {
				return fmt.Errorf("%w: %s has an event on a timer", ErrNeedsClock, keys[i])
			}
		case <-ctx.Done():
			return fmt.Errorf("%s still has events in flight: %w", keys[i], ctx.Err())
		}
	}
}

// Close kills the function processes and stops the invoker; pending
// events are abandoned.
func (e *Emulator) Close() {
	e.fns.close()
	e.Invoker.Close()
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
