package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

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
			var f functionFlags
			f.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var o emulator.StartOptions
			err := f.apply(&o)
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
	var f functionFlags
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
