// Package compare runs one load plan against every one-time strategy and
// lays the reports side by side: a text table, JSON, and an HTML page with
// charts (safety violations, throughput, latency, operations and cost per
// upload).
//
// Every strategy gets the same plan and seed on a fresh stack. get-delete is
// the reference's check-then-act guard, kept to show its race: its
// violations are the expected demonstration, and only a violation by any
// other strategy fails the comparison.
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// Expected is the strategy that exists to violate the invariants.
const Expected = onetime.GetDelete

// Runner runs one plan; the CLI wraps loadtest.Run with its logger and
// progress options.
type Runner func(ctx context.Context, p plan.Plan) (*loadtest.Result, error)

// Options configure Run. The zero Options compare every strategy at the
// default prices and cost model, silently.
type Options struct {
	// Strategies to run, in order (default onetime.StrategyNames()).
	Strategies []string
	// Prices and Model price each report (default cost.Default(), and the
	// zero Model).
	Prices *cost.Table
	Model  cost.Model
	// Progress, when set, gets a line as each strategy starts and ends.
	Progress io.Writer
}

// Comparison is the result: one report and one table row per strategy.
type Comparison struct {
	// OK is true when every strategy but Expected held the invariants and
	// every run finished.
	OK bool `json:"ok"`
	// Partial is true when the comparison was cut short: some strategies
	// did not run, or a run was partial.
	Partial  bool             `json:"partial"`
	Expected string           `json:"expected_to_violate"`
	Table    []Row            `json:"table"`
	Reports  []*report.Report `json:"reports"`
	// Prices is the table every report was priced with.
	Prices *cost.Table `json:"prices"`
}

// Row is one strategy's line in the table.
type Row struct {
	Strategy string `json:"strategy"`
	Store    string `json:"store"` // memcached or s3
	OK       bool   `json:"ok"`
	// Expected is true for the strategy whose violations are expected.
	Expected bool `json:"expected_to_violate"`
	// Violations counts what fails the run: the four safety kinds, and
	// lost URLs beyond the false rejects when the strategy owes liveness.
	Violations int `json:"violations"`
	// LostURLs is the liveness count; LivenessOwed says whether it is a
	// violation (else the reference's known weakness).
	LostURLs     int  `json:"lost_urls"`
	LivenessOwed bool `json:"liveness_owed"`
	Partial      bool `json:"partial"`
	// Verdict is the report's: ok, failed, inconclusive or partial.
	Verdict string `json:"verdict"`
	// Faults says how many of the planned faults fired ("" without any).
	Faults string `json:"faults,omitempty"`

	UploadsPerS        float64 `json:"uploads_per_s"`
	EndToEndP50MS      float64 `json:"end_to_end_p50_ms"`
	EndToEndP99MS      float64 `json:"end_to_end_p99_ms"`
	MemcachedPerUpload float64 `json:"memcached_ops_per_upload"`
	S3PerUpload        float64 `json:"s3_requests_per_upload"`
	CostUSDPerMillion  float64 `json:"cost_usd_per_million"`
	// CostUSDPerMillionURLs is per URL issued; CostUSDPerMillion per upload.
	CostUSDPerMillionURLs float64  `json:"cost_usd_per_million_urls"`
	BreakEven             *float64 `json:"break_even_monthly_uploads"`
}

// ErrCutShort is returned with a partial Comparison when ctx ended before
// every strategy ran.
var ErrCutShort = errors.New("comparison cut short")

