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

// Exit codes shared by every subcommand (README "Exit codes").
const (
	exitOK          = 0
	exitFailed      = 1 // an expectation or invariant did not hold, or the run was too broken to judge
	exitBadUsage    = 2 // bad input of any kind: flag, file, YAML, environment
	exitInterrupted = 3 // interrupted: the report is partial
)

// version is set by the linker; "dev" otherwise.
var version = "dev"

func main() {
	// Closing the terminal (SIGHUP) stops a run as Ctrl-C does: the stack
	// is torn down and the partial report printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// usageError marks bad input: exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errFailed marks a run whose checks failed or that was too broken to
// judge: exit 1. The report has already said why.
var errFailed = errors.New("checks failed")

// errInterrupted marks a run cut short by a signal or its timeout: exit 3.
// The partial report has already said so.
var errInterrupted = errors.New("interrupted")

// exitCode maps a command's error to its exit code: 1 only for a verdict
// that failed, 3 for an interrupted run, and 2 for everything else, which
// is bad input of some kind (a flag, a file, YAML, the environment: a port
// in use, a memcached that does not start).
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFailed):
		return exitFailed
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "uploadonce:", err)
	return exitBadUsage
}

const usage = `uploadonce: one-time S3 upload URLs, emulated and load-tested.

Usage:
  uploadonce serve    [flags]           run the emulator for outside clients
  uploadonce run      FILE.yaml...      run scenarios; exit 1 if an expectation fails
  uploadonce loadtest [flags]           fire concurrent duplicate and late uploads
  uploadonce compare  [flags]           run the same load against every strategy
  uploadonce soak --target URL --api-key K   drive a running serve for minutes; judge its memory
  uploadonce check    [flags] HISTORY...  judge histories (shards, a failed run) as one run
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
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
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
