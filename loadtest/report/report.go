// Package report renders a load run's result as JSON (DESIGN §4's fixed
// fields, plus more) and as a readable text table.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Report is one run. The fields DESIGN §4 fixes are ok, strategy,
// memcached.kind, counts.{tokens,uploads,accepted,rejected},
// violations.{double_accept,false_reject,late_accept,wrong_bytes,lost_urls},
// throughput.uploads_per_s, latency_ms.<phase>.{p50,p99},
// ops_per_upload.{memcached,s3_requests} and cost_usd_per_million.
type Report struct {
	OK bool `json:"ok"`
	// Verdict is ok, failed, inconclusive or partial; Headline says it in
	// one line, naming the first cause.
	Verdict   string    `json:"verdict"`
	Headline  string    `json:"headline"`
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
	// LivenessOwed says whether violations.lost_urls fails the run: the
	// strategy owes every URL with an in-time upload one accept.
	LivenessOwed bool `json:"liveness_owed"`
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
	// GroundTruth is what decided the verdict: the emulator's log, a
	// decision log in S3, or accepted versions; what it cannot decide is
	// "unknown" in the report, with why here.
	GroundTruth history.GroundTruth `json:"ground_truth"`
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
	// CostUSDPerMillion is the estimated AWS cost of a million uploads
	// sent, by component and in total (see Account and package cost).
	CostUSDPerMillion cost.PerMillion `json:"cost_usd_per_million"`
	// CostUSDPerMillionURLs is the same per million URLs issued, which is
	// what a team prices: duplicate and late attempts ride on one URL.
	CostUSDPerMillionURLs cost.PerMillion `json:"cost_usd_per_million_urls"`
	// MemcachedCapacity is the commands per second per node that a short
	// saturation probe of the run's command mix measured after the run; the
	// cost model sizes nodes with it unless a capacity is given.
	MemcachedCapacity float64 `json:"memcached_capacity_cmds_per_s,omitempty"`
	// CostModel is every figure the estimate rests on: prices file, Lambda
	// duration and memory, node type, nodes, node capacity, monthly volume,
	// and the DynamoDB conditional-delete design's cost for comparison.
	CostModel *cost.Applied `json:"cost_model,omitempty"`
	// BreakEvenMonthlyUploads is the monthly volume above which the
	// memcached nodes cost less than DynamoDB's conditional delete; null
	// when they never do or the strategy keeps no tokens in memcached.
	BreakEvenMonthlyUploads *float64 `json:"break_even_monthly_uploads"`

	// Faults lists every injected fault: when it fired, on which provider,
	// what it did, or why it did not fire.
	Faults []FaultReport `json:"faults"`

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
	// Throttled counts issue calls a usage plan refused (429): counted,
	// not violations, and not in Tokens.
	Throttled  int `json:"throttled"`
	Late       int `json:"late_uploads"`
	Errors     int `json:"upload_errors"`
	Deliveries int `json:"deliveries"`
	Decisions  int `json:"decisions"`

	unknown names // rendered "unknown": the ground truth cannot count them
}

// Violations are the invariants' counts.
type Violations struct {
	DoubleAccept int `json:"double_accept"`
	FalseReject  int `json:"false_reject"`
	LateAccept   int `json:"late_accept"`
	WrongBytes   int `json:"wrong_bytes"`
	// LostURLs is liveness: URLs with an in-time 2xx upload and no accept
	// that neither token loss nor exhausted retries explain (false rejects
	// included). A violation when the report's LivenessOwed; otherwise the
	// reference's known weakness, shown without failing the run.
	LostURLs int `json:"lost_urls"`

	unknown names // rendered "unknown": the ground truth cannot decide them
}

// Safety sums the four safety counts (lost URLs not included).
func (v Violations) Safety() int { return v.DoubleAccept + v.FalseReject + v.LateAccept + v.WrongBytes }

// Failing sums what fails the run: Safety, plus the lost URLs that are not
// false rejects already when the strategy owes liveness.
func (v Violations) Failing(livenessOwed bool) int {
	if !livenessOwed {
		return v.Safety()
	}
	return v.Safety() + max(0, v.LostURLs-v.FalseReject)
}

// Throughput is uploads over the upload phase's wall time: from the first
// upload sent to the last answer, summed over the run's windows (the issues
// of a window and the settle after it are not in it).
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
	MemcachedExact bool `json:"memcached_exact"`
	// S3Requests is every S3 request: the client's over HTTP and the
	// verifier's in-process COPY, DELETE, HEAD and version LIST.
	S3Requests float64 `json:"s3_requests"`
	// S3 splits S3Requests by operation, as S3 bills them.
	S3 S3PerUpload `json:"s3"`
	// APIRequests is issue API requests (one per URL).
	APIRequests float64 `json:"api_requests"`
	// LambdaInvocations is verifier invocations, retries included.
	LambdaInvocations float64 `json:"lambda_invocations"`
	// LambdaGBSeconds is modelled: invocations × memory × billed duration
	// (cost_model.lambda_memory_mb and lambda_ms).
	LambdaGBSeconds float64 `json:"lambda_gb_seconds"`

	unknown names // rendered "unknown": the run could not count them
}

