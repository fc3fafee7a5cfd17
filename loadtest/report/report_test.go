package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
)

func ptr[T any](v T) *T { return &v }

var update = flag.Bool("update", false, "rewrite the golden files")

// fixed is a hand-built report with one violation of each kind.
func fixed() *Report {
	r := &Report{Strategy: "get-delete", Memcached: Memcached{Kind: "embedded", Addrs: []string{"127.0.0.1:11211"}},
		Clock: "virtual", Seed: 7,
		Throughput: Throughput{UploadsPerS: 1234.5, UploadPhaseS: 2.5, WallS: 3},
		LatencyMS: map[string]metrics.Summary{
			metrics.PhaseIssue:    {Count: 10, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5},
			metrics.PhaseUpload:   {Count: 30, P50: 1.5, P90: 2.5, P99: 3.5, P999: 4.5, Max: 5.5},
			metrics.PhaseVerify:   {Count: 27, P50: 0.25, P90: 0.5, P99: 1, P999: 1, Max: 1},
			metrics.PhaseEndToEnd: {Count: 9, P50: 2, P90: 3, P99: 4, P999: 4, Max: 4},
		},
		Statuses: map[string]int{"204": 27, "403": 3}, Reasons: map[string]int{"accepted/first-use": 12, "rejected/token-missing": 15},
		OpsPerUpload: OpsPerUpload{Memcached: 1.5, MemcachedExact: true, S3Requests: 2.75, APIRequests: 0.25, LambdaInvocations: 1,
			LambdaGBSeconds: 0.000125, S3: S3PerUpload{Post: 1, Copy: 0.5, Delete: 1, Head: 0.25}},
		CostUSDPerMillion:     cost.PerMillion{APIGateway: 0.875, Lambda: 0.2021, S3: 7.6, Memcached: 0.1168, Total: 8.25},
		CostUSDPerMillionURLs: cost.PerMillion{APIGateway: 2.625, Lambda: 0.6063, S3: 22.8, Memcached: 0.3504, Total: 24.75},
		Faults: []FaultReport{{Kind: "memcached-pause", At: "5s", Fired: true, FiredAtS: 5.01, Provider: "embedded",
			Effect: "embedded paused for 30s", Ended: "memcached-pause ended: memcached answers again"}},
		CostModel: &cost.Applied{Prices: "prices.yaml (embedded)", Region: "us-east-1", API: "rest", LambdaMS: 1,
			LambdaMSFrom: cost.LambdaMSMeasured, LambdaMemoryMB: 128, MonthlyUploads: 100e6, NodeType: "cache.t4g.micro", Nodes: 1,
			NodeUSDPerHour: 0.016, NodeCapacity: 12000, NodeCapacityFrom: "measured", DynamoDBWRUPerUpload: 1.25,
			DynamoDBUSDPerMillion: 0.78125},
		BreakEvenMonthlyUploads: ptr(14.95e6), HistoryFile: "r-history.jsonl"}
	c := check.Result{Linearizable: check.NotLinearizable, ExplainedRejects: map[string]*check.Property{},
		Assumptions: map[string]*check.Property{}, Counts: check.Counts{Tokens: 10, Uploads: 30, Accepted: 12, Rejected: 15, Late: 3}}
	c.DoubleAccept = check.Property{Count: 3, Examples: []string{"uploads/a", "uploads/b", "uploads/c"}}
	c.FalseReject = check.Property{Count: 1, Examples: []string{"uploads/d"}}
	c.LostURLs = check.Property{Count: 1, Examples: []string{"uploads/d"}} // a false reject is a lost URL
	c.ExplainedRejects[check.CauseTokenTTL] = &check.Property{Count: 2}
	r.FromCheck(c)
	r.judge(c, 0.01, false)
	return r
}

// TestWriteTextGolden: the text table; go test -update rewrites it.
func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := fixed().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("text report differs from %s (go test -update to accept):\n%s", golden, buf.Bytes())
	}
}

// TestJSONFixedFields: every field DESIGN §4 fixes is present with its value.
func TestJSONFixedFields(t *testing.T) {
	var buf bytes.Buffer
	if err := fixed().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var v any = m
		for _, p := range path {
			mm, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, p)
			}
			if v, ok = mm[p]; !ok {
				t.Fatalf("field %v missing", path)
			}
		}
		return v
	}
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"ok"}, false},
		{[]string{"strategy"}, "get-delete"},
		{[]string{"memcached", "kind"}, "embedded"},
		{[]string{"counts", "tokens"}, 10.0},
		{[]string{"counts", "uploads"}, 30.0},
		{[]string{"counts", "accepted"}, 12.0},
		{[]string{"counts", "rejected"}, 15.0},
		{[]string{"violations", "double_accept"}, 3.0},
		{[]string{"violations", "false_reject"}, 1.0},
		{[]string{"violations", "late_accept"}, 0.0},
		{[]string{"violations", "wrong_bytes"}, 0.0},
		{[]string{"violations", "lost_urls"}, 1.0},
		{[]string{"liveness_owed"}, false},
		{[]string{"throughput", "uploads_per_s"}, 1234.5},
		{[]string{"latency_ms", "upload", "p50"}, 1.5},
		{[]string{"latency_ms", "end_to_end", "p99"}, 4.0},
		{[]string{"latency_ms", "verify", "p99"}, 1.0},
		{[]string{"latency_ms", "issue", "p50"}, 1.0},
		{[]string{"ops_per_upload", "memcached"}, 1.5},
		{[]string{"ops_per_upload", "s3_requests"}, 2.75},
		{[]string{"cost_usd_per_million", "total"}, 8.25},
		{[]string{"cost_usd_per_million", "memcached"}, 0.1168},
		{[]string{"ops_per_upload", "s3", "copy"}, 0.5},
		{[]string{"ops_per_upload", "api_requests"}, 0.25},
		{[]string{"ops_per_upload", "lambda_gb_seconds"}, 0.000125},
		{[]string{"break_even_monthly_uploads"}, 14.95e6},
		{[]string{"cost_model", "nodes"}, 1.0},
		{[]string{"linearizable"}, "false"},
		{[]string{"explained_rejects", "event-after-token-ttl"}, 2.0},
		{[]string{"seed"}, 7.0},
		{[]string{"partial"}, false},
		{[]string{"unknown"}, 0.0},
		{[]string{"late_sends"}, 0.0},
	} {
		if got := get(tc.path...); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.path, got, tc.want)
		}
	}
	for _, f := range []string{"plan", "statuses", "reasons"} {
		get(f)
	}
	// Clients read violations as a map of counts: numbers only.
	for k, v := range get("violations").(map[string]any) {
		if _, ok := v.(float64); !ok {
			t.Errorf("violations.%s = %v, not a count", k, v)
		}
	}
}

