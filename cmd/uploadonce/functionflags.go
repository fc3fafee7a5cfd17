package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
)

// maxFunctionTimeout is Lambda's limit, 15 minutes.
const maxFunctionTimeout = 15 * time.Minute

// functionFlags are --verify-function, --issue-function, --function-env and
// --function-timeout (DESIGN §4, "Functions"). Only serve registers them so
// far.
type functionFlags struct {
	verify, issue string
	env           envFlag
	timeout       time.Duration
}

func (f *functionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.verify, "verify-function", "", "run CMD as the verify function over the Lambda Runtime API (split like a shell line, no shell)")
	fs.StringVar(&f.issue, "issue-function", "", "run CMD as the issue function behind the API, as a Lambda proxy integration")
	fs.Var(&f.env, "function-env", "K=V added to or overriding the functions' environment (repeatable)")
	fs.DurationVar(&f.timeout, "function-timeout", runtimeapi.DefaultTimeout, "kill a function invocation after this long; the event is retried")
}

// apply checks the flags and copies them into o.
func (f *functionFlags) apply(o *emulator.StartOptions) error {
	for name, line := range map[string]string{"--verify-function": f.verify, "--issue-function": f.issue} {
		if line == "" {
			continue
		}
		if _, err := runtimeapi.Split(line); err != nil {
			return usagef("%s %q: %v", name, line, err)
		}
	}
	if f.timeout <= 0 || f.timeout > maxFunctionTimeout {
		return usagef("--function-timeout %v: Lambda allows up to 15m", f.timeout)
	}
	o.VerifyFunction, o.IssueFunction = f.verify, f.issue
	o.FunctionEnv = append([]string(nil), f.env...)
	o.FunctionTimeout = f.timeout
	return nil
}

// envFlag collects repeated K=V values.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }

func (e *envFlag) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return fmt.Errorf("want K=V, got %q", s)
	}
	*e = append(*e, s)
	return nil
}