// S3PerUpload is S3 requests per upload by operation; Other is anything
// the fake S3 could not classify (priced as GET).
type S3PerUpload struct {
	Put    float64 `json:"put"`
	Post   float64 `json:"post"`
	Copy   float64 `json:"copy"`
	Get    float64 `json:"get"`
	Head   float64 `json:"head"`
	List   float64 `json:"list"`
	Delete float64 `json:"delete"`
	Other  float64 `json:"other"`
}

// Account fills the per-upload operations, the cost estimate and the
// break-even from the counters already in r (counts, s3_requests,
// memcached_ops, invoker, throughput), with table t and
// model m. It can run again with other prices or another model.
func (r *Report) Account(t *cost.Table, m cost.Model) error {
	uploads := int64(r.Counts.Uploads)
	u := cost.Usage{Uploads: uploads, Tokens: int64(r.Counts.Tokens), APIRequests: int64(r.Counts.Tokens),
		Invocations: r.Invoker.Invocations, S3: r.S3Requests, Memcached: r.Memcached.Kind != "none" && r.Memcached.Kind != "",
		MemcachedCommands: r.MemcachedOps.Total(), MemcachedNodes: len(r.Memcached.Addrs),
		UploadsPerS: r.Throughput.UploadsPerS, BilledMS: r.Invoker.BilledMS, ProbedCapacity: r.MemcachedCapacity}
	e, err := cost.Compute(u, t, m)
	if err != nil {
		return err
	}
	if uploads > 0 {
		per := func(n int64) float64 { return float64(n) / float64(uploads) }
		o, s := &r.OpsPerUpload, r.S3Requests
		o.Memcached = per(r.MemcachedOps.Total())
		o.S3Requests = per(s.Total())
		o.S3 = S3PerUpload{Put: per(s.Put), Post: per(s.Post), Copy: per(s.Copy), Get: per(s.Get), Head: per(s.Head),
			List: per(s.List), Delete: per(s.Delete), Other: per(s.Other)}
		o.APIRequests = per(u.APIRequests)
		o.LambdaInvocations = per(u.Invocations)
		o.LambdaGBSeconds = o.LambdaInvocations * e.LambdaGBSeconds
	}
	r.CostUSDPerMillion, r.CostUSDPerMillionURLs = e.PerMillion, e.PerMillionURLs
	r.CostModel = &e.Applied
	r.BreakEvenMonthlyUploads = e.BreakEven
	return nil
}

