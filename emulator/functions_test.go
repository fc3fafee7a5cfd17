package emulator_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

// buildLambda builds cmd/lambda for this host into a temporary directory.
func buildLambda(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "lambda")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/lambda")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/lambda: %v\n%s", err, b)
	}
	return out
}

// functionMemcached is process memcached when the binary is here, as the
// issue asks; embedded otherwise.
func functionMemcached(t *testing.T) string {
	for _, p := range providers(t) {
		if p.kind == memcached.KindProcess && p.missing == "" {
			return p.kind
		}
	}
	return memcached.KindEmbedded
}

// python finds a python3 with boto3 for the custom runtime. CI installs it
// and sets UPLOADONCE_REQUIRE_CLIENTS=1, which turns a missing one into a
// failure.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import boto3").Run() == nil {
			return path
		}
	}
	if os.Getenv("UPLOADONCE_REQUIRE_CLIENTS") == "1" {
		t.Fatal("python3 with boto3 is required (UPLOADONCE_REQUIRE_CLIENTS=1)")
	}
	t.Skip("no python3 with boto3")
	return ""
}

// TestFunctionReferenceClients runs bin/lambda under the Runtime API as both
// the issue and the verify function, driven by the reference clients.
func TestFunctionReferenceClients(t *testing.T) {
	bin := buildLambda(t)
	s := start(t, functionMemcached(t), func(o *emulator.StartOptions) {
		o.Strategy = onetime.CAS
		o.VerifyFunction, o.IssueFunction = bin, bin
		o.Lambda.Concurrency = 4
	})
	runReferenceClients(t, s)
	verify, issue := s.FunctionStats()
	// Warm processes are reused: 4 URLs, 7 uploads, no more processes than
	// the concurrency cap, and every invocation succeeded.
	if issue.Invocations != 4 || issue.FunctionErrors != 0 || verify.Invocations != 6 || verify.FunctionErrors != 0 ||
		verify.Starts > 4 || issue.Starts > 4 {
		t.Fatalf("verify %+v, issue %+v", verify, issue)
	}
	for _, d := range s.Decisions() {
		if d.Decision == onetime.Accepted && d.Reason != emulator.ReasonCopied {
			t.Fatalf("accepted decision %+v was not observed from a copy", d)
		}
	}
}

type functionCase struct {
	mode         string
	wantAccepted int
	wantRejected int // all fail-closed, retryable, for init-exit
	check        func(t *testing.T, s *stack)
}

// TestPythonFunction runs a verifier written in Python through the Runtime
// API: its decisions come from its S3 calls, and Lambda's failures (a
// timeout, an exit at init, a crash mid-invocation) behave as in Lambda.
func TestPythonFunction(t *testing.T) {
	py := python(t)
	script, err := filepath.Abs("testdata/verify.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []functionCase{
		// Two uploads of one URL: the first delete wins.
		{"", 1, 1, func(t *testing.T, s *stack) {}},
		// Killed at the timeout, retried a minute later (virtual), accepted.
		{"sleep-once", 1, 2, func(t *testing.T, s *stack) {
			if v, _ := s.FunctionStats(); v.Timeouts != 1 {
				t.Fatalf("verify stats %+v, want one timeout", v)
			}
		}},
		// Every attempt fails at init: the uploads fail closed.
		{"init-exit", 0, 6, func(t *testing.T, s *stack) {
			if v, _ := s.FunctionStats(); v.InitErrors != 6 {
				t.Fatalf("verify stats %+v, want 6 init errors (2 events x 3 attempts)", v)
			}
		}},
		// A crash mid-invocation is retried and the process replaced.
		{"crash-once", 1, 2, func(t *testing.T, s *stack) {
			if v, _ := s.FunctionStats(); v.Exits != 1 || v.Starts < 2 {
				t.Fatalf("verify stats %+v, want one exit and a replacement", v)
			}
		}},
	} {
		t.Run(orName(tc.mode), func(t *testing.T) {
			runPythonCase(t, py, script, tc)
		})
	}
}

func orName(mode string) string {
	if mode == "" {
		return "upload2x"
	}
	return mode
}

