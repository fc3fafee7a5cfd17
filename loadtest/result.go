package loadtest

import (
	"fmt"
	"os"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// fillOps puts operations per upload and the cost estimate in rep.
func fillOps(rep *report.Report, mc metrics.MemcachedOps, exact bool, s3 metrics.S3Requests, issues, invocations int64) {
	uploads := int64(rep.Counts.Uploads)
	rep.OpsPerUpload.MemcachedExact = exact
	if uploads > 0 {
		rep.OpsPerUpload.Memcached = float64(mc.Total()) / float64(uploads)
		rep.OpsPerUpload.S3Requests = float64(s3.Total()) / float64(uploads)
	}
	rep.Cost = cost.PerMillion(cost.Ops{Uploads: uploads, Issues: issues, Invocations: invocations, S3: s3})
	rep.CostUSDPerMillion = rep.Cost.Total
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