// Run runs base once per strategy (only the strategy changes; the
// if-none-match strategy uploads with PUT, which the engine enforces) and
// prices every report. A run that cannot start is an error; the returned
// Comparison then holds the strategies that ran.
func Run(ctx context.Context, base plan.Plan, run Runner, o Options) (*Comparison, error) {
	if o.Prices == nil {
		o.Prices = cost.Default()
	}
	if len(o.Strategies) == 0 {
		o.Strategies = onetime.StrategyNames()
	}
	for _, s := range o.Strategies {
		if _, ok := onetime.LookupStrategy(s); !ok {
			return nil, fmt.Errorf("strategy %q is not one of %v", s, onetime.StrategyNames())
		}
	}
	if err := o.Model.Validate(o.Prices); err != nil {
		return nil, err
	}
	c := &Comparison{Expected: Expected, Prices: o.Prices}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "compare "+format+"\n", args...)
		}
	}
	for i, s := range o.Strategies {
		if ctx.Err() != nil {
			c.Partial = true
			break
		}
		p := base
		p.Stack.Strategy = s
		if s == onetime.IfNoneMatch {
			// compare runs every strategy: this one keeps its own method
			// (PUT) whatever the others use, and its report says so.
			p.Stack.Method = ""
		}
		progress("[%d/%d] %s: %d URLs, %d uploads, seed %d", i+1, len(o.Strategies), s, p.Tokens(), p.Uploads(), p.Seed)
		start := time.Now()
		res, err := run(ctx, p)
		if err != nil {
			c.finish()
			return c, fmt.Errorf("strategy %s: %w", s, err)
		}
		rep := res.Report
		if err := rep.Account(o.Prices, o.Model); err != nil {
			c.finish()
			return c, fmt.Errorf("strategy %s: %w", s, err)
		}
		c.Reports = append(c.Reports, rep)
		row := NewRow(rep)
		verdict := "held the invariants"
		switch {
		case row.Violations > 0 && row.Expected:
			verdict = fmt.Sprintf("violated %s (expected: the check-then-act race)", times(row.Violations))
		case row.Violations > 0:
			verdict = fmt.Sprintf("VIOLATED the invariants %s", times(row.Violations))
		case !row.OK:
			verdict = "FAILED (see its report)"
		}
		progress("[%d/%d] %s: done in %.1fs, %s, %.0f uploads/s", i+1, len(o.Strategies), s,
			time.Since(start).Seconds(), verdict, row.UploadsPerS)
	}
	c.finish()
	if c.Partial && len(c.Reports) < len(o.Strategies) {
		return c, ErrCutShort
	}
	return c, nil
}

// New builds a Comparison from reports that already ran and were priced.
func New(reports []*report.Report, prices *cost.Table) *Comparison {
	c := &Comparison{Expected: Expected, Prices: prices, Reports: reports}
	c.finish()
	return c
}

// finish derives the table and the verdict from the reports.
func (c *Comparison) finish() {
	c.Table = c.Table[:0]
	c.OK = len(c.Reports) > 0
	for _, r := range c.Reports {
		row := NewRow(r)
		c.Table = append(c.Table, row)
		if r.Partial {
			c.Partial = true
		}
		if !row.OK && !row.Expected || r.Partial {
			c.OK = false
		}
	}
	if c.Partial {
		c.OK = false
	}
}

// NewRow summarises one report.
func NewRow(r *report.Report) Row {
	v := r.Violations
	e2e := r.LatencyMS[metrics.PhaseEndToEnd]
	row := Row{Strategy: r.Strategy, OK: r.OK, Expected: r.Strategy == Expected, Partial: r.Partial,
		Violations: v.Failing(r.LivenessOwed), LostURLs: v.LostURLs, LivenessOwed: r.LivenessOwed,
		UploadsPerS: r.Throughput.UploadsPerS, EndToEndP50MS: e2e.P50, EndToEndP99MS: e2e.P99,
		MemcachedPerUpload: r.OpsPerUpload.Memcached, S3PerUpload: r.OpsPerUpload.S3Requests,
		CostUSDPerMillion: r.CostUSDPerMillion.Total, CostUSDPerMillionURLs: r.CostUSDPerMillionURLs.Total,
		BreakEven: r.BreakEvenMonthlyUploads, Verdict: r.Verdict}
	if len(r.Faults) > 0 {
		fired := 0
		for _, f := range r.Faults {
			if f.Fired || f.NotApplicable {
				fired++
			}
		}
		row.Faults = fmt.Sprintf("%d/%d fired", fired, len(r.Faults))
	}
	if info, ok := onetime.LookupStrategy(r.Strategy); ok {
		row.Store = info.Store
	}
	return row
}

// Failed lists the strategies other than Expected that did not hold. A
// run that was cut short did not fail: it claims nothing.
func (c *Comparison) Failed() []string {
	var out []string
	for _, row := range c.Table {
		if !row.OK && !row.Expected && !row.Partial {
			out = append(out, row.Strategy)
		}
	}
	return out
}

// WriteJSON writes the comparison (table, reports and prices) as indented
// JSON.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