func runPythonCase(t *testing.T, py, script string, tc functionCase) {
	marker := filepath.Join(t.TempDir(), "once")
	s := start(t, functionMemcached(t), func(o *emulator.StartOptions) {
		o.Strategy = onetime.Delete
		o.VerifyFunction = py + " " + script
		o.FunctionEnv = []string{"MODE=" + tc.mode, "MARKER=" + marker}
		o.FunctionTimeout = 2 * time.Second
		o.Lambda.Concurrency = 1 // one at a time, so that "once" is the first event
	})
	ctx := context.Background()
	g, err := s.client.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := s.client.Upload(ctx, g, []byte("python file\n"))
		if err != nil || res.Status != 204 {
			t.Fatalf("upload %d: %+v %v", i+1, res, err)
		}
	}
	s.settle(t)
	acc, rej := s.decisionsFor(t, g.Key)
	if acc != tc.wantAccepted || rej != tc.wantRejected {
		for _, d := range s.Decisions() {
			t.Logf("%+v", d)
		}
		t.Fatalf("accepted %d, rejected %d; want %d, %d", acc, rej, tc.wantAccepted, tc.wantRejected)
	}
	for _, d := range s.Decisions() {
		switch {
		case d.Decision == onetime.Accepted && (d.Reason != emulator.ReasonCopied || d.Sequencer == ""):
			t.Fatalf("accept %+v is not tied to an event", d)
		case d.Reason == emulator.ReasonFunctionError && !d.Retryable:
			t.Fatalf("function error %+v is not marked retryable", d)
		case tc.mode == "sleep-once" && d.Reason == emulator.ReasonFunctionError &&
			!strings.Contains(d.Detail, "Task timed out after 2.00 seconds"):
			t.Fatalf("timeout decision %+v", d)
		}
	}
	tc.check(t, s)
}

// TestFunctionInitErrorReported: bin/lambda with a bad variable fails init,
// reports the variable to /init/error, and every event fails closed; the
// issue function's failure is API Gateway's 502.
func TestFunctionInitErrorReported(t *testing.T) {
	bin := buildLambda(t)
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Strategy = onetime.CAS
		o.VerifyFunction = bin
		o.FunctionEnv = []string{"TOKEN_TTL_SECONDS=soon"}
		o.Lambda.Concurrency = 1
	})
	ctx := context.Background()
	g, err := s.client.Issue(ctx) // the in-process issuer
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.client.Upload(ctx, g, []byte("x")); err != nil || res.Status != 204 {
		t.Fatalf("upload: %+v %v", res, err)
	}
	s.settle(t)
	acc, rej := s.decisionsFor(t, g.Key)
	if acc != 0 || rej != 3 {
		t.Fatalf("accepted %d, rejected %d; want 0, 3 (every attempt fails closed)", acc, rej)
	}
	for _, d := range s.Decisions() {
		if d.Reason != emulator.ReasonFunctionError || !d.Retryable ||
			!strings.Contains(d.Detail, "Runtime.InvalidConfiguration") || !strings.Contains(d.Detail, "TOKEN_TTL_SECONDS") {
			t.Fatalf("decision %+v does not report the init error", d)
		}
	}
	if v, _ := s.FunctionStats(); v.InitErrors != 3 || v.Starts != 3 {
		t.Fatalf("verify stats %+v", v)
	}

	issue := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.IssueFunction = bin
		o.FunctionEnv = []string{"STRATEGY=first"}
	})
	_, err = issue.client.Issue(ctx)
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != 502 || se.Body != `{"message":"Internal server error"}`+"\n" {
		t.Fatalf("issue with a broken function: %v", err)
	}
}

// TestFunctionEveryStrategy runs the reference's upload2x through bin/lambda
// as both functions for each strategy: one accept, one reject.
func TestFunctionEveryStrategy(t *testing.T) {
	bin := buildLambda(t)
	mc := functionMemcached(t)
	for _, strategy := range onetime.StrategyNames() {
		t.Run(strategy, func(t *testing.T) {
			s := start(t, mc, func(o *emulator.StartOptions) {
				o.Strategy = strategy
				o.VerifyFunction, o.IssueFunction = bin, bin
				o.Lambda.Concurrency = 2
			})
			ctx := context.Background()
			g, err := s.client.Issue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := []int{204, 204}
			if strategy == onetime.IfNoneMatch {
				wantStatus = []int{200, 412} // S3 refuses the second write
			}
			for i, want := range wantStatus {
				res, err := s.client.Upload(ctx, g, []byte("same bytes\n"))
				if err != nil || res.Status != want {
					t.Fatalf("upload %d: %+v %v, want %d", i+1, res, err, want)
				}
				s.settle(t)
			}
			acc, rej := s.decisionsFor(t, g.Key)
			wantRej := 1
			if strategy == onetime.IfNoneMatch {
				wantRej = 0 // the refused write made no event
			}
			if acc != 1 || rej != wantRej {
				for _, d := range s.Decisions() {
					t.Logf("%+v", d)
				}
				t.Fatalf("accepted %d, rejected %d; want 1, %d", acc, rej, wantRej)
			}
		})
	}
}
