// Package loadtest runs a plan against a freshly started emulated stack:
// it issues one-time URLs and uploads over real HTTP, records every call and
// the emulator's server-side log in a history, checks the history against
// the one-time invariants, and builds the report.
//
//	plan → Run: emulator.Start → issue + uploads (client) → history.Recorder
//	     → Settle → check.Check → metrics → report.Report
//
// Timeline. On the virtual clock (the default) tokens go in windows of
// Plan.Window (all of them in one when 0): every token of a window is issued
// at the window's offset 0 while the clock stands still; then the engine
// walks the window's distinct upload offsets in ascending order, moving the
// clock timer by timer to each one and firing every upload due there at
// once, bounded by Concurrency; then it settles the emulator, judges the
// window's tokens, writes them out and drops them, so that memory does not
// grow with the run. Offsets are from
// each token's issue; the next window starts where the clock stands. A plan
// with faults (whose offsets are from the start of the run) runs as one
// window. On the real clock each token runs its own timeline with sleeps,
// and the run is one window. A run in one window keeps its token histories
// in Result.History; a run in several streams them to a temporary file as
// its windows finish, which SaveHistory reads back.
//
// Uploads due at the same offset go at once, except that an AfterPrevious
// upload is sent only after the previous upload of its token has returned,
// as the reference's upload2x client does.
//
// Models. Closed (Rate 0): Concurrency workers each take the next token.
// Open (Rate > 0): token i is due at i/Rate seconds; latencies count from the
// intended time (no coordinated omission), and sends that start more than
// 1 ms late are counted as late sends.
package loadtest

