package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

func TestFunctionFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
		check   func(o emulator.StartOptions) bool
	}{
		{"none", nil, false, func(o emulator.StartOptions) bool {
			return o.VerifyFunction == "" && o.IssueFunction == "" && o.FunctionTimeout == 10*time.Second
		}},
		{"both, env twice", []string{"--verify-function", `python3 "my fn.py"`, "--issue-function", "bin/lambda",
			"--function-env", "A=1", "--function-env", "B=x=y", "--function-timeout", "3s"}, false, func(o emulator.StartOptions) bool {
			return o.VerifyFunction == `python3 "my fn.py"` && o.IssueFunction == "bin/lambda" &&
				slices.Equal(o.FunctionEnv, []string{"A=1", "B=x=y"}) && o.FunctionTimeout == 3*time.Second
		}},
		{"unterminated quote", []string{"--verify-function", `python3 "fn.py`}, true, nil},
		{"timeout above 15m", []string{"--function-timeout", "16m"}, true, nil},
		{"zero timeout", []string{"--function-timeout", "0s"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f serveFlags
			f.register(fs)
			var o emulator.StartOptions
			_, err := parseArgs(fs, tc.args)
			if err == nil {
				o, err = f.options(zerolog.Nop())
			}
			if tc.wantErr {
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("err %v, want a usage error (exit 2)", err)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Fatalf("options %+v, err %v", o, err)
			}
		})
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse([]string{"--function-env", "NOEQUALS"}); err == nil {
		t.Fatal("--function-env NOEQUALS parsed")
	}
}

// TestServeFunctions runs serve with bin/lambda as both functions.
func TestServeFunctions(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lambda")
	if out, err := exec.Command("go", "build", "-o", bin, "../lambda").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--strategy", "delete",
		"--verify-function", bin, "--issue-function", bin)
	c := client.New(base+"/Prod/getpresignedurl", "k", 2)
	ctx := context.Background()
	g, err := c.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res, err := c.Upload(ctx, g, []byte("x")); err != nil || res.Status != 204 {
			t.Fatalf("upload: %+v %v", res, err)
		}
	}
	var decisions []struct{ Key, Decision, Reason string }
	for range 500 {
		getJSON(t, base+"/_uploadonce/decisions", &decisions)
		if len(decisions) == 2 {
			break
		}
		sleepBriefly()
	}
	acc := 0
	for _, d := range decisions {
		if d.Key == g.Key && d.Decision == "accepted" && d.Reason == string(emulator.ReasonCopied) {
			acc++
		}
	}
	if len(decisions) != 2 || acc != 1 {
		t.Fatalf("decisions %+v, want one copy-observed accept of two", decisions)
	}
}

// buildLambda builds bin/lambda once per test binary.
var buildLambda = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "uploadonce-lambda-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lambda")
	if out, err := exec.Command("go", "build", "-o", bin, "../lambda").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestLoadtestVerifyFunction: the load engine drives the function a team
// deploys, judged by the same checker: cas holds, get-delete's race is
// caught (DESIGN §4, issue 11's done-when).
func TestLoadtestVerifyFunction(t *testing.T) {
	bin, err := buildLambda()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("needs memcached on PATH (.ci/run installs it)")
	}
	code, r, out := loadReport(t, context.Background(), "--memcached", "process", "--verify-function", bin,
		"--strategy", "cas", "--urls", "1000", "--duplicates", "3", "--delayed", "0")
	if code != exitOK || r["counts"].(map[string]any)["accepted"].(float64) != 1000 {
		t.Fatalf("cas through bin/lambda: exit %d, counts %v\n%s", code, r["counts"], out)
	}
	code, r, out = loadReport(t, context.Background(), "--memcached", "process", "--verify-function", bin,
		"--strategy", "get-delete", "--urls", "1000", "--duplicates", "3", "--delayed", "0")
	if code != exitFailed || r["violations"].(map[string]any)["double_accept"].(float64) == 0 {
		t.Fatalf("get-delete through bin/lambda: exit %d, violations %v\n%s", code, r["violations"], out)
	}
}

// TestScenarioFunctions: `functions:` in a scenario file runs the verifier
// as a function process, and run's --verify-function overrides a file.
func TestScenarioFunctions(t *testing.T) {
	bin, err := buildLambda()
	if err != nil {
		t.Fatal(err)
	}
	file := writeScenario(t, "fn.yaml", "# upload twice through the deployed verify function\n"+
		"strategy: cas\nmemcached: embedded\nfunctions:\n  verify: "+bin+"\n  env: {DECISION_LOG_PREFIX: \"\"}\n  timeout: 5s\n"+
		"groups:\n  - name: twice\n    uploads: [{at: 0s}, {after_previous: 0s}]\n"+
		"expect:\n  groups:\n    twice: {accepted: 1, rejected: 1}\n")
	code, out, stderr := runCLI(t, "run", file)
	if code != exitOK || !strings.Contains(out, "PASS") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "run", file, "--verify-function", `python3 "unterminated`)
	if code != exitBadUsage {
		t.Fatalf("a bad --verify-function: exit %d, want 2\n%s", code, stderr)
	}
}
