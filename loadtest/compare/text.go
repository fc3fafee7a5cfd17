package compare

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// WriteText writes the table, one row per strategy, then the verdict and
// the cost model.
func (c *Comparison) WriteText(w io.Writer) error {
	// Numbers align right; padding the text columns to one width keeps
	// them flush left.
	wName, wStore, wResult := len("strategy"), len("store"), len("result")
	for _, r := range c.Table {
		wName, wStore, wResult = max(wName, len(r.Strategy)), max(wStore, len(r.Store)), max(wResult, len(result(r)))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t%-*s\t%-*s\tviolations\tlost URLs\tuploads/s\te2e p50 ms\te2e p99 ms\tmemcached/upload\tS3/upload\tUSD/1M URLs\tUSD/1M uploads\tbreak-even/month\t\n",
		wName, "strategy", wStore, "store", wResult, "result")
	for _, r := range c.Table {
		fmt.Fprintf(tw, "%-*s\t%-*s\t%-*s\t%d\t%s\t%.0f\t%.3f\t%.3f\t%.2f\t%.2f\t%.4f\t%.4f\t%s\t\n", wName, r.Strategy, wStore, r.Store,
			wResult, result(r), r.Violations, lost(r),
			r.UploadsPerS, r.EndToEndP50MS, r.EndToEndP99MS, r.MemcachedPerUpload, r.S3PerUpload, r.CostUSDPerMillionURLs,
			r.CostUSDPerMillion, breakEven(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range c.Summary() {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// costModel returns the cost model of the first report that keeps tokens in
// memcached, else of the first report.
func (c *Comparison) costModel() *cost.Applied {
	var m *cost.Applied
	for _, r := range c.Reports {
		if r.CostModel == nil {
			continue
		}
		if m == nil || m.NodeType == "" && r.CostModel.NodeType != "" {
			m = r.CostModel
		}
	}
	return m
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func result(r Row) string {
	switch {
	case r.Partial:
		return "partial"
	case r.OK:
		return "ok"
	case r.Verdict == report.VerdictInconclusive:
		return "INCONCLUSIVE"
	case r.Expected:
		return "expected"
	}
	return "FAIL"
}

// lost renders the lost URLs; a count the strategy does not owe is marked
// as the reference's weakness with "*".
func lost(r Row) string {
	if !r.LivenessOwed && r.LostURLs > 0 {
		return fmt.Sprintf("%d*", r.LostURLs)
	}
	return fmt.Sprint(r.LostURLs)
}

func breakEven(r Row) string {
	switch {
	case r.Store != "memcached":
		return "-"
	case r.BreakEven == nil:
		return "never"
	}
	return report.Count(*r.BreakEven)
}

// Summary is the verdict and what the figures mean, one sentence a line.
func (c *Comparison) Summary() []string {
	var out []string
	for _, r := range c.Table {
		if !r.Expected {
			continue
		}
		if r.Violations > 0 {
			out = append(out, fmt.Sprintf("%s violated the invariants %s, as expected: it is the reference's get "+
				"then delete, a check-then-act race kept to demonstrate it.", r.Strategy, times(r.Violations)))
		} else {
			out = append(out, fmt.Sprintf("%s showed no violation this time: its race needs concurrent duplicates "+
				"to land inside the get/delete window; more URLs, duplicates or concurrency make it show.", r.Strategy))
		}
	}
	var weak []string
	for _, r := range c.Table {
		if !r.LivenessOwed && r.LostURLs > 0 {
			weak = append(weak, fmt.Sprintf("%s %d", r.Strategy, r.LostURLs))
		}
	}
	if len(weak) > 0 {
		out = append(out, "* Lost URLs ("+strings.Join(weak, ", ")+"): URLs with an in-time upload and no accept, "+
			"not explained by token loss or exhausted retries. The reference's known weakness: these strategies "+
			"keep no record of their winner, so it does not fail them.")
	}
	switch failed := c.Failed(); {
	case c.Partial:
		out = append(out, "PARTIAL: the comparison was interrupted; the table covers what ran, and no strategy is judged on it.")
	case len(failed) > 0:
		out = append(out, "FAILED: "+strings.Join(failed, ", ")+" did not hold the one-time invariants (or tested too little "+
			"to judge); see their reports.")
	case c.OK:
		out = append(out, "OK: every strategy except "+c.Expected+" held the one-time invariants.")
	}
	if m := c.costModel(); m != nil {
		lambdaMS := "each run's measured handler time, billed per invocation in whole ms"
		if m.LambdaMSFrom == cost.LambdaMSGiven {
			lambdaMS = fmt.Sprintf("%g ms", m.LambdaMS)
		}
		nodes := "ElastiCache Serverless (1 GB minimum plus one ECPU per command)"
		if m.NodeType != cost.NodeTypeServerless {
			capacity := "the commands/s per node each run sustained"
			switch m.NodeCapacityFrom {
			case "probed":
				capacity = "the commands/s per node a saturation probe of each run's command mix measured"
			case "given":
				capacity = fmt.Sprintf("%.0f commands/s per node", m.NodeCapacity)
			}
			nodes = fmt.Sprintf("%s nodes, as many as %s uploads a month need at %s", m.NodeType,
				report.Count(m.MonthlyUploads), capacity)
		}
		old, _ := c.Prices.AsOf()
		out = append(out,
			fmt.Sprintf("Costs are USD per million URLs issued and per million uploads sent, at %s prices from %s (as of %s): API Gateway %s; "+
				"Lambda %g MB for %s; memcached on %s.",
				m.Region, m.Prices, old, m.API, m.LambdaMemoryMB, lambdaMS, nodes),
			fmt.Sprintf("Break-even is the monthly volume above which memcached costs less than DynamoDB's "+
				"conditional delete (1 WRU per URL issued and per verifier invocation, $%g per million WRU).",
				c.Prices.DynamoDB.WriteRequestUnit.Each()*1e6))
	}
	return out
}