// FromCheck fills the verdict fields from a checker result.
func (r *Report) FromCheck(c check.Result) {
	r.Counts = Counts{Tokens: c.Counts.Tokens, Uploads: c.Counts.Uploads, Accepted: c.Counts.Accepted, Rejected: c.Counts.Rejected,
		IssueErrors: c.Counts.IssueErrors, Throttled: c.Counts.Throttled, Late: c.Counts.Late, Errors: c.Counts.Errors, Deliveries: c.Counts.Deliveries,
		Decisions: c.Counts.Decisions}
	r.Violations = Violations{DoubleAccept: c.DoubleAccept.Count, FalseReject: c.FalseReject.Count,
		LateAccept: c.LateAccept.Count, WrongBytes: c.WrongBytes.Count, LostURLs: c.LostURLs.Count}
	r.LivenessOwed = c.LivenessOwed
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
		"late_accept": c.LateAccept, "wrong_bytes": c.WrongBytes, "lost_urls": c.LostURLs, "non_linearizable": c.NonLinearizable} {
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
	p("uploadonce loadtest\t%s", r.Headline)
	mc := r.Memcached.Kind
	if len(r.Memcached.Addrs) > 0 {
		mc += " " + strings.Join(r.Memcached.Addrs, ",")
	}
	p("strategy\t%s\tmemcached %s\tclock %s\tseed %d", r.Strategy, mc, r.Clock, r.Seed)
	p("")
	p("counts\ttokens %d\tuploads %d\taccepted %d\trejected %d", r.Counts.Tokens, r.Counts.Uploads, r.Counts.Accepted, r.Counts.Rejected)
	p("\tlate %d\terrors %d\tissue errors %d\tunknown %d", r.Counts.Late, r.Counts.Errors, r.Counts.IssueErrors, r.Unknown)
	v := r.Violations
	p("violations\tdouble_accept %s\tfalse_reject %s\tlate_accept %s\twrong_bytes %s", v.text("double_accept", v.DoubleAccept),
		v.text("false_reject", v.FalseReject), v.text("late_accept", v.LateAccept), v.text("wrong_bytes", v.WrongBytes))
	p("liveness\tlost_urls %s\t%s", v.text("lost_urls", v.LostURLs), LostNote(r.Strategy, r.Violations, r.LivenessOwed))
	if r.GroundTruth.Source != "" {
		p("ground truth\t%s", r.GroundTruth.Source)
	}
	for _, k := range sortedKeys(r.GroundTruth.Unknown) {
		p("  unknown %s\t%s", k, r.GroundTruth.Unknown[k])
	}
	p("linearizable\t%s", r.Linearizable)
	if r.Counts.Throttled > 0 {
		p("throttled\t%d issue calls refused by the usage plan (429): not violations", r.Counts.Throttled)
	}
	for _, k := range sortedKeys(r.ExplainedRejects) {
		p("explained reject\t%s %d", k, r.ExplainedRejects[k])
	}
	for _, k := range sortedKeys(r.Assumptions) {
		p("ASSUMPTION FAILED\t%s %d", k, r.Assumptions[k])
	}
	for _, k := range sortedKeys(r.Examples) {
		p("examples %s\t%s", k, strings.Join(r.Examples[k], " "))
	}
	for _, f := range r.Faults {
		p("fault %s@%s\t%s", f.Kind, f.At, faultLine(f))
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
	o := r.OpsPerUpload
	mcOps := fmt.Sprintf("%.2f", o.Memcached)
	switch {
	case o.unknown != "":
		mcOps = Unknown
	case !o.MemcachedExact:
		mcOps += " (not exact)"
	}
	p("ops per upload\tmemcached %s\ts3 requests %.2f\tapi requests %.2f\tlambda %.2f (%.6f GB-s)", mcOps,
		o.S3Requests, o.APIRequests, o.LambdaInvocations, o.LambdaGBSeconds)
	p("  s3 by operation\tput %.2f\tpost %.2f\tcopy %.2f\tget %.2f\thead %.2f\tlist %.2f\tdelete %.2f",
		o.S3.Put, o.S3.Post, o.S3.Copy, o.S3.Get, o.S3.Head, o.S3.List, o.S3.Delete)
	for _, c := range []struct {
		per string
		m   cost.PerMillion
	}{{"URLs", r.CostUSDPerMillionURLs}, {"uploads", r.CostUSDPerMillion}} {
		p("cost per 1M %s\t$%.4f\tAPI Gateway $%.4f\tLambda $%.4f\tS3 $%.4f\tmemcached $%.4f", c.per, c.m.Total,
			c.m.APIGateway, c.m.Lambda, c.m.S3, c.m.Memcached)
	}
	if m := r.CostModel; m != nil {
		p("  cost model\t%s", CostModelLine(m))
		p("  vs DynamoDB\t%s", BreakEvenLine(m, r.BreakEvenMonthlyUploads))
	}
	for _, n := range r.Notes {
		p("note\t%s", n)
	}
	if r.HistoryFile != "" {
		p("history\t%s", r.HistoryFile)
	}
	return tw.Flush()
}

// LostNote says what the lost URLs of a strategy's run mean.
func LostNote(strategy string, v Violations, owed bool) string {
	switch {
	case owed && v.LostURLs > 0:
		return "VIOLATION: " + strategy + " owes every URL with an in-time upload one accept"
	case owed:
		return "every URL with an in-time upload was accepted (or its loss is explained)"
	case v.LostURLs > 0:
		return "the reference's known weakness: " + strategy + " does not owe liveness (not failing the run)"
	}
	return strategy + " does not owe liveness; none lost this time"
}

// faultLine says in one line what a fault did.
func faultLine(f FaultReport) string {
	switch {
	case f.Fired && f.Ended != "":
		return fmt.Sprintf("fired at %.2fs on %s: %s; %s", f.FiredAtS, f.Provider, f.Effect, f.Ended)
	case f.Fired:
		return fmt.Sprintf("fired at %.2fs on %s: %s", f.FiredAtS, f.Provider, f.Effect)
	case f.NotApplicable:
		return "not applicable: " + f.Effect
	}
	return "DID NOT FIRE: " + f.Effect
}

// CostModelLine says in one line what the cost estimate assumed.
func CostModelLine(m *cost.Applied) string {
	s := fmt.Sprintf("Lambda %g MB × %.4g ms (%s), API Gateway %s, %s/month", m.LambdaMemoryMB, m.LambdaMS, m.LambdaMSFrom,
		m.API, Count(m.MonthlyUploads))
	switch {
	case m.NodeType == cost.NodeTypeServerless:
		s += ", ElastiCache Serverless"
	case m.NodeType != "":
		s += fmt.Sprintf(", %d × %s at $%g/h (%s node capacity %.0f cmd/s)", m.Nodes, m.NodeType, m.NodeUSDPerHour,
			m.NodeCapacityFrom, m.NodeCapacity)
	}
	return s + ", prices " + m.Prices
}

// BreakEvenLine compares the memcached token store with DynamoDB's
// conditional delete.
func BreakEvenLine(m *cost.Applied, breakEven *float64) string {
	s := fmt.Sprintf("DynamoDB conditional delete: %.2f WRU/upload, $%.4f per 1M uploads", m.DynamoDBWRUPerUpload,
		m.DynamoDBUSDPerMillion)
	switch {
	case m.NodeType == "":
		return s + "; no memcached to compare"
	case breakEven == nil:
		return s + "; memcached is never cheaper"
	}
	return s + "; memcached is cheaper above " + Count(*breakEven) + " uploads/month"
}

// Count renders a large count readably: 12.46M, 3.2k, 950.
func Count(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
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
