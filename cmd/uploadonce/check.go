package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"time"

	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// runCheck is `uploadonce check [--target URL | --s3-endpoint URL]
// [--bucket B ...] HISTORY...`: it merges histories (the shards of one
// plan, or a failed run's), reads the ground truth once when given a
// bucket, and prints the report and exit code one run would.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf remoteFlags
	rf.register(fs)
	reportJSON := fs.String("report-json", "", "also write the report as JSON to this path")
	logLevel := fs.String("log-level", "warn", "trace, debug, info, warn or error")
	files, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(files) == 0 {
		return usagef("check needs at least one history file")
	}
	if err := checkOutPath("--report-json", *reportJSON); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "auto")
	if err != nil {
		return err
	}
	h, parts, err := readHistories(files)
	if err != nil {
		return err
	}
	if rf.bucket != "" {
		o := target.RemoteOptions{IssueURL: rf.target, APIKey: rf.apiKey, Bucket: rf.bucket, Region: rf.region,
			S3Endpoint: rf.s3Endpoint, DecisionLogPrefix: rf.decisionLog, Settle: checkSettle, Logger: log}
		if err := rewitness(ctx, h, o); err != nil {
			return err
		}
	} else if rf.target != "" {
		return usagef("--target needs --bucket, the stack's bucket, to read ground truth from")
	}
	rep := loadtest.Judge(h, parts)
	if *reportJSON != "" {
		if err := writeReportJSON(*reportJSON, rep.WriteJSON); err != nil {
			return err
		}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	return verdictError(rep, stderr)
}

// checkSettle bounds the wait for ground truth a check reads: the stack
// decided long ago.
const checkSettle = 30 * time.Second

// readHistories reads and merges the files; any problem is bad input.
func readHistories(files []string) (*history.Run, []*history.Run, error) {
	runs := make([]*history.Run, 0, len(files))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, usageError{err}
		}
		h, err := history.Read(f)
		f.Close()
		if err != nil {
			return nil, nil, usagef("%s: %v", name, err)
		}
		runs = append(runs, h)
	}
	h, err := loadtest.Merge(runs)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return h, runs, nil
}

// rewitness reads the ground truth from the stack's bucket once.
func rewitness(ctx context.Context, h *history.Run, o target.RemoteOptions) error {
	tgt, err := target.DialRemote(ctx, o)
	if err == nil {
		if o.IssueURL != "" {
			err = tgt.Preflight(ctx)
		} else {
			err = tgt.PreflightS3(ctx)
		}
	}
	if err != nil {
		return usagef("check: %v", err)
	}
	loadtest.Rewitness(ctx, h, tgt, history.NewRecorder())
	return nil
}
