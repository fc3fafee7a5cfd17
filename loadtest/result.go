package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/report"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// Result is a finished (or partial) run.
type Result struct {
	// History is the run's meta and orphans, and its tokens when the run
	// went in one window. A failing run in several windows keeps its tokens
	// in a temporary file instead: write the whole history with SaveHistory.
	History *history.Run
	Check   check.Result
	Report  *report.Report
	Partial bool

	tokens     *spill // the streamed tokens of a failing run; nil otherwise
	historyErr error  // why the streamed tokens are not there
}

// errPassedStreamed: a passing run that streamed its tokens dropped them.
var errPassedStreamed = errors.New("a passing run in several windows keeps no token history")

// Close releases the temporary file of a failing run's streamed tokens.
// Without Close it goes when the process ends.
func (r *Result) Close() error {
	if r.tokens == nil {
		return nil
	}
	return r.tokens.close()
}

// spill streams finished tokens to a temporary file. The file is unlinked
// as soon as it is created (where the system allows), so that it never
// outlives the process: only SaveHistory reads it back, through the open
// descriptor.
type spill struct {
	f   *os.File
	w   *history.TokenWriter
	n   int
	err error // the first write error; the history is then lost

	once     sync.Once
	closeErr error
}

func newSpill() (*spill, error) {
	f, err := os.CreateTemp("", "uploadonce-tokens-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("temporary history file: %w", err)
	}
	_ = os.Remove(f.Name()) // may fail (Windows): then close removes it
	return &spill{f: f, w: history.NewTokenWriter(f)}, nil
}

func (s *spill) add(t *history.Token) {
	if s.err == nil {
		s.err = s.w.Write(t)
		s.n++
	}
}

