package loadtest

import (
	"fmt"
	"os"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// fillOps puts operations per upload and the cost estimate in rep, at the
// default prices and cost model; compare re-runs rep.Account with its own.
// The counters passed in are already in rep (memcached_ops, s3_requests,
// counts, invoker), where Account reads them.
func fillOps(rep *report.Report, _ metrics.MemcachedOps, exact bool, _ metrics.S3Requests, _, _ int64) {
	rep.OpsPerUpload.MemcachedExact = exact
	if err := rep.Account(cost.Default(), cost.Model{}); err != nil {
		rep.Notes = append(rep.Notes, "no cost estimate: "+err.Error())
	}
}

// HistoryPath is where a failing run's history goes: beside the report JSON
// (r.json → r-history.jsonl), else ./uploadonce-history.jsonl.
func HistoryPath(reportJSON string) string {
	if reportJSON == "" {
		return "uploadonce-history.jsonl"
	}
	return strings.TrimSuffix(reportJSON, ".json") + "-history.jsonl"
}

// SaveHistory writes the run's history as JSON Lines to path and records
// the path in the report.
func (r *Result) SaveHistory(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	r.History.SortTokens()
	if err := r.History.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("write history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	r.Report.HistoryFile = path
	return nil
}
