package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs "uploadonce args..." and returns the exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = exitCode(run(ctx, args, &out, &errOut), &errOut)
	return code, out.String(), errOut.String()
}

func writeScenario(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunReferenceScenarios(t *testing.T) {
	start := time.Now()
	code, out, errOut := runCLI(t, "run", "--log-format", "json",
		"../../scenarios/upload1x.yaml", "../../scenarios/upload_with_delay.yaml")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"=== upload1x (../../scenarios/upload1x.yaml) strategy get-delete",
		"PASS  group once: statuses per token: got [204], want [204]",
		"--- PASS upload1x [versioning]",
		"PASS  group late: statuses per token: got [403], want [403]",
		"PASS: 5 runs of 2 files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("stdout has a FAIL:\n%s", out)
	}
	// The 40 s wait is on the virtual clock.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s; the virtual clock should make it quick", d)
	}
}

func TestRunBadFileExits2BeforeRunning(t *testing.T) {
	bad := writeScenario(t, "typo.yaml", "strategy: cas\ngroups:\n  - name: g\n    tokenz: 1\n")
	code, out, errOut := runCLI(t, "run", "../../scenarios/upload1x.yaml", bad)
	if code != exitBadUsage {
		t.Fatalf("exit %d, want 2\nstderr:\n%s", code, errOut)
	}
	if want := bad + `:4:5: groups[0].tokenz: unknown field "tokenz"`; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	if strings.Contains(out, "===") {
		t.Errorf("a scenario ran although a file was bad:\n%s", out)
	}
}

func TestRunBadInputExits2(t *testing.T) {
	good := "../../scenarios/upload1x.yaml"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"run"}, "at least one scenario file"},
		{"missing file", []string{"run", "nonexistent.yaml"}, "nonexistent.yaml"},
		{"unknown strategy flag", []string{"run", "--strategy", "nope", good}, `invalid value "nope" for flag -strategy: unknown strategy`},
		{"strategy the file does not run", []string{"run", "--strategy", "if-none-match", good}, "runs only get-delete, delete, cas, versioning"},
		{"bad clock override", []string{"run", good, "--clock", "sundial"}, `invalid value "sundial" for flag -clock`},
		{"bad memcached override", []string{"run", "--memcached", "memcache", good}, `invalid value "memcache" for flag -memcached`},
		{"bad log level", []string{"run", "--log-level", "loud", good}, "--log-level"},
		// upload1x runs four strategies: a file name cannot hold four reports.
		{"one report file for four runs", []string{"run", "--report-json", filepath.Join(t.TempDir(), "one.json"), good}, "names a directory"},
		{"unknown flag", []string{"run", "--colour", good}, "colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != exitBadUsage {
				t.Fatalf("exit %d, want 2\nstderr:\n%s", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
}

func TestRunFailingExpectationExits1(t *testing.T) {
	// upload1x with a wrong expectation: one upload cannot be rejected.
	wrong := writeScenario(t, "wrong.yaml", `# a deliberately wrong expectation
strategy: cas
memcached: embedded
groups:
  - name: once
    uploads: [{at: 0s}]
expect:
  groups:
    once: {statuses: [204], accepted: 1, rejected: 1}
`)
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "run", "--report-json", dir+"/", wrong)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"FAIL  group once: rejected per token: got 0, want 1",
		"PASS  group once: accepted per token: got 1, want 1",
		"--- FAIL wrong [cas]: ",
		"FAIL: 1 of 1 runs failed: wrong [cas]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// The report says which expectation failed, and the history is kept.
	b, err := os.ReadFile(filepath.Join(dir, "wrong-cas.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK           bool `json:"ok"`
		InvariantsOK bool `json:"invariants_ok"`
		Strategy     string
		Expectations []struct {
			Expectation string
			OK          bool
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || !rep.InvariantsOK || rep.Strategy != "cas" || len(rep.Expectations) == 0 {
		t.Errorf("report = %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "wrong-cas-history.jsonl")); err != nil {
		t.Errorf("no history beside the failing report: %v", err)
	}
}
