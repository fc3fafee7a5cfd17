package loadtest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/schedule"
)

// runVirtual runs the windows one after the other, each finishing the one
// before it once its own uploads are out; execute settles the stack and
// finishes the last.
func (e *engine) runVirtual(ctx context.Context) {
	for i, w := range e.sched.Windows() {
		cur := e.newWindow(w)
		e.runWindow(ctx, cur, i == 0)
		prev := e.prev
		e.prev = cur
		if prev == nil {
			continue
		}
		if ctx.Err() != nil {
			e.finishWindow(context.WithoutCancel(ctx), prev, false)
			return
		}
		if err := e.waitWindow(ctx, prev); err != nil {
			e.log.Warn().Err(err).Msg("a window did not settle; the run stops, partial")
			e.settleErr = err
			e.finishWindow(context.WithoutCancel(ctx), prev, false)
			return
		}
		e.finishWindow(ctx, prev, true)
	}
}

// runWindow issues the window's tokens at its offset 0, each followed by
// its uploads due there, then walks its later offsets. Faults are applied
// only in the first window (a plan with faults has one).
func (e *engine) runWindow(ctx context.Context, w *window, first bool) {
	start := e.virtual.Now()
	w.stopTTL = e.markTokenTTL(e.virtual)
	if first {
		e.faults.ApplyDue(ctx, 0)
	}
	// A token's uploads due at 0 follow its issue at once, except with
	// Window 0 in the closed model, which issues every token first, as
	// scenarios describe: then all tokens are live together, which is what
	// memory pressure needs to evict live ones.
	issueFirst := e.p.Window == 0 && e.p.Rate == 0
	e.issueAll(ctx, w.tokens, func(ts *tokenState, intended int64) {
		if !issueFirst {
			e.sendDue(ctx, []*tokenState{ts}, 0, intended)
		}
	})
	for _, off := range e.sched.Walk(schedule.Window{Lo: w.tokens[0].Index, Hi: w.tokens[len(w.tokens)-1].Index + 1}, first) {
		if off == 0 && !issueFirst {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if err := e.stepTo(ctx, start.Add(off)); err != nil {
			return
		}
		if first {
			e.faults.ApplyDue(ctx, off)
		}
		// Open model: every upload here was due when the walk reached the
		// offset; closed model: when a worker takes it (-1).
		intended := int64(-1)
		if e.p.Rate > 0 {
			intended = e.rec.Now()
		}
		e.sendDue(ctx, w.tokens, off, intended)
	}
}

// sendDue sends the chains of tokens due at off, at most Concurrency at
// once (a single token's chains all go at once: they race by design).
func (e *engine) sendDue(ctx context.Context, tokens []*tokenState, off time.Duration, intended int64) {
	var jobs []schedule.Job
	var states []*tokenState
	for _, ts := range tokens {
		if !ts.issued {
			continue
		}
		for _, j := range schedule.Due([]schedule.Token{ts.Token}, off) {
			jobs, states = append(jobs, j), append(states, ts)
		}
	}
	workers := e.p.Concurrency
	if len(tokens) == 1 {
		workers = len(jobs)
	}
	fanOut(ctx, len(jobs), workers, func(i int) { e.sendChain(ctx, states[i], jobs[i].Chain, intended) })
}

// issueAll issues tokens and runs then(ts, intended) after each
// successful issue: in the closed model on Concurrency workers, each
// taking the next token; in the open model token k at k/Rate seconds.
func (e *engine) issueAll(ctx context.Context, tokens []*tokenState, then func(ts *tokenState, intended int64)) {
	if e.p.Rate > 0 {
		e.openIssue(ctx, tokens, then)
		return
	}
	fanOut(ctx, len(tokens), e.p.Concurrency, func(i int) {
		ts := tokens[i]
		if e.issue(ts, e.rec.Now()) {
			then(ts, -1)
		}
	})
}

// issue issues one token; intended is when it was due (ns since base).
func (e *engine) issue(ts *tokenState, intended int64) bool {
	ts.tried = true
	ts.grant, ts.issued = e.cl.Issue(e.reqCtx, ts.h, intended)
	return ts.issued
}

// sendChain sends a chain's uploads one after the other: each one after
// the previous returned. The first is due at intended; in the open model
// each next one is due when the previous returned.
func (e *engine) sendChain(ctx context.Context, ts *tokenState, c *schedule.Chain, intended int64) {
	for k, j := range c.Uploads {
		if k > 0 {
			if ctx.Err() != nil {
				return
			}
			if intended >= 0 {
				intended = ts.h.Uploads[c.Uploads[k-1]].Returned
			}
		}
		e.upload(ts, j, intended)
	}
}

// upload sends upload j of ts; intended is when it was due (ns since
// base), < 0 in the closed model.
func (e *engine) upload(ts *tokenState, j int, intended int64) {
	u := &ts.h.Uploads[j]
	u.Index, u.At = j, ts.Group.Offsets[j]
	body := Body(e.p.Seed, ts.Seq(), j, ts.Group.Uploads[j])
	e.cl.Upload(e.reqCtx, ts.grant, ts.h.Expires, u, body, intended, e.p.Rate > 0)
}

// openIssue starts token k of tokens at k/Rate seconds after now, each in
// its own goroutine, and runs then after a successful issue. Windows each
// start their schedule anew: the wait between two windows is not counted
// as lateness.
func (e *engine) openIssue(ctx context.Context, tokens []*tokenState, then func(ts *tokenState, intended int64)) {
	base := e.rec.Now()
	// Bound the goroutines in flight; a send that waits here is late and
	// counted so.
	sem := make(chan struct{}, max(e.p.Concurrency*8, 1024))
	var wg sync.WaitGroup
	for k, ts := range tokens {
		at, _ := e.sched.IssueAt(k)
		intended := base + int64(at)
		if !sleepUntil(ctx, time.Duration(intended-e.rec.Now())) {
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
			if e.issue(ts, intended) {
				then(ts, ts.h.IssueReturn)
			}
		}()
	}
	wg.Wait()
}

// sleepUntil waits d or until ctx ends; false when ctx ended.
func sleepUntil(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}

// fanOut runs f(i) for i in [0,n) on at most workers goroutines; it stops
// taking new items once ctx ends.
func fanOut(ctx context.Context, n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
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

// runReal gives every token its own timeline on the real clock.
func (e *engine) runReal(ctx context.Context) {
	w := e.newWindow(schedule.Window{Lo: 0, Hi: e.sched.Total()})
	e.prev = w
	var timers []*time.Timer
	var lastEnd time.Duration
	start := time.Now()
	for i, f := range e.p.Faults {
		timers = append(timers, time.AfterFunc(f.At, func() { e.faults.Apply(ctx, i) }))
		if end, ok := f.Ends(); ok {
			timers = append(timers, time.AfterFunc(end, func() { e.faults.End(ctx, i) }))
			lastEnd = max(lastEnd, end)
		}
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	e.issueAll(ctx, w.tokens, func(ts *tokenState, _ int64) { e.tokenTimeline(ctx, ts) })
	// A fault that lasts past the last upload still runs its course (the
	// retries it provokes are what it is for), bounded by the run's timeout.
	sleepUntil(ctx, time.Until(start.Add(lastEnd)))
}

// tokenTimeline sends a token's uploads step by step: a step's uploads go
// at once, At after the issue or, for AfterPrevious, after the previous
// step's last answer.
func (e *engine) tokenTimeline(ctx context.Context, ts *tokenState) {
	var lastReturn int64
	for _, st := range ts.Group.Steps {
		due := ts.h.IssueReturn + int64(st.At)
		if st.AfterPrevious {
			due = lastReturn + int64(st.At)
		}
		if !sleepUntil(ctx, time.Duration(due-e.rec.Now())) {
			return
		}
		var wg sync.WaitGroup
		for _, x := range st.Uploads {
			wg.Add(1)
			go func() { defer wg.Done(); e.upload(ts, x, due) }()
		}
		wg.Wait()
		for _, x := range st.Uploads {
			lastReturn = max(lastReturn, ts.h.Uploads[x].Returned)
		}
	}
}
