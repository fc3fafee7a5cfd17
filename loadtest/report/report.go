// Package report renders a load run's result as JSON (DESIGN §4's fixed
// fields, plus more) and as a readable text table.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Report is one run. The fields DESIGN §4 fixes are ok, strategy,
// memcached.kind, counts.{tokens,uploads,accepted,rejected},
// violations.{double_accept,false_reject,late_accept,wrong_bytes},
// throughput.uploads_per_s, latency_ms.<phase>.{p50,p99},
// ops_per_upload.{memcached,s3_requests} and cost_usd_per_million.
type Report struct {
	OK        bool      `json:"ok"`
	Strategy  string    `json:"strategy"`
	Memcached Memcached `json:"memcached"`
	Clock     string    `json:"clock"`
	Seed      uint64    `json:"seed"`
	Plan      plan.Plan `json:"plan"`
	// Partial is true when the run was cut short (signal or timeout): the
	// counts cover what ran.
	Partial bool `json:"partial"`

	Counts     Counts     `json:"counts"`
	Violations Violations `json:"violations"`
	// Unknown counts URLs whose outcome the client could not see.
	Unknown int `json:"unknown"`
	// ExplainedRejects counts, by cause, URLs owed an accept that an
	// injected fault or a documented limit explains.
	ExplainedRejects map[string]int `json:"explained_rejects"`
	// Assumptions counts the checker's own assumptions that failed; when
	// any did, ok is false and the verdicts are not to be trusted.
	Assumptions map[string]int `json:"assumptions"`
	// Linearizable is porcupine's verdict on the token store: true, false
	// or unknown (the checker timed out).
	Linearizable string `json:"linearizable"`
	// Examples lists up to 10 keys per violated property.
	Examples map[string][]string `json:"examples,omitempty"`

	Throughput Throughput                 `json:"throughput"`
	LatencyMS  map[string]metrics.Summary `json:"latency_ms"`
	// Statuses counts upload answers by HTTP status ("error": none).
	Statuses map[string]int `json:"statuses"`
	// Reasons counts verifier decisions by decision/reason.
	Reasons map[string]int `json:"reasons"`
	// LateSends counts requests (open model) that started more than 1 ms
	// after their intended time.
	LateSends int `json:"late_sends"`

	OpsPerUpload OpsPerUpload         `json:"ops_per_upload"`
	MemcachedOps metrics.MemcachedOps `json:"memcached_ops"`
	S3Requests   metrics.S3Requests   `json:"s3_requests"`
	Invoker      lambda.Stats         `json:"invoker"`
	Queue        s3event.Stats        `json:"queue"`
	// CostUSDPerMillion is the estimated AWS request cost of a million
	// uploads (API Gateway, Lambda, S3; not ElastiCache node-hours), from the
	// table in loadtest/cost.
	CostUSDPerMillion float64       `json:"cost_usd_per_million"`
	Cost              cost.Estimate `json:"cost_breakdown_usd_per_million"`

	// HistoryFile is where a failing run's history was written.
	HistoryFile string   `json:"history_file,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// Memcached describes the token store.
type Memcached struct {
	Kind  string   `json:"kind"` // "none" for strategies that keep no tokens
	Addrs []string `json:"addrs,omitempty"`
}

// Counts are what the run did.
type Counts struct {
	Tokens int `json:"tokens"` // URLs issued (or attempted)
	// Uploads counts uploads sent.
	Uploads int `json:"uploads"`
	// Accepted counts distinct uploads accepted; a redelivered winner
	// accepted again counts once.
	Accepted int `json:"accepted"`
	// Rejected counts final rejections (not fail-closed ones retried).
	Rejected    int `json:"rejected"`
	IssueErrors int `json:"issue_errors"`
	Late        int `json:"late_uploads"`
	Errors      int `json:"upload_errors"`
	Deliveries  int `json:"deliveries"`
	Decisions   int `json:"decisions"`
}

// Violations are the invariants' counts.
type Violations struct {
	DoubleAccept int `json:"double_accept"`
	FalseReject  int `json:"false_reject"`
	LateAccept   int `json:"late_accept"`
	WrongBytes   int `json:"wrong_bytes"`
}

// Throughput is uploads over the upload phase's wall time.
type Throughput struct {
	UploadsPerS  float64 `json:"uploads_per_s"`
	UploadPhaseS float64 `json:"upload_phase_s"`
	WallS        float64 `json:"wall_s"`
}

// OpsPerUpload are operations per upload sent.
type OpsPerUpload struct {
	// Memcached is memcached commands (get, set/add/cas, delete, ...) per
	// upload, counted exactly with memcached's `stats` before and after the
	// run; issue-time adds are included.
	Memcached float64 `json:"memcached"`
	// MemcachedExact is false when a restart reset the counters mid-run or
	// they could not be read.
	MemcachedExact bool    `json:"memcached_exact"`
	S3Requests     float64 `json:"s3_requests"`
}

// FromCheck fills the verdict fields from a checker result.
func (r *Report) FromCheck(c check.Result) {
	r.Counts = Counts{Tokens: c.Counts.Tokens, Uploads: c.Counts.Uploads, Accepted: c.Counts.Accepted, Rejected: c.Counts.Rejected,
		IssueErrors: c.Counts.IssueErrors, Late: c.Counts.Late, Errors: c.Counts.Errors, Deliveries: c.Counts.Deliveries,
		Decisions: c.Counts.Decisions}
	r.Violations = Violations{DoubleAccept: c.DoubleAccept.Count, FalseReject: c.FalseReject.Count,
		LateAccept: c.LateAccept.Count, WrongBytes: c.WrongBytes.Count}
	r.Unknown = c.Unknown.Count
	r.Linearizable = c.Linearizable
	r.ExplainedRejects = map[string]int{}
	for k, p := range c.ExplainedRejects {
		r.ExplainedRejects[k] = p.Count
	}
	r.Assumptions = map[string]int{}
	r.Examples = map[string][]string{}
	for k, p := range c.Assumptions {
		r.Assumptions[k] = p.Count
		r.Examples["assumption:"+k] = p.Examples
	}
	for name, p := range map[string]check.Property{"double_accept": c.DoubleAccept, "false_reject": c.FalseReject,
		"late_accept": c.LateAccept, "wrong_bytes": c.WrongBytes, "non_linearizable": c.NonLinearizable} {
		if len(p.Examples) > 0 {
			r.Examples[name] = p.Examples
		}
	}
	r.OK = c.OK()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a readable table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	verdict := "OK: the one-time invariants held"
	if !r.OK {
		verdict = "FAILED: see violations"
	}
	if r.Partial {
		verdict += " (partial run)"
	}
	p("uploadonce loadtest\t%s", verdict)
	mc := r.Memcached.Kind
	if len(r.Memcached.Addrs) > 0 {
		mc += " " + strings.Join(r.Memcached.Addrs, ",")
	}
	p("strategy\t%s\tmemcached %s\tclock %s\tseed %d", r.Strategy, mc, r.Clock, r.Seed)
	p("")
	p("counts\ttokens %d\tuploads %d\taccepted %d\trejected %d", r.Counts.Tokens, r.Counts.Uploads, r.Counts.Accepted, r.Counts.Rejected)
	p("\tlate %d\terrors %d\tissue errors %d\tunknown %d", r.Counts.Late, r.Counts.Errors, r.Counts.IssueErrors, r.Unknown)
	p("violations\tdouble_accept %d\tfalse_reject %d\tlate_accept %d\twrong_bytes %d",
		r.Violations.DoubleAccept, r.Violations.FalseReject, r.Violations.LateAccept, r.Violations.WrongBytes)
	p("linearizable\t%s", r.Linearizable)
	for _, k := range sortedKeys(r.ExplainedRejects) {
		p("explained reject\t%s %d", k, r.ExplainedRejects[k])
	}
	for _, k := range sortedKeys(r.Assumptions) {
		p("ASSUMPTION FAILED\t%s %d", k, r.Assumptions[k])
	}
	for _, k := range sortedKeys(r.Examples) {
		p("examples %s\t%s", k, strings.Join(r.Examples[k], " "))
	}
	p("")
	p("throughput\t%.1f uploads/s\tupload phase %.2fs\twall %.2fs", r.Throughput.UploadsPerS, r.Throughput.UploadPhaseS, r.Throughput.WallS)
	p("latency ms\tp50\tp90\tp99\tp99.9\tmax\tcount")
	for _, ph := range metrics.Phases {
		s := r.LatencyMS[ph]
		p("  %s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d", ph, s.P50, s.P90, s.P99, s.P999, s.Max, s.Count)
	}
	p("statuses\t%s", joinCounts(r.Statuses))
	p("decisions\t%s", joinCounts(r.Reasons))
	if r.LateSends > 0 {
		p("late sends\t%d (started >1ms after their intended time)", r.LateSends)
	}
	exact := ""
	if !r.OpsPerUpload.MemcachedExact {
		exact = " (not exact)"
	}
	p("ops per upload\tmemcached %.2f%s\ts3 requests %.2f", r.OpsPerUpload.Memcached, exact, r.OpsPerUpload.S3Requests)
	p("cost per 1M uploads\t$%.4f\tAPI Gateway $%.4f\tLambda $%.4f + $%.4f\tS3 $%.4f", r.CostUSDPerMillion,
		r.Cost.APIGateway, r.Cost.LambdaRequests, r.Cost.LambdaCompute, r.Cost.S3Requests)
	for _, n := range r.Notes {
		p("note\t%s", n)
	}
	if r.HistoryFile != "" {
		p("history\t%s", r.HistoryFile)
	}
	return tw.Flush()
}

func joinCounts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
