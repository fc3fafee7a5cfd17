package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readReport reads a JSON report.
func readReport(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestShardsCheckLikeOneRun: two shards, then check of their histories,
// give the counts and verdict of one run of the whole plan with the same
// seed; a shard missing or given twice is bad input.
func TestShardsCheckLikeOneRun(t *testing.T) {
	dir := t.TempDir()
	load := []string{"loadtest", "--memcached", "embedded", "--strategy", "cas", "--urls", "300", "--duplicates", "3", "--seed", "7"}
	h1, h2 := filepath.Join(dir, "h1.jsonl"), filepath.Join(dir, "h2.jsonl")
	for i, h := range []string{h1, h2} {
		if code, out, stderr := runCLI(t, append(load, "--shard", []string{"1/2", "2/2"}[i], "--history", h)...); code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s%s", i+1, code, out, stderr)
		}
	}
	one := filepath.Join(dir, "one.json")
	if code, out, stderr := runCLI(t, append(load, "--report-json", one)...); code != exitOK {
		t.Fatalf("one run: exit %d\n%s%s", code, out, stderr)
	}
	merged := filepath.Join(dir, "merged.json")
	code, out, stderr := runCLI(t, "check", "--report-json", merged, h1, h2)
	if code != exitOK {
		t.Fatalf("check: exit %d\n%s%s", code, out, stderr)
	}
	a, b := readReport(t, one), readReport(t, merged)
	for _, k := range []string{"counts", "violations", "verdict"} {
		ja, _ := json.Marshal(a[k])
		jb, _ := json.Marshal(b[k])
		if string(ja) != string(jb) {
			t.Errorf("%s: one run %s, shards %s", k, ja, jb)
		}
	}
	for _, tc := range [][]string{{h1}, {h1, h1}} {
		if code, _, stderr := runCLI(t, append([]string{"check"}, tc...)...); code != exitBadUsage || !strings.Contains(stderr, "shard") {
			t.Errorf("check %v: exit %d, want 2 naming the shard\n%s", tc, code, stderr)
		}
	}
}

// TestCheckFailedRunHistory: check re-judges the history a failed local
// run left beside its report, with the same verdict and violations.
func TestCheckFailedRunHistory(t *testing.T) {
	code, r, out := loadReport(t, context.Background(), "--memcached", "embedded", "--strategy", "get-delete", "--urls", "200",
		"--duplicates", "3", "--delayed", "0")
	path, _ := r["history_file"].(string)
	if code != exitFailed || path == "" {
		t.Fatalf("exit %d, history %q\n%s", code, path, out)
	}
	rj := filepath.Join(t.TempDir(), "re.json")
	if code, out, stderr := runCLI(t, "check", "--report-json", rj, path); code != exitFailed {
		t.Fatalf("check: exit %d, want 1\n%s%s", code, out, stderr)
	}
	re := readReport(t, rj)
	ja, _ := json.Marshal(r["violations"])
	jb, _ := json.Marshal(re["violations"])
	if string(ja) != string(jb) || re["verdict"] != r["verdict"] {
		t.Errorf("run: %s %v; check: %s %v", ja, r["verdict"], jb, re["verdict"])
	}
}

// TestTargetShardsCheck: two shards against a separate serve, then check
// reads the decision log once for both and catches get-delete's race.
func TestTargetShardsCheck(t *testing.T) {
	bin, err := buildLambda()
	if err != nil {
		t.Fatal(err)
	}
	sdkEnv(t, true)
	st := serveProcess(t, "--strategy", "get-delete", "--memcached", "embedded", "--verify-function", bin,
		"--function-env", "DECISION_LOG_PREFIX=_decisions/")
	dir := t.TempDir()
	var hs []string
	for _, sh := range []string{"1/2", "2/2"} {
		h := filepath.Join(dir, strings.ReplaceAll(sh, "/", "of")+".jsonl")
		args := append([]string{"loadtest"}, st.targetArgs("--decision-log-prefix", "_decisions/", "--strategy", "get-delete",
			"--urls", "100", "--duplicates", "4", "--delayed", "0", "--concurrency", "32", "--shard", sh, "--history", h)...)
		runCLI(t, args...)
		hs = append(hs, h)
	}
	rj := filepath.Join(dir, "r.json")
	args := append([]string{"check", "--report-json", rj, "--s3-endpoint", st.s3, "--bucket", "uploadonce", "--region", "us-east-1",
		"--decision-log-prefix", "_decisions/"}, hs...)
	code, out, stderr := runCLI(t, args...)
	r := readReport(t, rj)
	da, _ := r["violations"].(map[string]any)["double_accept"].(float64)
	if code != exitFailed || da == 0 || r["counts"].(map[string]any)["tokens"] != 100.0 {
		t.Fatalf("check: exit %d, double_accept %v, counts %v; want 1, > 0, 100 tokens\n%s%s", code, da, r["counts"], out, stderr)
	}
	if gt := r["ground_truth"].(map[string]any)["source"]; gt != "decision log s3://uploadonce/_decisions/" {
		t.Errorf("ground truth %v", gt)
	}
}