import (
	"bufio"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/client"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// Defaults of a plan's zero fields.
const (
	DefaultConcurrency = 32
	DefaultTimeout     = 10 * time.Minute
	DefaultBodySize    = 16
	// DefaultDrain bounds the wait for in-flight work after cancellation.
	DefaultDrain = 10 * time.Second
	// settleLimit bounds the virtual time Settle may move after the last
	// upload: Lambda's longest event age plus its retries.
	settleLimit = lambda.MaxMaxEventAge + time.Hour
	// lateSend is how late a send may start before it counts as late.
	lateSend = time.Millisecond
	// DefaultWindow is a Plan.Window that keeps a run's memory small (a
	// few tens of MB per window) without draining the pipeline often.
	DefaultWindow = 8192
	// loadLogLength bounds the emulator's decision and event logs, which only
	// serve its inspection API: the recorder subscribes to both.
	loadLogLength = 1024
)

// ErrFaultUnsupported is returned when a plan's fault cannot be injected
// into the chosen stack (e.g. latency on a memcached that is not embedded).
var ErrFaultUnsupported = errors.New("fault not supported by this stack")

// Option configures Run.
type Option func(*options)

type options struct {
	log      zerolog.Logger
	progress io.Writer
	terminal bool
	drain    time.Duration
	mcOpts   []memcached.Option
	wrap     func(onetime.Cache) onetime.Cache
}

// WithLogger sets the run's logger (default: none).
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithProgress shows live progress on w: a single rewritten line when
// terminal is true, else a log line every 2 s through the logger.
func WithProgress(w io.Writer, terminal bool) Option {
	return func(o *options) { o.progress, o.terminal = w, terminal }
}

// WithDrain bounds the wait for in-flight work after ctx ends.
func WithDrain(d time.Duration) Option { return func(o *options) { o.drain = d } }

// WithMemcachedOptions passes options to memcached.Start.
func WithMemcachedOptions(opts ...memcached.Option) Option {
	return func(o *options) { o.mcOpts = append(o.mcOpts, opts...) }
}

// WithCacheWrapper wraps the memcached client the strategy uses (tests
// force a schedule with it).
func WithCacheWrapper(f func(onetime.Cache) onetime.Cache) Option {
	return func(o *options) { o.wrap = f }
}

// tokenState is one token while its window runs.
type tokenState struct {
	idx     int
	group   *groupPlan
	h       *history.Token
	grant   client.Grant
	tried   bool // the issue was sent
	issued  bool
	expires time.Time // run clock
}

type groupPlan struct {
	plan.Group
	first   int             // index of the group's first token in the run
	offsets []time.Duration // absolute offset of each upload from the issue
	chains  []chain         // the uploads by offset, back-to-back ones chained
}

// chain is uploads due at one offset that go one after the other: the first
// upload and every AfterPrevious upload at the same offset that follows it.
type chain struct {
	at      time.Duration
	uploads []int
}

type engine struct {
	p       plan.Plan
	o       options
	log     zerolog.Logger
	run     *emulator.Running
	virtual *clock.Virtual
	clk     clock.Clock
	cl      *client.Client
	rec     *history.Recorder
	groups  []*groupPlan
	reqCtx  context.Context // in-flight requests: outlives cancellation by the drain

	// The window in flight; finishWindow judges it and drops it.
	window    []*tokenState
	stopTTL   func()
	settleErr error // a window that did not settle ends the run, partial
	ttlMarked bool  // under faultMu
	// What finished windows leave behind.
	checker   *check.Checker
	collector *metrics.Collector
	kept      []*history.Token // when the history stays in memory
	spill     *spill           // else
	harnessS3 metrics.S3Requests

	uploadsDone atomic.Int64
	lateSends   atomic.Int64
	uploadStart atomic.Int64 // ns since rec base; 0 until the first upload

	faultMu    sync.Mutex
	faultsDone []bool
	faultEnded []bool
	restarted  bool
	notes      []string
}

// Run executes p and returns its result. An error means the run could not
// be carried out (bad plan, stack failed to start); a cancelled or timed-out
// run returns a partial Result and no error.
func Run(ctx context.Context, p plan.Plan, opts ...Option) (*Result, error) {
	o := options{log: zerolog.Nop(), drain: DefaultDrain}
	for _, f := range opts {
		f(&o)
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := &engine{p: p, o: o, log: o.log}
	so, err := e.startOptions()
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	e.run, err = emulator.Start(startCtx, so)
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() {
		// Connections the client dialed but never used look new to the
		// server, and Shutdown waits 5 s for new connections: close them.
		if e.cl != nil {
			e.cl.HTTP.CloseIdleConnections()
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.run.Close(cctx); err != nil {
			e.log.Warn().Err(err).Msg("closing the stack")
		}
	}()
	if err := e.checkFaults(); err != nil {
		return nil, err
	}
	return e.execute(ctx)
}

func (e *engine) startOptions() (emulator.StartOptions, error) {
	st := e.p.Stack
	var so emulator.StartOptions
	if st.Strategy == "" {
		st.Strategy = emulator.DefaultStrategy
	}
	if _, ok := onetime.LookupStrategy(st.Strategy); !ok {
		return so, fmt.Errorf("strategy %q: want one of %s", st.Strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	method := onetime.MethodPOST
	if st.Method != "" {
		m, err := onetime.ParseMethod(st.Method)
		if err != nil {
			return so, err
		}
		method = m
	}
	if st.Strategy == onetime.IfNoneMatch {
		method = onetime.MethodPUT // a POST policy cannot carry If-None-Match
	}
	switch st.Clock {
	case "", "virtual":
		e.virtual = clock.NewVirtual(time.Now().UTC().Truncate(time.Second))
		e.clk = e.virtual
	default:
		e.clk = clock.Real{}
	}
	model := s3event.Model{Duplicates: st.EventDuplicates, ReorderWindow: st.EventReorder, Coalesce: st.EventCoalesce, Seed: e.p.Seed}
	if st.EventDelay != "" && st.EventDelay != "0" {
		d, err := s3event.ParseDelay(st.EventDelay)
		if err != nil {
			return so, fmt.Errorf("event delay: %w", err)
		}
		model.Delay = d
	}
	lc := lambda.Config{Concurrency: st.LambdaConcurrency, MaxEventAge: st.MaxEventAge}
	if st.LambdaRetries != nil {
		lc.MaxRetries, lc.NoRetries = *st.LambdaRetries, *st.LambdaRetries == 0
	}
	mcOpts := e.o.mcOpts
	if st.MemcachedMemoryMB > 0 {
		mcOpts = append(slices.Clone(mcOpts), memcached.WithMemoryMB(st.MemcachedMemoryMB))
	}
	apiKey, err := issueapi.NewAPIKey()
	if err != nil {
		return so, err
	}
	so = emulator.StartOptions{
		Listen:           "127.0.0.1:0", // loopback only
		Memcached:        st.Memcached,
		MemcachedOptions: mcOpts,
		Concurrency:      e.p.Concurrency,
		WrapCache:        e.o.wrap,
		Config: emulator.Config{
			APIKey: apiKey, Strategy: st.Strategy, Method: method, URLExpiry: st.URLExpiry, TokenTTL: st.TokenTTL,
			KeepRejected: st.KeepRejected, Clock: e.clk, Delivery: model, Lambda: lc,
			FunctionErrorRate: st.LambdaErrorRate, Logger: e.log, LogLength: loadLogLength,
		},
	}
	return so, nil
}

// checkFaults refuses, before any load runs, faults the stack cannot take.
// A strategy that keeps no tokens in memcached takes every memcached fault:
// it is recorded as not applicable when due, which is the measurement (the
// S3 strategies are unaffected).
func (e *engine) checkFaults() error {
	mc := e.run.Memcached
	if mc == nil {
		return nil
	}
	for i, f := range e.p.Faults {
		if mc.Kind() == memcached.KindExternal {
			return fmt.Errorf("faults[%d] %s: faults are injected only into a memcached uploadonce starts, not an external one: %w",
				i, f.Kind, ErrFaultUnsupported)
		}
		if mc.Embedded() != nil {
			continue // the embedded server has every knob
		}
		switch f.Kind {
		case plan.FaultMemcachedLatency:
			return fmt.Errorf("faults[%d] %s needs the embedded memcached provider (a real memcached has no latency knob; "+
				"use memcached-pause to stall it); this run uses %s: %w", i, f.Kind, mc.Kind(), ErrFaultUnsupported)
		case plan.FaultMemcachedEvict:
			return fmt.Errorf("faults[%d] %s changes the memory limit at run time, which only the embedded provider can; "+
				"for %s start it small instead (memcached_memory_mb in a scenario, --memcached-memory-mb for loadtest): %w",
				i, f.Kind, mc.Kind(), ErrFaultUnsupported)
		case plan.FaultMemcachedConnLimit:
			return fmt.Errorf("faults[%d] %s needs the embedded memcached provider (memcached's -c cannot change at run time); "+
				"this run uses %s: %w", i, f.Kind, mc.Kind(), ErrFaultUnsupported)
		}
	}
	return nil
}

func (e *engine) execute(ctx context.Context) (*Result, error) {
	wallStart := time.Now()
	runCtx, cancelRun := context.WithTimeout(ctx, e.p.Timeout)
	defer cancelRun()
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()
	stopDrain := context.AfterFunc(runCtx, func() { time.AfterFunc(e.o.drain, cancelReq) })
	defer stopDrain()
	e.reqCtx = reqCtx

	e.rec = history.NewRecorder()
	e.run.OnDelivery(e.rec.OnDelivery)
	e.run.OnDecision(e.rec.OnDecision)
	e.cl = client.New(e.run.URL+issueapi.Path(e.run.Config().Stage), e.run.Config().APIKey, e.p.Concurrency)
	e.faultsDone = make([]bool, len(e.p.Faults))
	e.faultEnded = make([]bool, len(e.p.Faults))
	e.checker, e.collector = check.NewChecker(), metrics.NewCollector()
	e.stopTTL = func() {}
	if e.windowSize() < e.p.Tokens() {
		var err error
		if e.spill, err = newSpill(); err != nil {
			return nil, err
		}
	}
	if e.p.Stack.MemcachedMemoryMB > 0 && e.run.Memcached != nil {
		e.notes = append(e.notes, fmt.Sprintf("memcached started with -m %d (MB): memory pressure may evict live tokens", e.p.Stack.MemcachedMemoryMB))
	}
	if e.p.Window > 0 && e.p.Window < e.p.Tokens() {
		switch size := e.windowSize(); {
		case size < e.p.Tokens():
			e.notes = append(e.notes, fmt.Sprintf("tokens ran in windows of %d: each window was issued, uploaded and settled before the next", size))
		case len(e.p.Faults) > 0:
			e.notes = append(e.notes, "one window: faults are timed from the start of the run, so every token was issued before the first upload")
		}
	}

	mcAddrs := []string(nil)
	if e.run.Memcached != nil {
		mcAddrs = e.run.Memcached.Addrs()
	}
	mcBefore, mcErr := metrics.ReadMemcachedOps(ctx, mcAddrs)
	s3Before := metrics.SnapshotS3(e.run.S3.Stats())

	e.buildGroups()
	stopProgress := e.startProgress()
	if e.virtual != nil {
		e.runVirtual(runCtx)
	} else {
		e.window = e.layout(0, e.p.Tokens())
		e.runReal(runCtx)
	}
	partial := runCtx.Err() != nil || e.settleErr != nil
	// A fault must not outlive the load: a paused memcached would stall the
	// settle and the stats reads below.
	e.endAllFaults(ctx)

	// Let the events of the last uploads reach a decision.
	settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), e.settleBound(partial))
	var settleErr error
	if e.virtual != nil {
		settleErr = e.run.Settle(settleCtx, settleLimit)
	} else {
		settleErr = e.run.WaitIdle(settleCtx)
	}
	cancelSettle()
	e.stopTTL()
	if settleErr != nil {
		e.log.Warn().Err(settleErr).Msg("the emulator did not become idle; the run is partial")
		partial = true
	}
	stopProgress()

	s3After := metrics.SnapshotS3(e.run.S3.Stats())
	mcAfter, mcErr2 := metrics.ReadMemcachedOps(context.WithoutCancel(ctx), mcAddrs)
	e.finishWindow(context.WithoutCancel(ctx), false)

	e.recordEvictions(context.WithoutCancel(ctx), mcAddrs)

	inv, q := e.run.Invoker.Stats(), e.run.Queue.Stats()
	cfg := e.run.Config()
	meta := history.Meta{Strategy: cfg.Strategy, Clock: clockName(e.virtual), Seed: e.p.Seed,
		URLExpiry: orDur(cfg.URLExpiry, onetime.DefaultURLExpiry), TokenTTL: orDur(cfg.TokenTTL, onetime.DefaultTokenTTL),
		MaxEventAge: e.run.Invoker.Config().MaxEventAge, Partial: partial,
		EventsDropped: inv.DroppedAge + q.Dropped, RetriesExhausted: inv.Exhausted, FunctionErrors: inv.Errors, Coalesced: q.Coalesced}
	if e.run.Memcached != nil {
		meta.Memcached = e.run.Memcached.Kind()
	}
	h := e.rec.Run(meta)
	h.Tokens = e.kept
	res := &Result{History: h, Check: e.checker.Finish(h), Partial: partial}
	e.collector.AddOrphans(h.OrphanDecision)

	rep := &report.Report{Strategy: cfg.Strategy, Clock: meta.Clock, Seed: e.p.Seed, Plan: e.p, Partial: partial,
		Memcached: report.Memcached{Kind: "none"}, Invoker: inv, Queue: q, LateSends: int(e.lateSends.Load())}
	if e.run.Memcached != nil {
		rep.Memcached = report.Memcached{Kind: e.run.Memcached.Kind(), Addrs: mcAddrs}
	}
	rep.FromCheck(res.Check)
	if partial {
		rep.OK = false
	}
	fillMetrics(rep, e.collector, wallStart)
	s3 := s3After.Sub(s3Before).Sub(e.harnessS3)
	rep.S3Requests = s3
	var mc metrics.MemcachedOps
	exact := e.run.Memcached != nil && mcErr == nil && mcErr2 == nil && !e.restarted
	if e.run.Memcached != nil && mcErr == nil && mcErr2 == nil {
		mc = mcAfter.Sub(mcBefore)
	}
	if e.run.Memcached == nil {
		exact = true // no memcached, no commands
	}
	rep.MemcachedOps = mc
	fillOps(rep, mc, exact, s3, int64(rep.Counts.Tokens), inv.Invocations)
	rep.Notes = append(rep.Notes, e.notes...)
	res.Report = rep
	if e.spill != nil {
		if err := e.spill.finish(); err != nil {
			e.log.Warn().Err(err).Msg("streaming the history to a temporary file")
			rep.Notes = append(rep.Notes, "the history could not be kept: "+err.Error())
			res.historyErr = fmt.Errorf("the tokens were lost while the run streamed them: %w", err)
			e.spill.close()
		} else if rep.OK {
			e.spill.close() // a passing run leaves no history behind
			res.historyErr = errPassedStreamed
		} else {
			res.tokens = e.spill
		}
	}
	return res, nil
}

func (e *engine) settleBound(partial bool) time.Duration {
	if partial {
		return e.o.drain
	}
	return max(e.p.Timeout/2, time.Minute)
}

func clockName(v *clock.Virtual) string {
	if v != nil {
		return "virtual"
	}
	return "real"
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// buildGroups lays out each group's upload offsets and chains.
func (e *engine) buildGroups() {
	first := 0
	for _, g := range e.p.Groups {
		gp := &groupPlan{Group: g, first: first}
		var prev time.Duration
		last := -1 // the chain of the previous upload
		for j, u := range g.Uploads {
			at := u.At
			if u.AfterPrevious {
				at += prev
			}
			gp.offsets = append(gp.offsets, at)
			if j > 0 && u.AfterPrevious && at == prev {
				gp.chains[last].uploads = append(gp.chains[last].uploads, j)
			} else {
				gp.chains = append(gp.chains, chain{at: at, uploads: []int{j}})
				last = len(gp.chains) - 1
			}
			prev = at
		}
		e.groups = append(e.groups, gp)
		first += g.Tokens
	}
}

// layout returns the states of tokens [lo, hi) of the run, in group order.
func (e *engine) layout(lo, hi int) []*tokenState {
	out := make([]*tokenState, 0, hi-lo)
	for _, gp := range e.groups {
		for i := max(lo, gp.first); i < min(hi, gp.first+gp.Tokens); i++ {
			out = append(out, &tokenState{idx: i, group: gp,
				h: &history.Token{Group: gp.Name, Uploads: make([]history.Upload, len(gp.Uploads))}})
		}
	}
	return out
}

// issue issues one token; intended is when it was due (ns since base).
func (e *engine) issue(ts *tokenState, intended int64) {
	h := ts.h
	ts.tried = true
	h.IssueIntended = intended
	h.IssueCall = e.rec.Now()
	if h.IssueCall-intended > int64(lateSend) {
		e.lateSends.Add(1)
	}
	g, err := e.cl.Issue(e.reqCtx)
	h.IssueReturn = e.rec.Now()
	h.Issued = e.clk.Now()
	if err != nil {
		h.IssueErr = err.Error()
		e.rec.Add(h)
		return
	}
	h.Key, ts.grant, ts.issued = g.Key, g, true
	ts.expires = g.Expires
	if ts.expires.IsZero() {
		ts.expires = h.Issued.Add(orDur(e.run.Config().URLExpiry, onetime.DefaultURLExpiry))
	}
	h.Expires = ts.expires
	e.rec.Add(h)
}

var s3CodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// upload sends upload j of ts; intended is when it was due (ns since base).
func (e *engine) upload(ts *tokenState, j int, intended int64) {
	e.uploadStart.CompareAndSwap(0, max(e.rec.Now(), 1))
	u := &ts.h.Uploads[j]
	pu := ts.group.Uploads[j]
	body := Body(e.p.Seed, ts.idx, j, pu)
	sum := md5.Sum(body)
	u.Index, u.At, u.BodyMD5, u.Intended = j, ts.group.offsets[j], hex.EncodeToString(sum[:]), intended
	u.Late = !e.clk.Now().Before(ts.expires)
	u.Sent = e.rec.Now()
	if intended < 0 { // closed model: due when a worker takes it
		u.Intended, intended = u.Sent, u.Sent
	}
	if u.Sent-intended > int64(lateSend) && e.p.Rate > 0 {
		e.lateSends.Add(1)
	}
	res, err := e.cl.Upload(e.reqCtx, ts.grant, body)
	u.Returned = e.rec.Now()
	e.uploadsDone.Add(1)
	if err != nil {
		u.Err = err.Error()
		return
	}
	u.Status = res.Status
	if m := s3CodeRE.FindSubmatch(res.Body); m != nil {
		u.S3Code = string(m[1])
	}
}

// Body returns the bytes of upload j of token idx. ContentSame gives every
// upload of a token the same bytes, ContentUnique different bytes; any
// other content is sent literally. Bodies are never stored, only their MD5.
func Body(seed uint64, idx, j int, u plan.Upload) []byte {
	var unit string
	switch u.Content {
	case "", plan.ContentSame:
		unit = strconv.Itoa(idx) + ".s." + strconv.FormatUint(seed, 10) + "|"
	case plan.ContentUnique:
		unit = strconv.Itoa(idx) + "." + strconv.Itoa(j) + "." + strconv.FormatUint(seed, 10) + "|"
	default:
		return []byte(u.Content)
	}
	size := u.Size
	if size == 0 {
		size = DefaultBodySize
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = unit[i%len(unit)]
	}
	return b
}

// fanOut runs f(i) for i in [0,n) on at most workers goroutines; it stops
// taking new items once ctx ends.
func fanOut(ctx context.Context, n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// windowSize returns the tokens per window: the whole run on the real
// clock, or when the plan has faults, whose offsets count from the start of
// the run.
func (e *engine) windowSize() int {
	n := max(e.p.Tokens(), 1)
	if e.p.Window <= 0 || e.virtual == nil || len(e.p.Faults) > 0 {
		return n
	}
	return min(e.p.Window, n)
}

// runVirtual runs the windows one after the other. Every window but the
// last is settled and finished here; execute settles and finishes the last
// one with the run.
func (e *engine) runVirtual(ctx context.Context) {
	total, size := e.p.Tokens(), e.windowSize()
	for lo := 0; lo < total; lo += size {
		hi := min(lo+size, total)
		e.window = e.layout(lo, hi)
		e.runWindow(ctx, lo == 0)
		if hi == total || ctx.Err() != nil {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, e.settleBound(false))
		err := e.run.Settle(sctx, settleLimit)
		cancel()
		e.stopTTL()
		if err != nil {
			e.log.Warn().Err(err).Msg("a window did not settle; the run stops, partial")
			e.settleErr = err
			return
		}
		e.finishWindow(ctx, true)
	}
}

// runWindow issues the window's tokens at its offset 0 and then walks its
// offsets. Faults are applied only in the first window (a plan with faults
// has one).
func (e *engine) runWindow(ctx context.Context, first bool) {
	start := e.virtual.Now()
	e.stopTTL = e.markTokenTTL()
	if first {
		e.applyDueFaults(ctx, 0)
	}
	tokens := e.window
	if e.p.Rate > 0 {
		e.openIssue(ctx, tokens, func(ts *tokenState) {
			// The token's uploads at offset 0 go right after its issue.
			var wg sync.WaitGroup
			for ci := range ts.group.chains {
				if c := &ts.group.chains[ci]; c.at == 0 {
					wg.Add(1)
					go func() { defer wg.Done(); e.sendChain(ctx, ts, c, ts.h.IssueReturn) }()
				}
			}
			wg.Wait()
		})
	} else {
		fanOut(ctx, len(tokens), e.p.Concurrency, func(i int) { e.issue(tokens[i], e.rec.Now()) })
	}

	for _, off := range e.walkOffsets(tokens, first) {
		if ctx.Err() != nil {
			return
		}
		if err := e.stepTo(ctx, start.Add(off)); err != nil {
			return
		}
		if first {
			e.applyDueFaults(ctx, off)
		}
		type job struct {
			ts *tokenState
			c  *chain
		}
		var jobs []job
		for _, ts := range tokens {
			if !ts.issued {
				continue
			}
			for ci := range ts.group.chains {
				if c := &ts.group.chains[ci]; c.at == off && !(off == 0 && e.p.Rate > 0) {
					jobs = append(jobs, job{ts, c})
				}
			}
		}
		// Open model: every upload here was due when the walk reached the
		// offset; closed model: when a worker takes it (-1).
		intended := int64(-1)
		if e.p.Rate > 0 {
			intended = e.rec.Now()
		}
		fanOut(ctx, len(jobs), e.p.Concurrency, func(i int) { e.sendChain(ctx, jobs[i].ts, jobs[i].c, intended) })
	}
}

// sendChain sends a chain's uploads one after the other: each one after the
// previous returned. The first is due at intended; in the open model each
// next one is due when the previous returned.
func (e *engine) sendChain(ctx context.Context, ts *tokenState, c *chain, intended int64) {
	for k, j := range c.uploads {
		if k > 0 {
			if ctx.Err() != nil {
				return
			}
			if intended >= 0 {
				intended = ts.h.Uploads[c.uploads[k-1]].Returned
			}
		}
		e.upload(ts, j, intended)
	}
}

// walkOffsets returns the distinct upload offsets of the tokens' groups
// and, with faults, the fault offsets, ascending.
func (e *engine) walkOffsets(tokens []*tokenState, faults bool) []time.Duration {
	seen := map[time.Duration]bool{}
	var out []time.Duration
	add := func(d time.Duration) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	var last *groupPlan
	for _, ts := range tokens {
		if ts.group == last {
			continue // tokens come in group order
		}
		last = ts.group
		for _, off := range ts.group.offsets {
			add(off)
		}
	}
	if faults {
		for _, f := range e.p.Faults {
			add(f.At)
			if end, ok := f.Ends(); ok {
				add(end)
			}
		}
	}
	slices.Sort(out)
	return out
}

// stepTo moves the virtual clock to target timer by timer, letting the
// emulator finish what each step started, so that retries and delayed
// deliveries happen at their own virtual times.
func (e *engine) stepTo(ctx context.Context, target time.Time) error {
	for {
		if err := e.waitQuiet(ctx); err != nil {
			return err
		}
		next, ok := e.virtual.NextDeadline()
		if !ok || next.After(target) {
			e.virtual.Advance(max(0, target.Sub(e.virtual.Now())))
			return e.waitQuiet(ctx)
		}
		e.virtual.Advance(max(0, next.Sub(e.virtual.Now())))
	}
}

func (e *engine) waitQuiet(ctx context.Context) error {
	for e.virtual.Running() > 0 || e.run.Invoker.Busy() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Microsecond):
		}
	}
	return nil
}

// openIssue starts token i of tokens at i/Rate seconds after now, each in
// its own goroutine, and runs then(ts) after a successful issue. Windows
// each start their schedule anew: the settle between two windows is not
// counted as lateness.
func (e *engine) openIssue(ctx context.Context, tokens []*tokenState, then func(ts *tokenState)) {
	base := e.rec.Now()
	interval := float64(time.Second) / e.p.Rate
	// Bound the goroutines in flight; a send that waits here is late and
	// counted so.
	sem := make(chan struct{}, max(e.p.Concurrency*8, 1024))
	var wg sync.WaitGroup
	for i, ts := range tokens {
		intended := base + int64(float64(i)*interval)
		if d := time.Duration(intended - e.rec.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.issue(ts, intended)
			if ts.issued {
				then(ts)
			}
		}()
	}
	wg.Wait()
}

// runReal gives every token its own timeline on the real clock.
func (e *engine) runReal(ctx context.Context) {
	var timers []*time.Timer
	start := time.Now()
	var lastEnd time.Duration
	for i, f := range e.p.Faults {
		timers = append(timers, time.AfterFunc(f.At, func() { e.applyFault(ctx, i) }))
		if end, ok := f.Ends(); ok {
			timers = append(timers, time.AfterFunc(end, func() { e.endFault(ctx, i) }))
			lastEnd = max(lastEnd, end)
		}
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	tokens := e.window
	if e.p.Rate > 0 {
		e.openIssue(ctx, tokens, func(ts *tokenState) { e.tokenTimeline(ctx, ts) })
	} else {
		fanOut(ctx, len(tokens), e.p.Concurrency, func(i int) {
			ts := tokens[i]
			e.issue(ts, e.rec.Now())
			if ts.issued {
				e.tokenTimeline(ctx, ts)
			}
		})
	}
	// A fault that lasts past the last upload still runs its course (the
	// retries it provokes are what it is for), bounded by the run's timeout.
	if d := time.Until(start.Add(lastEnd)); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// tokenTimeline sends a token's uploads at their offsets from its issue;
// uploads due at the same offset go concurrently. An AfterPrevious upload
// waits from the previous upload's answer, so it never joins a group.
func (e *engine) tokenTimeline(ctx context.Context, ts *tokenState) {
	ups := ts.group.Uploads
	issueWall := ts.h.IssueReturn
	var lastReturn int64
	for j := 0; j < len(ups); {
		k := j + 1
		for k < len(ups) && !ups[j].AfterPrevious && !ups[k].AfterPrevious && ups[k].At == ups[j].At {
			k++
		}
		due := issueWall + int64(ups[j].At)
		if ups[j].AfterPrevious {
			due = lastReturn + int64(ups[j].At)
		}
		if d := time.Duration(due - e.rec.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		var wg sync.WaitGroup
		for x := j; x < k; x++ {
			wg.Add(1)
			go func() { defer wg.Done(); e.upload(ts, x, due) }()
		}
		wg.Wait()
		for x := j; x < k; x++ {
			lastReturn = max(lastReturn, ts.h.Uploads[x].Returned)
		}
		j = k
	}
}

// applyDueFaults applies, in order, every fault due by offset off, then
// ends every fault whose duration is over by then.
func (e *engine) applyDueFaults(ctx context.Context, off time.Duration) {
	for i, f := range e.p.Faults {
		if f.At <= off {
			e.applyFault(ctx, i)
		}
	}
	for i, f := range e.p.Faults {
		if end, ok := f.Ends(); ok && end <= off {
			e.endFault(ctx, i)
		}
	}
}

// faultTimeout bounds one injection (a container restart is the slowest).
const faultTimeout = time.Minute

func (e *engine) applyFault(ctx context.Context, i int) {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	if e.faultsDone[i] {
		return
	}
	e.faultsDone[i] = true
	f := e.p.Faults[i]
	rec := history.Fault{Kind: f.Kind, At: f.At}
	mc := e.run.Memcached
	if mc == nil {
		// Err, not Note: nothing was injected, so nothing may be explained by it.
		rec.Err = "not applied: strategy " + e.run.Config().Strategy + " keeps no tokens in memcached"
		e.rec.Fault(rec)
		return
	}
	var err error
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faultTimeout)
	defer cancel()
	switch f.Kind {
	case plan.FaultMemcachedRestart:
		err = mc.Restart(fctx)
		e.restarted = true
		rec.Note = mc.Kind() + " restarted: every token is lost"
	case plan.FaultMemcachedFlush:
		err = mc.Flush(fctx)
		rec.Note = "flush_all: every token is lost"
	case plan.FaultMemcachedEvict:
		mc.Embedded().SetMaxBytes(f.Value)
		rec.Note = fmt.Sprintf("memory limit %d bytes from now on: least recently used tokens are evicted", f.Value)
	case plan.FaultMemcachedLatency:
		mc.Embedded().SetLatency(f.Duration)
		rec.Note = "every reply delayed by " + f.Duration.String() + " until the end of the run"
	case plan.FaultMemcachedPause:
		err = mc.Pause(fctx)
		rec.Note = fmt.Sprintf("%s paused for %s: commands wait, clients time out after %s", mc.Kind(), f.Duration, memcached.DefaultClientTimeout)
	case plan.FaultMemcachedConnLimit:
		mc.Embedded().SetMaxConns(int(f.Value))
		rec.Note = fmt.Sprintf("connections beyond %d refused", f.Value)
		if f.Duration > 0 {
			rec.Note += " for " + f.Duration.String()
		}
	}
	if err != nil {
		rec.Err = err.Error()
		e.faultEnded[i] = true // nothing to undo
		e.log.Error().Err(err).Str("fault", f.Kind).Msg("fault injection failed")
	} else {
		e.log.Info().Str("fault", f.Kind).Dur("at", f.At).Msg("fault injected")
	}
	e.rec.Fault(rec)
}

// endFault undoes fault i when its duration is over: resume a paused
// memcached, lift a connection limit.
func (e *engine) endFault(ctx context.Context, i int) {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	f := e.p.Faults[i]
	end, ok := f.Ends()
	if !ok || !e.faultsDone[i] || e.faultEnded[i] || e.run.Memcached == nil {
		return
	}
	e.faultEnded[i] = true
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faultTimeout)
	defer cancel()
	rec := history.Fault{Kind: plan.RecordedFaultEnd, At: end, Note: f.Kind + " ended"}
	var err error
	switch f.Kind {
	case plan.FaultMemcachedPause:
		err = e.run.Memcached.Resume(fctx)
		rec.Note = f.Kind + " ended: memcached answers again"
	case plan.FaultMemcachedConnLimit:
		e.run.Memcached.Embedded().SetMaxConns(0)
		rec.Note = f.Kind + " ended: connections unlimited again"
	}
	if err != nil {
		rec.Err = err.Error()
		e.log.Error().Err(err).Str("fault", f.Kind).Msg("ending a fault failed")
	}
	e.rec.Fault(rec)
}

// endAllFaults ends every fault still in force, so that the settle and the
// final stats reads never wait on a paused server.
func (e *engine) endAllFaults(ctx context.Context) {
	for i := range e.p.Faults {
		e.endFault(ctx, i)
	}
}

// markTokenTTL records, once per run, when the virtual run clock passes the
// token TTL after a window's issue (every token of a window is issued at its
// offset 0): from then on a token may vanish without a winner, which the
// linearizability check must allow. The embedded memcached runs on the same
// clock and drops the item at that moment; the checker tells an expired
// token from a lost one by the run clock of each decision.
func (e *engine) markTokenTTL() (stop func()) {
	if e.run.Memcached == nil {
		return func() {}
	}
	ttl := orDur(e.run.Config().TokenTTL, onetime.DefaultTokenTTL)
	t := e.virtual.AfterFunc(ttl, func() {
		e.faultMu.Lock()
		defer e.faultMu.Unlock()
		if e.ttlMarked {
			return
		}
		e.ttlMarked = true
		e.rec.Fault(history.Fault{Kind: plan.RecordedTokenTTLElapsed, At: ttl,
			Note: "the run clock passed issue + token TTL " + ttl.String() + ": unclaimed tokens have expired"})
	})
	return func() { t.Stop() }
}

// recordEvictions records, when memcached evicted items during the run,
// how many: the checker attributes lost tokens to it.
func (e *engine) recordEvictions(ctx context.Context, addrs []string) {
	var total int64
	for _, a := range addrs {
		n, err := readEvictions(ctx, a)
		if err != nil {
			e.log.Warn().Err(err).Str("addr", a).Msg("reading memcached evictions")
			continue
		}
		total += n
	}
	if total > 0 {
		e.rec.Fault(history.Fault{Kind: plan.RecordedEvictions,
			Note: fmt.Sprintf("%d items evicted under memory pressure", total)})
	}
}

// readEvictions reads the evictions counter of memcached's `stats`.
func readEvictions(ctx context.Context, addr string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(conn)
	var n int64
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "END" {
			return n, nil
		}
		if v, ok := strings.CutPrefix(line, "STAT evictions "); ok {
			if n, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, fmt.Errorf("stats evictions %q: %w", v, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("stats: no END")
}

// finishWindow judges the window's tokens, whose histories are final (the
// emulator settled), adds them to the metrics, keeps or streams them, and
// drops them. With cleanup it also deletes the window's objects, so that
// the in-memory S3 does not grow with the run; those requests are the
// harness's, not the system's, and are left out of the report's counts.
func (e *engine) finishWindow(ctx context.Context, cleanup bool) {
	tokens := e.window
	e.window = nil
	hs := make([]*history.Token, 0, len(tokens))
	for _, ts := range tokens {
		if ts.tried {
			hs = append(hs, ts.h)
		}
	}
	e.rec.Release(hs)
	// Between windows nothing else runs, so the counters' difference is
	// exactly the engine's own requests.
	before := metrics.SnapshotS3(e.run.S3.Stats())
	e.headAccepted(ctx, hs)
	if cleanup {
		e.removeObjects(ctx, hs)
		e.harnessS3 = e.harnessS3.Add(metrics.SnapshotS3(e.run.S3.Stats()).Sub(before))
	}
	slices.SortStableFunc(hs, func(a, b *history.Token) int { return cmp.Compare(a.IssueCall, b.IssueCall) })
	for _, h := range hs {
		e.checker.Add(h)
		e.collector.Add(h)
		if e.spill != nil {
			e.spill.add(h)
		} else {
			e.kept = append(e.kept, h)
		}
	}
	e.collector.EndWindow()
}

// headAccepted records the ETag of accepted/<name> of every accepted token.
func (e *engine) headAccepted(ctx context.Context, hs []*history.Token) {
	bucket := e.run.Config().Bucket
	objs := e.run.S3.Objects()
	for _, h := range hs {
		if h.Key == "" || !slices.ContainsFunc(h.Decisions, history.Decision.Accepted) {
			continue
		}
		if info, err := objs.Head(ctx, bucket, acceptedName(h.Key)); err == nil {
			h.AcceptedETag = strings.Trim(info.ETag, `"`)
		}
	}
}

func acceptedName(key string) string {
	return onetime.AcceptedPrefix + strings.TrimPrefix(key, onetime.DefaultPrefix)
}

// removeObjects deletes what the tokens left in the bucket: accepted/<name>
// and any upload the verifier left in place (a rejected duplicate kept for
// the winner's copy, or every rejected one with KeepRejected); in a
// versioned bucket every version.
func (e *engine) removeObjects(ctx context.Context, hs []*history.Token) {
	bucket := e.run.Config().Bucket
	objs := e.run.S3.Objects()
	lister, versioned := objs.(onetime.VersionLister)
	versioned = versioned && e.run.Config().Strategy == onetime.Versioning
	for _, h := range hs {
		if h.Key == "" {
			continue
		}
		for _, key := range []string{h.Key, acceptedName(h.Key)} {
			if !versioned {
				if err := objs.Delete(ctx, onetime.DeleteInput{Bucket: bucket, Key: key}); err != nil {
					e.log.Debug().Err(err).Str("key", key).Msg("removing a finished object")
				}
				continue
			}
			vs, err := lister.Versions(ctx, bucket, key)
			if err != nil {
				e.log.Debug().Err(err).Str("key", key).Msg("listing a finished object's versions")
				continue
			}
			for _, v := range vs { // oldest first: the current one goes last
				if err := objs.Delete(ctx, onetime.DeleteInput{Bucket: bucket, Key: key, VersionID: v.VersionID}); err != nil {
					e.log.Debug().Err(err).Str("key", key).Msg("removing a finished version")
				}
			}
		}
	}
}

// startProgress shows progress until the returned stop is called.
func (e *engine) startProgress() (stop func()) {
	if e.o.progress == nil {
		return func() {}
	}
	total := e.p.Uploads()
	every := 2 * time.Second
	if e.o.terminal {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if e.o.terminal {
					e.progressLine(total)
					fmt.Fprintln(e.o.progress)
				}
				return
			case <-t.C:
				e.progressLine(total)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (e *engine) progressLine(total int) {
	n := e.uploadsDone.Load()
	rate := 0.0
	if s := e.uploadStart.Load(); s > 0 {
		if el := time.Duration(e.rec.Now() - s).Seconds(); el > 0 {
			rate = float64(n) / el
		}
	}
	v := e.rec.DoubleAccepts()
	if e.o.terminal {
		fmt.Fprintf(e.o.progress, "\r%d/%d uploads, %.0f/s, %d violations so far, %d decisions   ", n, total, rate, v, e.rec.Decided())
		return
	}
	// Progress shows even when the run logs only warnings.
	pl := e.log.Level(min(e.log.GetLevel(), zerolog.InfoLevel))
	pl.Info().Int64("done", n).Int("total", total).Float64("uploads_per_s", rate).Int64("violations_so_far", v).
		Int64("decisions", e.rec.Decided()).Msg("progress")
}

// fillMetrics puts latency, throughput, statuses and reasons in rep.
func fillMetrics(rep *report.Report, c *metrics.Collector, wallStart time.Time) {
	rep.LatencyMS = c.Latencies()
	rep.Statuses = c.Statuses()
	rep.Reasons = c.Reasons()
	phase, n := c.UploadPhase()
	rep.Throughput.UploadPhaseS = phase.Seconds()
	if phase > 0 {
		rep.Throughput.UploadsPerS = float64(n) / phase.Seconds()
	}
	rep.Throughput.WallS = time.Since(wallStart).Seconds()
}
