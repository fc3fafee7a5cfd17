package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// ErrHistories: the histories given cannot be judged as one run (shards of
// different plans, a shard missing or given twice, a URL in two of them).
var ErrHistories = errors.New("histories do not make one run")

// Merge merges the histories of the shards of one plan (or of any runs
// that were not shards) into one run. Shards must all be there, once.
func Merge(runs []*history.Run) (*history.Run, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrHistories)
	}
	if err := checkShards(runs); err != nil {
		return nil, err
	}
	out := &history.Run{Meta: runs[0].Meta}
	out.Meta.Shard, out.Meta.Faults = "", nil
	keys := map[string]bool{}
	for _, h := range runs {
		m := h.Meta
		if m.Strategy != out.Meta.Strategy || m.Seed != out.Meta.Seed {
			return nil, fmt.Errorf("%w: strategy %s seed %d beside strategy %s seed %d", ErrHistories, m.Strategy, m.Seed,
				out.Meta.Strategy, out.Meta.Seed)
		}
		if truthSource(m) != truthSource(out.Meta) {
			return nil, fmt.Errorf("%w: ground truth %q beside %q", ErrHistories, truthSource(m), truthSource(out.Meta))
		}
		for _, t := range h.Tokens {
			if t.Key != "" && keys[t.Key] {
				return nil, fmt.Errorf("%w: URL %s is in two histories", ErrHistories, t.Key)
			}
			keys[t.Key] = true
		}
		out.Tokens = append(out.Tokens, h.Tokens...)
		out.OrphanDecision = append(out.OrphanDecision, h.OrphanDecision...)
		out.OrphanKeys = append(out.OrphanKeys, h.OrphanKeys...)
		out.OrphanLate = append(out.OrphanLate, padLate(h)...)
		out.OrphanDelivery += h.OrphanDelivery
		out.Meta.Partial = out.Meta.Partial || m.Partial
		out.Meta.Faults = append(out.Meta.Faults, m.Faults...)
		if h != runs[0] {
			out.Meta.EventsDropped += m.EventsDropped
			out.Meta.RetriesExhausted += m.RetriesExhausted
			out.Meta.FunctionErrors += m.FunctionErrors
			out.Meta.Coalesced += m.Coalesced
		}
	}
	return out, nil
}

func truthSource(m history.Meta) string {
	if m.GroundTruth == nil {
		return target.EmulatorLog
	}
	return m.GroundTruth.Source
}

// padLate returns h's OrphanLate with one entry per orphan.
func padLate(h *history.Run) []bool {
	out := make([]bool, len(h.OrphanDecision))
	copy(out, h.OrphanLate)
	return out
}

// checkShards: either no history is a shard, or they are shards 1..N of
// one N, each once.
func checkShards(runs []*history.Run) error {
	var seen []int
	n := 0
	for _, h := range runs {
		if h.Meta.Shard == "" {
			continue
		}
		i, c, ok := strings.Cut(h.Meta.Shard, "/")
		ii, err1 := strconv.Atoi(i)
		cc, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("%w: shard %q", ErrHistories, h.Meta.Shard)
		}
		if n != 0 && cc != n {
			return fmt.Errorf("%w: shard %s beside shards of %d", ErrHistories, h.Meta.Shard, n)
		}
		if slices.Contains(seen, ii) {
			return fmt.Errorf("%w: shard %s given twice", ErrHistories, h.Meta.Shard)
		}
		n, seen = cc, append(seen, ii)
	}
	if n == 0 {
		return nil
	}
	if len(seen) != len(runs) {
		return fmt.Errorf("%w: shards of %d beside histories that are not shards", ErrHistories, n)
	}
	for i := 1; i <= n; i++ {
		if !slices.Contains(seen, i) {
			return fmt.Errorf("%w: shard %d/%d is missing", ErrHistories, i, n)
		}
	}
	return nil
}

// Rewitness replaces the decisions and deliveries of h's tokens with the
// ground truth w reads now (once, for every token), and records its
// source. An accepted object w no longer finds keeps the run's record.
func Rewitness(ctx context.Context, h *history.Run, w target.Witness, rec *history.Recorder) {
	for _, t := range h.Tokens {
		t.Decisions, t.Deliveries = nil, nil
	}
	gt := w.Witness(ctx, h.Tokens, rec.At)
	h.Meta.GroundTruth = &gt
	if c, ok := w.(target.Cleaner); ok {
		for _, t := range h.Tokens {
			if etag := c.AcceptedETag(ctx, t.Key); etag != "" {
				t.AcceptedETag = etag
			}
		}
	}
}

// Judge checks h, merged from parts (or parts[0] == h), and builds the
// report a run with this history prints: counts, verdict, latencies and
// the cost of what the client sent. The stack's own counters (memcached,
// the verifier's S3 requests) are not in a history. Each part has its own
// clock base, so the upload phase is the longest part's: shards run side
// by side.
func Judge(h *history.Run, parts []*history.Run) *report.Report {
	res := check.Check(h)
	col := metrics.NewCollector()
	for _, t := range h.Tokens {
		col.Add(t)
	}
	col.EndWindow()
	col.AddOrphans(h.OrphanDecision)
	m := h.Meta
	p := plan.Plan{Name: "check", Seed: m.Seed, MaxErrorRate: m.MaxErrorRate,
		Stack: plan.Stack{Strategy: m.Strategy, Clock: plan.ClockKind(m.Clock)}}
	in := report.Inputs{Plan: p, Strategy: m.Strategy, Clock: m.Clock, Partial: m.Partial, Check: res, Collector: col,
		Memcached: report.Memcached{Kind: cmp.Or(m.Memcached, "none")}, Faults: m.Faults,
		MemcachedUnknown: "a history does not hold the stack's memcached counters",
		Notes:            []string{"re-checked from a history: S3 requests are the client's uploads; the stack's own counters are not in it"}}
	if m.GroundTruth != nil {
		in.GroundTruth = *m.GroundTruth
	}
	in.S3.Post = int64(res.Counts.Uploads)
	in.Invoker.Invocations = int64(res.Counts.OK)
	rep := report.Build(in)
	if len(parts) > 1 {
		longest := time.Duration(0)
		for _, part := range parts {
			phase, _ := metrics.UploadPhase(part)
			longest = max(longest, phase)
		}
		rep.Throughput.UploadPhaseS = longest.Seconds()
		rep.Throughput.UploadsPerS = 0
		if longest > 0 {
			rep.Throughput.UploadsPerS = float64(res.Counts.Uploads) / longest.Seconds()
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("throughput: the %d histories' uploads over the longest one's upload phase (shards run side by side)", len(parts)))
		if err := rep.Account(cost.Default(), cost.Model{}); err != nil {
			rep.Notes = append(rep.Notes, "no cost estimate: "+err.Error())
		}
	}
	return rep
}