// finish flushes the file; the first error of the whole stream if any.
func (s *spill) finish() error {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

// reader returns the token records written, from the start.
func (s *spill) reader() (io.Reader, error) {
	st, err := s.f.Stat()
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(s.f, 0, st.Size()), nil
}

func (s *spill) close() error {
	s.once.Do(func() {
		s.closeErr = s.f.Close()
		if err := os.Remove(s.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.closeErr = errors.Join(s.closeErr, err)
		}
	})
	return s.closeErr
}

// result judges the run and builds its report; the tokens of a passing run
// that streamed them are dropped, a failing run's kept for SaveHistory.
func (e *engine) result(partial bool, before, after counters, wallStart time.Time) (*Result, error) {
	var rt target.Runtime
	if c, ok := e.tgt.(target.Counted); ok {
		rt = c.Runtime()
	}
	meta := history.Meta{Strategy: e.desc.Strategy, Clock: string(e.p.Stack.Clock), Seed: e.p.Seed,
		URLExpiry: e.desc.URLExpiry, TokenTTL: e.desc.TokenTTL, MaxEventAge: e.desc.MaxEventAge, Partial: partial,
		EventsDropped: rt.Invoker.DroppedAge + rt.Queue.Dropped, RetriesExhausted: rt.Invoker.Exhausted,
		FunctionErrors: rt.Invoker.Errors, Coalesced: rt.Queue.Coalesced}
	if e.desc.MemcachedKind != "none" {
		meta.Memcached = e.desc.MemcachedKind
	}
	if e.truth.Source != target.EmulatorLog {
		meta.GroundTruth = &e.truth
	}
	meta.Shard, meta.PlannedUploads, meta.MaxErrorRate = e.p.Shard.String(), e.p.Uploads(), e.p.MaxErrorRate
	meta.Plan, _ = json.Marshal(e.p) // a plan always marshals
	h := e.rec.Run(meta)
	h.Tokens = e.kept
	res := &Result{History: h, Check: e.checker.Finish(h), Partial: partial}
	e.collector.AddOrphans(h.OrphanDecision)
	in := report.Inputs{Plan: e.p, Strategy: e.desc.Strategy, Clock: meta.Clock, Partial: partial,
		Memcached: report.Memcached{Kind: e.desc.MemcachedKind, Addrs: e.desc.MemcachedAddr}, Check: res.Check,
		Collector: e.collector, Wall: time.Since(wallStart), LateSends: e.cl.LateSends(), Invoker: rt.Invoker, Queue: rt.Queue,
		S3: after.s3.Sub(before.s3), Notes: e.notes, Faults: h.Meta.Faults, GroundTruth: e.truth}
	_, counted := e.tgt.(target.Counted)
	if !counted {
		e.countFromClient(&in)
	}
	switch {
	case e.desc.MemcachedKind == "none":
		in.MemcachedExact = true // no memcached, no commands
	case !counted:
		in.MemcachedUnknown = "the stack's memcached is not reachable from the load generator"
	case before.mcErr == nil && after.mcErr == nil:
		in.MemcachedOps = after.mc.Sub(before.mc)
		in.MemcachedExact = !e.faults.Restarted()
	}
	in.MemcachedCapacity = e.probeCapacity(in.MemcachedOps, int64(res.Check.Counts.Tokens))
	res.Report = report.Build(in)
	e.keepTokens(res)
	return res, nil
}

// countFromClient fills what a target without counters leaves out from
// what the client sent: its uploads are S3 requests, and each upload S3
// took is at least one verifier invocation.
func (e *engine) countFromClient(in *report.Inputs) {
	m, _ := e.p.Stack.UploadMethod()
	n := e.cl.Uploads()
	if m == onetime.MethodPUT {
		in.S3.Put = n
	} else {
		in.S3.Post = n
	}
	in.Invoker.Invocations = int64(in.Check.Counts.OK)
	in.Notes = append(in.Notes, "S3 requests are counted from the client side (the stack's own are not seen);"+
		" Lambda invocations are taken as one per upload S3 took")
}

// probeCapacity measures the memcached's capacity with the run's command
// mix per URL, so that the cost model sizes nodes by what one carries, not
// by the rate this run happened to drive. 0 when there is nothing to probe.
func (e *engine) probeCapacity(ops metrics.MemcachedOps, tokens int64) float64 {
	p, ok := e.tgt.(target.Prober)
	if !ok || tokens <= 0 || ops.Total() <= 0 {
		return 0
	}
	per := func(n int64) int64 { return (n + tokens/2) / tokens }
	mix := memcached.Mix{Get: per(ops.Get), Set: per(ops.Set), Delete: per(ops.Delete)}
	if mix.Total() == 0 {
		mix.Set = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.ProbeCapacity(ctx, mix)
	if err != nil {
		e.log.Warn().Err(err).Msg("probing memcached's capacity")
		return 0
	}
	return c
}

// keepTokens decides what becomes of the streamed tokens.
func (e *engine) keepTokens(res *Result) {
	if e.spill == nil {
		return
	}
	rep := res.Report
	switch err := e.spill.finish(); {
	case err != nil:
		e.log.Warn().Err(err).Msg("streaming the history to a temporary file")
		rep.Notes = append(rep.Notes, "the history could not be kept: "+err.Error())
		res.historyErr = fmt.Errorf("the tokens were lost while the run streamed them: %w", err)
		e.spill.close()
	case rep.OK && !e.o.keepHistory:
		e.spill.close() // a passing run leaves no history behind
		res.historyErr = errPassedStreamed
	default:
		res.tokens = e.spill
	}
}

// HistoryPath is where a failing run's history goes: beside the report JSON
// (r.json → r-history.jsonl), else ./uploadonce-history.jsonl.
func HistoryPath(reportJSON string) string {
	if reportJSON == "" {
		return "uploadonce-history.jsonl"
	}
	return strings.TrimSuffix(reportJSON, ".json") + "-history.jsonl"
}

// SaveHistory writes the run's history as JSON Lines to path and records
// the path in the report. The tokens of a run that streamed them come from
// its temporary file, in issue order window by window.
func (r *Result) SaveHistory(path string) error {
	if r.historyErr != nil {
		return fmt.Errorf("write history: %w", r.historyErr)
	}
	var tokens io.Reader
	if r.tokens != nil {
		var err error
		if tokens, err = r.tokens.reader(); err != nil {
			return fmt.Errorf("write history: reading the streamed tokens: %w", err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	r.History.SortTokens()
	if err := r.History.WriteWithTokens(f, tokens); err != nil {
		f.Close()
		return fmt.Errorf("write history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	r.Report.HistoryFile = path
	return nil
}
