package report

import (
	"cmp"
	"time"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Inputs are everything a run's report is built from.
type Inputs struct {
	Plan      plan.Plan
	Strategy  string
	Clock     string
	Partial   bool
	Memcached Memcached // Kind "none" when the strategy keeps no tokens
	Check     check.Result
	Collector *metrics.Collector
	Wall      time.Duration
	LateSends int64
	Invoker   lambda.Stats
	Queue     s3event.Stats
	S3        metrics.S3Requests
	// MemcachedOps are the run's commands; MemcachedExact says whether
	// they are exact (no restart reset the counters, every read worked).
	MemcachedOps   metrics.MemcachedOps
	MemcachedExact bool
	// MemcachedCapacity is the probed commands/s per node; 0 for none.
	MemcachedCapacity float64
	Notes             []string
	// Faults are the faults the history recorded (injections, ends and
	// observations); the plan says which were planned.
	Faults []history.Fault
	// GroundTruth is what the decisions came from (zero: the emulator's
	// log); MemcachedUnknown says why memcached commands were not counted.
	GroundTruth      history.GroundTruth
	MemcachedUnknown string
}

// Build builds the report of a run, with its cost at the default prices
// and cost model; compare re-runs Account with its own.
func Build(in Inputs) *Report {
	r := &Report{Strategy: in.Strategy, Clock: in.Clock, Seed: in.Plan.Seed, Plan: in.Plan, Partial: in.Partial,
		Memcached: in.Memcached, Invoker: in.Invoker, Queue: in.Queue, LateSends: int(in.LateSends)}
	r.FromCheck(in.Check)
	r.Faults = faultReports(in.Plan.Faults, in.Faults, in.Memcached.Kind)
	c := in.Collector
	r.LatencyMS, r.Statuses, r.Reasons = c.Latencies(), c.Statuses(), c.Reasons()
	phase, n := c.UploadPhase()
	r.Throughput.UploadPhaseS = phase.Seconds()
	if phase > 0 {
		r.Throughput.UploadsPerS = float64(n) / phase.Seconds()
	}
	r.Throughput.WallS = in.Wall.Seconds()
	r.S3Requests, r.MemcachedOps = in.S3, in.MemcachedOps
	r.OpsPerUpload.MemcachedExact = in.MemcachedExact
	r.MemcachedCapacity = in.MemcachedCapacity
	if err := r.Account(cost.Default(), cost.Model{}); err != nil {
		r.Notes = append(r.Notes, "no cost estimate: "+err.Error())
	}
	r.Notes = append(r.Notes, in.Notes...)
	r.applyTruth(in.GroundTruth, in.MemcachedUnknown)
	r.judge(in.Check, cmp.Or(in.Plan.MaxErrorRate, plan.DefaultMaxErrorRate), in.Partial)
	return r
}