// TestAccount: per-upload operations and cost from the raw counters.
func TestAccount(t *testing.T) {
	r := &Report{Memcached: Memcached{Kind: "embedded", Addrs: []string{"127.0.0.1:1"}},
		Counts: Counts{Tokens: 100, Uploads: 200}, Invoker: lambda.Stats{Invocations: 200, BilledMS: 600},
		S3Requests:   metrics.S3Requests{Post: 200, Copy: 100, Head: 10, Delete: 200},
		MemcachedOps: metrics.MemcachedOps{Get: 200, Set: 200, CAS: 100}, // add + gets + cas
		Throughput:   Throughput{UploadsPerS: 1000},
		LatencyMS:    map[string]metrics.Summary{metrics.PhaseVerify: {P50: 2.2}}}
	if err := r.Account(cost.Default(), cost.Model{}); err != nil {
		t.Fatal(err)
	}
	o := r.OpsPerUpload
	want := OpsPerUpload{Memcached: 2, S3Requests: 2.55, APIRequests: 0.5, LambdaInvocations: 1,
		LambdaGBSeconds: 0.125 * 0.003, // 600 billed ms over 200 invocations: 3 ms each
		S3:              S3PerUpload{Post: 1, Copy: 0.5, Head: 0.05, Delete: 1}}
	if o != want {
		t.Errorf("ops per upload\n got %+v\nwant %+v", o, want)
	}
	if r.CostModel.NodeCapacity != 2000 || r.CostModel.Nodes != 1 || r.BreakEvenMonthlyUploads == nil {
		t.Errorf("cost model %+v, break-even %v", r.CostModel, r.BreakEvenMonthlyUploads)
	}
	// 0.5 × 3.50 + Lambda + 1.5 × 5 + 0.05 × 0.4 + 0.1168
	wantTotal := 1.75 + (0.2 + 0.000375*0.0000166667*1e6) + 7.5 + 0.02 + 0.1168
	if d := r.CostUSDPerMillion.Total - wantTotal; d > 1e-9 || d < -1e-9 {
		t.Errorf("total %v, want %v", r.CostUSDPerMillion.Total, wantTotal)
	}
	if err := r.Account(cost.Default(), cost.Model{NodeType: "cache.x9.giant"}); err == nil {
		t.Error("unknown node type accepted")
	}
}

// TestVerdict: an interrupted run claims nothing; coverage is judged
// before safety; an injected fault that never fired fails the run; then
// the invariants. Each headline names its first cause.
func TestVerdict(t *testing.T) {
	clean := check.Result{Linearizable: "true", Counts: check.Counts{Tokens: 100, Uploads: 200, OK: 200, Accepted: 100}}
	broken := clean
	broken.Counts.IssueErrors, broken.FirstIssueErr = 100, `HTTP 502: {"message":"Internal server error"}`
	broken.Unknown = check.Property{Count: 100}
	double := clean
	double.DoubleAccept = check.Property{Count: 4}
	fired := []FaultReport{{Kind: "memcached-pause", At: "0s", Fired: true}}
	unfired := []FaultReport{{Kind: "memcached-restart", At: "5m", Effect: "never fired: the run ended before its offset 5m0s"}}
	notApplicable := []FaultReport{{Kind: "memcached-restart", At: "5s", NotApplicable: true}}
	for _, tc := range []struct {
		name    string
		c       check.Result
		faults  []FaultReport
		partial bool
		verdict string
		words   string
	}{
		{"clean", clean, nil, false, VerdictOK, "OK: the one-time invariants held over 100 URLs"},
		{"a fault that does not apply is no failure", clean, notApplicable, false, VerdictOK, "OK:"},
		{"interrupted, even with violations", double, nil, true, VerdictPartial, "PARTIAL: the run was interrupted"},
		{"nothing tested", broken, fired, false, VerdictInconclusive, "INCONCLUSIVE: 100 of 100 issue calls failed (first: HTTP 502"},
		{"names the faults in force", broken, fired, false, VerdictInconclusive, "faults injected: memcached-pause@0s"},
		{"a fault never fired", clean, unfired, false, VerdictFailed, "FAILED: fault memcached-restart@5m never fired"},
		{"a violation", double, nil, false, VerdictFailed, "FAILED: cas did not hold the one-time invariants: double_accept 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Strategy: "cas", Faults: tc.faults}
			r.FromCheck(tc.c)
			r.judge(tc.c, 0.01, tc.partial)
			if r.Verdict != tc.verdict || !strings.Contains(r.Headline, tc.words) || r.OK != (tc.verdict == VerdictOK) {
				t.Fatalf("verdict %s ok %v %q, want %s and %q", r.Verdict, r.OK, r.Headline, tc.verdict, tc.words)
			}
		})
	}
}
