// Command uploadonce emulates one-time S3 upload URLs locally and load-tests
// them. Subcommands: serve, run, loadtest, compare, soak, version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFailed   = 1 // an expectation or invariant did not hold
	exitBadUsage = 2 // bad flags, files or YAML
)

// version is set by the linker; "dev" otherwise.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// usageError marks bad input: exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errFailed marks a run whose checks failed: exit 1. The report has already
// said why.
var errFailed = errors.New("checks failed")

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "uploadonce:", err)
		return exitBadUsage
	case errors.Is(err, errFailed):
		return exitFailed
	}
	fmt.Fprintln(stderr, "uploadonce:", err)
	return exitFailed
}

const usage = `uploadonce: one-time S3 upload URLs, emulated and load-tested.

Usage:
  uploadonce serve    [flags]           run the emulator for outside clients
  uploadonce run      FILE.yaml...      run scenarios; exit 1 if an expectation fails
  uploadonce loadtest [flags]           fire concurrent duplicate and late uploads
  uploadonce compare  [flags]           run the same load against every strategy
  uploadonce soak --target URL --api-key K   drive a running serve for minutes; judge its memory
  uploadonce version

Run "uploadonce COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, args[1:], stdout, stderr)
	case "compare":
		return runCompare(ctx, args[1:], stdout, stderr)
	case "run":
		return runScenarios(ctx, args[1:], stdout, stderr)
	case "soak":
		return runSoak(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "uploadonce", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", args[0])
}
