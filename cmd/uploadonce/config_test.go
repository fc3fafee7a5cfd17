package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestIfNoneMatchPOSTRule: the one rule, one answer. An explicit POST with
// if-none-match is bad input in serve, loadtest, compare and a scenario
// file, with the same words; nothing starts.
func TestIfNoneMatchPOSTRule(t *testing.T) {
	file := writeScenario(t, "inm.yaml", "strategy: if-none-match\nmethod: post\ngroups:\n  - name: g\n    uploads: [{at: 0s}]\n")
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--strategy", "if-none-match", "--upload-method", "post"},
		{"loadtest", "--strategy", "if-none-match", "--method", "post", "--urls", "1"},
		{"compare", "--method", "post", "--strategy", "if-none-match", "--report-html", filepath.Join(t.TempDir(), "c.html")},
		{"run", file},
		{"loadtest", file},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitBadUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitBadUsage, stderr)
			continue
		}
		if args[0] == "compare" {
			// compare runs every strategy and has no --strategy to clash.
			if !strings.Contains(stderr, "-strategy") {
				t.Errorf("compare: %s", stderr)
			}
			continue
		}
		if !strings.Contains(stderr, plan.ErrIfNoneMatchPOST.Error()) {
			t.Errorf("%v: stderr does not give the rule's words:\n%s", args, stderr)
		}
	}
}

// TestIfNoneMatchDefaultsToPUT: without an explicit method the strategy
// gets PUT, and the report says so.
func TestIfNoneMatchDefaultsToPUT(t *testing.T) {
	rj := filepath.Join(t.TempDir(), "r.json")
	err, out, errOut := runLoad(t, "--strategy", "if-none-match", "--urls", "20", "--duplicates", "2", "--delayed", "0", "--report-json", rj)
	if code := exitCode(err, os.Stderr); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "upload method put") {
		t.Errorf("the report does not say the method was chosen:\n%s", out)
	}
	var r struct {
		Counts struct{ Accepted int } `json:"counts"`
	}
	b, _ := os.ReadFile(rj)
	if err := json.Unmarshal(b, &r); err != nil || r.Counts.Accepted != 20 {
		t.Errorf("accepted %d (%v), want 20", r.Counts.Accepted, err)
	}
}

// TestLoadtestScenarioWithOverrides: a scenario file is the base plan and
// flags override it.
func TestLoadtestScenarioWithOverrides(t *testing.T) {
	rj := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := runCLI(t, "loadtest", "../../scenarios/upload2x.yaml", "--urls", "50", "--strategy", "cas",
		"--memcached", "embedded", "--report-json", rj)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var r struct {
		Strategy string `json:"strategy"`
		Counts   struct{ Tokens, Uploads, Accepted int }
	}
	b, err := os.ReadFile(rj)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// upload2x: two uploads per URL, back to back; one accept each.
	if r.Strategy != "cas" || r.Counts.Tokens != 50 || r.Counts.Uploads != 100 || r.Counts.Accepted != 50 {
		t.Errorf("report %+v, want cas, 50 tokens, 100 uploads, 50 accepted", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"../../scenarios/upload2x.yaml", "--strategy", "cas", "--duplicates", "3"}, "says how each URL is uploaded"},
		{[]string{"../../scenarios/mixed.yaml", "--strategy", "cas", "--urls", "5"}, "groups"},
		{[]string{"../../scenarios/mixed.yaml"}, "runs 2 strategies (delete, cas): a load run has one"},
		{[]string{"../../scenarios/upload1x.yaml", "../../scenarios/upload2x.yaml"}, "at most one scenario file"},
	} {
		code, _, stderr := runCLI(t, append([]string{"loadtest", "--memcached", "embedded"}, tc.args...)...)
		if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
