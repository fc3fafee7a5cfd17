package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/uploadonce/uploadonce/loadtest/soak"
)

// runSoak drives a running serve for minutes and judges its memory; see
// package soak. Exit 0 within budget and no URL lost, 1 otherwise.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o soak.Options
	var size int64 = soak.DefaultSize
	var reportJSON string
	fs.StringVar(&o.Target, "target", "", "base URL of a running uploadonce serve, e.g. http://127.0.0.1:4566 (required)")
	fs.StringVar(&o.APIKey, "api-key", "", "its x-api-key (required)")
	fs.StringVar(&o.Stage, "stage", "Prod", "its API stage")
	fs.Float64Var(&o.Rate, "rate", soak.DefaultRate, "URLs started per second")
	fs.DurationVar(&o.Duration, "duration", soak.DefaultDuration, "how long to drive the target")
	fs.Var(bytesValue{&size}, "size", "body bytes of each upload")
	fs.Float64Var(&o.Double, "double", soak.DefaultDouble, "fraction of URLs uploaded twice, one after the other, with other bytes")
	fs.IntVar(&o.Concurrency, "concurrency", soak.DefaultConcurrency, "URLs in flight at most")
	fs.DurationVar(&o.Baseline, "baseline", soak.DefaultBaseline, "when the memory growth is measured from")
	fs.DurationVar(&o.Sample, "sample", soak.DefaultSample, "how often the target's /metrics is read")
	fs.Var(bytesValue{&o.Allowance}, "allowance", "what the resident set may grow beyond the bytes accepted (default 32MiB)")
	fs.StringVar(&reportJSON, "report-json", "", "write the samples and the verdict as JSON to PATH")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("soak takes no arguments, got %q", fs.Args())
	}
	if size > 64<<20 {
		return usagef("--size %d: at most 64MiB", size)
	}
	o.Size, o.Progress = int(size), stderr
	res, err := soak.Run(ctx, o)
	if res == nil {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	for _, line := range res.Summary() {
		fmt.Fprintln(stdout, line)
	}
	if reportJSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(reportJSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if !res.Within || res.LostURLs > 0 {
		return errFailed
	}
	return nil
}
