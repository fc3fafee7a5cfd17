package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedReport is a hand-built report of 100 URLs × 2 uploads for strategy s,
// priced at the default table with a given Lambda duration.
func fixedReport(t *testing.T, s string) *report.Report {
	t.Helper()
	r := &report.Report{Strategy: s, OK: true, Clock: "virtual", Seed: 1,
		Memcached: report.Memcached{Kind: "embedded", Addrs: []string{"127.0.0.1:11211"}},
		Counts:    report.Counts{Tokens: 100, Uploads: 200, Accepted: 100, Rejected: 100},
		Invoker:   lambda.Stats{Invocations: 200},
		// One POST per upload; the winner copied and both sources deleted.
		S3Requests:   metrics.S3Requests{Post: 200, Copy: 100, Delete: 200},
		MemcachedOps: metrics.MemcachedOps{Set: 100, Get: 200, Delete: 100},
		Throughput:   report.Throughput{UploadsPerS: 4000},
		LatencyMS: map[string]metrics.Summary{
			metrics.PhaseIssue: {P50: 0.5, P99: 2}, metrics.PhaseUpload: {P50: 1, P99: 4},
			metrics.PhaseVerify: {P50: 0.2, P99: 1}, metrics.PhaseEndToEnd: {P50: 1.5, P99: 6},
		}}
	r.LivenessOwed = onetime.OwesLiveness(s)
	switch s {
	case onetime.GetDelete:
		r.OK, r.Violations.DoubleAccept, r.Counts.Accepted = false, 7, 107
		r.S3Requests.Copy = 107
	case onetime.Delete:
		// A redelivered winner finds its token gone: the known weakness.
		r.Violations.LostURLs = 3
	case onetime.CAS:
		r.MemcachedOps.Delete, r.MemcachedOps.Set, r.MemcachedOps.CAS = 0, 200, 100
		r.Throughput.UploadsPerS = 3500
	case onetime.Versioning, onetime.IfNoneMatch:
		r.Memcached = report.Memcached{Kind: "none"}
		r.MemcachedOps = metrics.MemcachedOps{}
		r.S3Requests.List = 200
		if s == onetime.IfNoneMatch {
			// The second PUT gets 412 and sends no event.
			r.S3Requests = metrics.S3Requests{Put: 200, Copy: 100, Delete: 100}
			r.Invoker.Invocations = 100
		}
		r.Throughput.UploadsPerS = 2500
	}
	if err := r.Account(cost.Default(), cost.Model{LambdaMS: 20}); err != nil {
		t.Fatal(err)
	}
	return r
}

func fixed(t *testing.T) *Comparison {
	var reps []*report.Report
	for _, s := range onetime.StrategyNames() {
		reps = append(reps, fixedReport(t, s))
	}
	return New(reps, cost.Default())
}

// TestWriteTextGolden: the table; go test -update rewrites it.
func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := fixed(t).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("table differs from %s (go test -update to accept):\n%s", golden, buf.Bytes())
	}
}

func TestVerdict(t *testing.T) {
	c := fixed(t)
	if !c.OK || len(c.Failed()) != 0 {
		t.Fatalf("get-delete's violations failed the comparison: %+v", c.Table)
	}
	reps := c.Reports
	reps[1] = fixedReport(t, onetime.Delete)
	reps[1].OK, reps[1].Violations.FalseReject = false, 2
	c = New(reps, cost.Default())
	if c.OK || !slices.Equal(c.Failed(), []string{onetime.Delete}) {
		t.Fatalf("a violating delete passed: ok %v, failed %v", c.OK, c.Failed())
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "FAILED: delete did not hold") {
		t.Fatalf("verdict:\n%s", buf.String())
	}
}

// TestRun: every strategy runs the same plan in order, if-none-match with
// PUT, and each report is priced with the given model.
func TestRun(t *testing.T) {
	base := plan.Plan{Name: "x", Seed: 42, Stack: plan.Stack{Method: onetime.MethodPOST}}
	var got []plan.Plan
	run := func(_ context.Context, p plan.Plan) (*loadtest.Result, error) {
		got = append(got, p)
		return &loadtest.Result{Report: fixedReport(t, p.Stack.Strategy)}, nil
	}
	var progress bytes.Buffer
	c, err := Run(context.Background(), base, run, Options{Model: cost.Model{LambdaMS: 7}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("ran %d plans", len(got))
	}
	for i, s := range onetime.StrategyNames() {
		want := onetime.MethodPOST
		if s == onetime.IfNoneMatch {
			want = onetime.MethodPUT
		}
		if m, _ := got[i].Stack.UploadMethod(); got[i].Stack.Strategy != s || got[i].Seed != 42 || m != want {
			t.Errorf("plan %d: %+v", i, got[i].Stack)
		}
		if c.Table[i].Strategy != s || c.Reports[i].CostModel.LambdaMS != 7 {
			t.Errorf("row %d: %+v", i, c.Table[i])
		}
	}
	if !c.OK || !strings.Contains(progress.String(), "[5/5] if-none-match: done") ||
		!strings.Contains(progress.String(), "(expected: the check-then-act race)") {
		t.Fatalf("ok %v, progress:\n%s", c.OK, progress.String())
	}
	if _, err := Run(context.Background(), base, run, Options{Model: cost.Model{NodeType: "cache.nope"}}); err == nil {
		t.Error("an unknown node type ran")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c, err := Run(ctx, base, run, Options{}); err != ErrCutShort || c.OK {
		t.Errorf("cancelled: %v, ok %v", err, c.OK)
	}
}

func TestWriteHTMLAndJSON(t *testing.T) {
	c := fixed(t)
	var buf bytes.Buffer
	if err := c.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n < 6 {
		t.Errorf("%d <svg> elements, want 6", n)
	}
	for _, s := range onetime.StrategyNames() {
		if !strings.Contains(page, ">"+s+"<") {
			t.Errorf("page does not name %s", s)
		}
	}
	// Self-contained: no scripts, stylesheets or images from elsewhere.
	for _, bad := range []string{"<script", "<link", "src=", "<?xml", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	buf.Reset()
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK      bool             `json:"ok"`
		Table   []Row            `json:"table"`
		Reports []map[string]any `json:"reports"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !back.OK || len(back.Table) != 5 || len(back.Reports) != 5 || back.Reports[4]["strategy"] != onetime.IfNoneMatch {
		t.Fatalf("JSON %s", buf.Bytes())
	}
}

// TestInterruptedNeverBlamesAStrategy: a comparison cut short says so, in
// the text and on the page, and names no strategy as failed.
func TestInterruptedNeverBlamesAStrategy(t *testing.T) {
	done := fixedReport(t, onetime.Delete)
	cut := fixedReport(t, onetime.CAS)
	cut.OK, cut.Partial, cut.Verdict = false, true, report.VerdictPartial
	c := New([]*report.Report{done, cut}, cost.Default())
	var text, page bytes.Buffer
	if err := c.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "page": page.String()} {
		if !strings.Contains(out, "PARTIAL: the comparison was interrupted") || strings.Contains(out, "FAILED") {
			t.Errorf("%s of an interrupted comparison:\n%s", name, out)
		}
	}
	if c.OK || len(c.Failed()) != 0 {
		t.Errorf("ok %v, failed %v: want not ok and nothing failed", c.OK, c.Failed())
	}
}
