package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/compare"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// compareFlags are the flags compare adds to loadtest's.
type compareFlags struct {
	reportHTML, prices, nodeType, api string
	nodeCapacity, monthlyUploads      float64
	lambdaMS, lambdaMemoryMB          float64
}

func (c *compareFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.reportHTML, "report-html", "", "write the HTML page with charts to this path (required)")
	fs.StringVar(&c.prices, "prices", "", "price table YAML (default: the embedded us-east-1 table, loadtest/cost/prices.yaml)")
	fs.StringVar(&c.nodeType, "node-type", cost.DefaultNodeType, "ElastiCache node type to price memcached on, or serverless")
	fs.Float64Var(&c.nodeCapacity, "node-capacity", 0, "memcached commands/s one node carries; 0 uses the rate per node each run sustained")
	fs.Float64Var(&c.monthlyUploads, "monthly-uploads", cost.DefaultMonthlyUploads, "monthly volume that node-hours are spread over")
	fs.Float64Var(&c.lambdaMS, "lambda-ms", 0, "billed ms per verifier invocation; 0 uses each run's measured handler time, billed per invocation in whole ms")
	fs.Float64Var(&c.lambdaMemoryMB, "lambda-memory-mb", cost.DefaultLambdaMemoryMB, "verifier Lambda memory in MB")
	fs.StringVar(&c.api, "api-gateway", cost.APIREST, "issue API flavour to price: rest (as the reference) or http")
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c compareFlags
	f, err := parseLoadFlags("compare", args, stderr, false, func(fs *flag.FlagSet) {
		c.register(fs)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), "Usage: uploadonce compare [loadtest flags but --strategy] [FILE.yaml] --report-html PATH [--report-json PATH]\n\n"+
				"Runs the same load (same plan, same seed) against every strategy, prints a table and writes an HTML\n"+
				"page with charts. Exit 0 when every strategy but get-delete holds the one-time invariants.")
			fs.PrintDefaults()
		}
	})
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.reportHTML == "" {
		return usagef("compare needs --report-html PATH")
	}
	if err := checkOutPath("--report-html", c.reportHTML); err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	prices := cost.Default()
	if c.prices != "" {
		if prices, err = cost.Load(c.prices); err != nil {
			return usagef("--prices: %w", err)
		}
	}
	model := cost.Model{API: c.api, LambdaMemoryMB: c.lambdaMemoryMB, LambdaMS: c.lambdaMS, NodeType: c.nodeType,
		NodeCapacity: c.nodeCapacity, MonthlyUploads: c.monthlyUploads}
	if err := model.Validate(prices); err != nil {
		return usageError{err}
	}
	base := f.plan // compare sets each strategy
	histBase := strings.TrimSuffix(c.reportHTML, filepath.Ext(c.reportHTML))
	if f.reportJSON != "" {
		histBase = strings.TrimSuffix(f.reportJSON, filepath.Ext(f.reportJSON))
	}
	run := func(ctx context.Context, p plan.Plan) (*loadtest.Result, error) {
		res, err := loadtest.Run(ctx, p, loadtest.WithLogger(log), loadtest.WithProgress(stderr, isTerminal(stderr)))
		if err != nil {
			if errors.Is(err, loadtest.ErrFaultUnsupported) {
				return nil, usageError{err}
			}
			return nil, err
		}
		// An unexpected failure leaves its history to re-check offline.
		if !res.Report.OK && p.Stack.Strategy != compare.Expected {
			path := histBase + "-" + p.Stack.Strategy + "-history.jsonl"
			if err := res.SaveHistory(path); err != nil {
				log.Error().Err(err).Msg("could not keep the history of the failed run")
			} else {
				fmt.Fprintf(stderr, "uploadonce: %s failed; its history is in %s\n", p.Stack.Strategy, path)
			}
		}
		return res, nil
	}
	cmp, err := compare.Run(ctx, base, run, compare.Options{Prices: prices, Model: model, Progress: stderr})
	if cmp == nil || (err != nil && len(cmp.Reports) == 0) {
		return err
	}
	if werr := writeComparison(cmp, c.reportHTML, f.reportJSON, stdout); werr != nil {
		return werr
	}
	switch {
	case errors.Is(err, compare.ErrCutShort) || cmp.Partial:
		fmt.Fprintln(stderr, "uploadonce: the comparison was cut short; the table covers what ran")
		return errInterrupted
	case err != nil:
		return err
	case !cmp.OK:
		return errFailed
	}
	return nil
}

// writeComparison writes the JSON (when asked), the HTML page and the table.
func writeComparison(cmp *compare.Comparison, htmlPath, jsonPath string, stdout io.Writer) error {
	if jsonPath != "" {
		if err := writeReportJSON(jsonPath, cmp.WriteJSON); err != nil {
			return err
		}
	}
	fh, err := os.Create(htmlPath)
	if err != nil {
		return fmt.Errorf("--report-html: %w", err)
	}
	if err := cmp.WriteHTML(fh); err != nil {
		fh.Close()
		return fmt.Errorf("--report-html %s: %w", htmlPath, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("--report-html %s: %w", htmlPath, err)
	}
	if err := cmp.WriteText(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "HTML report: %s\n", htmlPath)
	if jsonPath != "" {
		fmt.Fprintf(stdout, "JSON report: %s\n", jsonPath)
	}
	return nil
}
