package loadtest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/loadtest/client"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/schedule"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// tokenState is one token while its window runs.
type tokenState struct {
	schedule.Token
	h      *history.Token
	grant  client.Grant
	tried  bool // the issue was sent
	issued bool
}

// window is the tokens that run together.
type window struct {
	tokens  []*tokenState
	stopTTL func()
}

func (e *engine) newWindow(w schedule.Window) *window {
	toks := e.sched.Tokens(w)
	out := &window{tokens: make([]*tokenState, len(toks)), stopTTL: func() {}}
	for i, t := range toks {
		out.tokens[i] = &tokenState{Token: t,
			h: &history.Token{Group: t.Group.Name, Uploads: make([]history.Upload, len(t.Group.Uploads))}}
	}
	return out
}

// keys returns the keys of the window's issued tokens.
func (w *window) keys() []string {
	out := make([]string, 0, len(w.tokens))
	for _, ts := range w.tokens {
		if ts.issued {
			out = append(out, ts.h.Key)
		}
	}
	return out
}

// waitWindow waits until nothing is in flight for w's URLs. When only
// moving the virtual clock would help, it settles the whole stack.
func (e *engine) waitWindow(ctx context.Context, w *window) error {
	s, ok := e.tgt.(target.Settler)
	if !ok {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, e.settleBound(false))
	defer cancel()
	err := s.WaitKeys(wctx, w.keys())
	if errors.Is(err, target.ErrNeedsClock) {
		err = s.Settle(wctx, settleLimit)
	}
	if err != nil {
		return wrapNotSettled(err)
	}
	return nil
}

// finishWindow judges the window's tokens, whose histories are final,
// adds them to the metrics, keeps or streams them, and drops them. With
// cleanup it also deletes the window's objects, so that the in-memory S3
// does not grow with the run; the target leaves those requests, the
// harness's, out of its counters.
func (e *engine) finishWindow(ctx context.Context, w *window, cleanup bool) {
	w.stopTTL()
	hs := make([]*history.Token, 0, len(w.tokens))
	for _, ts := range w.tokens {
		if ts.tried {
			hs = append(hs, ts.h)
		}
	}
	e.rec.Release(hs)
	e.witness(ctx, hs)
	cleaner, _ := e.tgt.(target.Cleaner)
	for _, h := range hs {
		if cleaner == nil || h.Key == "" {
			continue
		}
		if slices.ContainsFunc(h.Decisions, history.Decision.Accepted) {
			h.AcceptedETag = cleaner.AcceptedETag(ctx, h.Key)
		}
		if cleanup {
			cleaner.Remove(ctx, h.Key)
		}
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

// witness reads the ground truth of a stack that keeps it in S3; after an
// interrupted run it waits no longer than the drain.
func (e *engine) witness(ctx context.Context, hs []*history.Token) {
	w, ok := e.tgt.(target.Witness)
	if !ok {
		return
	}
	if e.interrupted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.o.drain)
		defer cancel()
	}
	e.truth = w.Witness(ctx, hs, e.rec.At)
}

// markTokenTTL records, once per run, when the virtual run clock passes
// the token TTL after a window's issue (every token of a window is issued
// at its offset 0): from then on a token may vanish without a winner,
// which the linearizability check must allow. The embedded memcached runs
// on the same clock and drops the item at that moment; the checker tells
// an expired token from a lost one by the run clock of each decision.
func (e *engine) markTokenTTL(v *clock.Virtual) (stop func()) {
	if e.desc.MemcachedKind == "none" {
		return func() {}
	}
	ttl := e.desc.TokenTTL
	t := v.AfterFunc(ttl, func() {
		e.ttlOnce.Do(func() {
			e.rec.Fault(history.Fault{Kind: plan.RecordedTokenTTLElapsed, At: ttl,
				Note: "the run clock passed issue + token TTL " + ttl.String() + ": unclaimed tokens have expired"})
		})
	})
	return func() { t.Stop() }
}

// stepTo moves the virtual clock to a time, timer by timer.
func (e *engine) stepTo(ctx context.Context, to time.Time) error {
	return e.tgt.(target.Clocked).StepTo(ctx, to)
}
