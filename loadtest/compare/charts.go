package compare

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// Chart is one rendered chart.
type Chart struct {
	ID, Title, Caption string
	// SVG is the chart as an inline <svg> element.
	SVG template.HTML
}

// Chart size in points (1/72 in).
const (
	chartW = 440
	chartH = 300
)

// palette is Okabe and Ito's colour-blind-safe set.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{213, 94, 0, 255},    // vermilion
	color.RGBA{240, 228, 66, 255},  // yellow
}

// series is one set of bars: a value per category.
type series struct {
	label  string
	values []float64
}

// chartSpec is one chart to draw.
type chartSpec struct {
	id, title, ylabel, caption string
	categories                 []string
	series                     []series
	stacked, labels            bool
	format                     string // of value labels
}

// Charts renders the comparison's charts with gonum/plot as SVG.
func (c *Comparison) Charts() ([]Chart, error) {
	specs := c.chartSpecs()
	out := make([]Chart, 0, len(specs))
	for _, s := range specs {
		p, err := barPlot(s.title, s.ylabel, s.categories, s.series, s.stacked)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", s.id, err)
		}
		if s.labels {
			if err := addLabels(p, s.series, barWidth(len(s.categories), len(s.series), s.stacked), s.stacked, s.format); err != nil {
				return nil, fmt.Errorf("chart %s: %w", s.id, err)
			}
		}
		svg, err := renderSVG(p)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", s.id, err)
		}
		out = append(out, Chart{ID: s.id, Title: s.title, Caption: s.caption, SVG: svg})
	}
	return out, nil
}

// names returns the strategies in table order.
func (c *Comparison) names() []string {
	names := make([]string, len(c.Table))
	for i, r := range c.Table {
		names[i] = r.Strategy
	}
	return names
}

// col returns one value per table row.
func (c *Comparison) col(f func(Row) float64) []float64 {
	out := make([]float64, len(c.Table))
	for i, r := range c.Table {
		out[i] = f(r)
	}
	return out
}

// perReport returns one value per report.
func (c *Comparison) perReport(f func(r *report.Report) float64) []float64 {
	out := make([]float64, len(c.Reports))
	for i, r := range c.Reports {
		out[i] = f(r)
	}
	return out
}

// chartSpecs lists the charts: safety, throughput, latency by phase,
// operations and cost.
func (c *Comparison) chartSpecs() []chartSpec {
	names := c.names()
	v := func(f func(report.Violations) int) []float64 {
		return c.perReport(func(r *report.Report) float64 { return float64(f(r.Violations)) })
	}
	specs := []chartSpec{
		{id: "violations", title: "Safety violations", ylabel: "URLs", categories: names, stacked: true, labels: true, format: "%.0f",
			caption: "URLs that broke an invariant, by kind. " + c.Expected + " is expected to show double accepts: " +
				"it is the reference's check-then-act race. Every other bar should be 0.",
			series: []series{
				{"double accept", v(func(x report.Violations) int { return x.DoubleAccept })},
				{"false reject", v(func(x report.Violations) int { return x.FalseReject })},
				{"late accept", v(func(x report.Violations) int { return x.LateAccept })},
				{"wrong bytes", v(func(x report.Violations) int { return x.WrongBytes })},
			}},
		{id: "liveness", title: "Lost URLs (liveness)", ylabel: "URLs", categories: names, labels: true, format: "%.0f",
			caption: "URLs with an in-time 2xx upload and no accept that neither token loss nor exhausted retries " +
				"explain. A violation for cas, versioning and if-none-match; for get-delete and delete the reference's " +
				"known weakness, shown but not failing them.",
			series: []series{{"lost URLs", v(func(x report.Violations) int { return x.LostURLs })}}},
		{id: "throughput", title: "Throughput", ylabel: "uploads/s", categories: names, labels: true, format: "%.0f",
			caption: "Uploads answered per second of the upload phase, harness included.",
			series:  []series{{"uploads/s", c.col(func(r Row) float64 { return r.UploadsPerS })}}},
	}
	specs = append(specs, c.latencySpecs()...)
	specs = append(specs,
		chartSpec{id: "ops", title: "Operations per upload", ylabel: "per upload", categories: names, labels: true, format: "%.2f",
			caption: "memcached commands and S3 requests (client and verifier) per upload sent.",
			series: []series{
				{"memcached commands", c.col(func(r Row) float64 { return r.MemcachedPerUpload })},
				{"S3 requests", c.col(func(r Row) float64 { return r.S3PerUpload })},
			}},
		c.costSpec())
	return specs
}

// latencySpecs are the p50 and p99 charts, one bar per strategy per phase.
func (c *Comparison) latencySpecs() []chartSpec {
	names := c.names()
	var out []chartSpec
	for _, q := range []struct {
		name string
		get  func(metrics.Summary) float64
	}{{"p50", func(s metrics.Summary) float64 { return s.P50 }}, {"p99", func(s metrics.Summary) float64 { return s.P99 }}} {
		var ss []series
		for i, r := range c.Reports {
			vals := make([]float64, len(metrics.Phases))
			for j, ph := range metrics.Phases {
				vals[j] = q.get(r.LatencyMS[ph])
			}
			ss = append(ss, series{names[i], vals})
		}
		out = append(out, chartSpec{id: "latency-" + q.name, title: "Latency " + q.name + " by phase", ylabel: "ms",
			categories: metrics.Phases, series: ss,
			caption: "issue: the issue API call; upload: each upload's send to S3's answer; verify: an event's " +
				"delivery to the verifier's decision; end_to_end: a URL's first upload to its accept."})
	}
	return out
}

// costSpec is the cost chart, stacked by component.
func (c *Comparison) costSpec() chartSpec {
	var costSeries []series
	if len(c.Reports) > 0 {
		for k, comp := range c.Reports[0].CostUSDPerMillion.Components() {
			costSeries = append(costSeries, series{comp.Label, c.perReport(func(r *report.Report) float64 {
				return r.CostUSDPerMillion.Components()[k].USD
			})})
		}
	}
	return chartSpec{id: "cost", title: "Cost per million uploads", ylabel: "USD", categories: c.names(),
		stacked: true, labels: true, format: "$%.2f", series: costSeries,
		caption: "Estimated AWS cost per million uploads sent, by component; the label is the total."}
}

// barPlot draws one bar per series per category, side by side or stacked.
func barPlot(title, ylabel string, categories []string, ss []series, stacked bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.Padding = vg.Points(2)
	sans(p)
	// Horizontal lines only, under the bars.
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	n := len(ss)
	width := barWidth(len(categories), n, stacked)
	var below *plotter.BarChart
	ymax := 0.0
	for j, s := range ss {
		b, err := plotter.NewBarChart(plotter.Values(s.values), width)
		if err != nil {
			return nil, err
		}
		b.Color = palette[j%len(palette)]
		b.LineStyle.Width = 0
		if stacked {
			if below != nil {
				b.StackOn(below)
			}
			below = b
		} else {
			b.Offset = barOffset(j, n, width)
		}
		_, _, _, top := b.DataRange()
		ymax = max(ymax, top)
		p.Add(b)
		if n > 1 {
			p.Legend.Add(s.label, b)
		}
	}
	// Room above the tallest bar for its label and for the legend, which
	// sits inside the top right corner: a line per series.
	head := 1.2
	if n > 1 {
		head += 0.1 * float64(n)
	}
	p.Y.Max = math.Max(ymax*head, 1)
	p.NominalX(categories...)
	return p, nil
}

// addLabels writes each bar's value above it; stacked bars get their total.
func addLabels(p *plot.Plot, ss []series, width vg.Length, stacked bool, format string) error {
	if len(ss) == 0 {
		return nil
	}
	add := func(values []float64, dx vg.Length) error {
		xys := make(plotter.XYs, len(values))
		labels := make([]string, len(values))
		for i, v := range values {
			xys[i] = plotter.XY{X: float64(i), Y: v}
			labels[i] = fmt.Sprintf(format, v)
		}
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].Font.Variant = "Sans"
			l.TextStyle[i].Font.Size = vg.Points(9)
		}
		l.Offset = vg.Point{X: dx, Y: vg.Points(3)}
		p.Add(l)
		return nil
	}
	if stacked {
		totals := make([]float64, len(ss[0].values))
		for _, s := range ss {
			for i, v := range s.values {
				totals[i] += v
			}
		}
		return add(totals, 0)
	}
	for j, s := range ss {
		if err := add(s.values, barOffset(j, len(ss), width)); err != nil {
			return err
		}
	}
	return nil
}

// barOffset centres series j of n side by side around its category.
func barOffset(j, n int, width vg.Length) vg.Length {
	return vg.Length(float64(j)-float64(n-1)/2) * width
}

// barWidth fits n series side by side (or one stack) into a category.
func barWidth(categories, n int, stacked bool) vg.Length {
	if stacked {
		n = 1
	}
	return vg.Points(math.Min(48, 280/float64(max(1, categories))/float64(max(1, n))))
}

// sans sets every text of p in Liberation Sans, which reads better on screen
// than the default serif.
func sans(p *plot.Plot) {
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		f.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Tick.Label.Font.Size = vg.Points(11)
}

// renderSVG draws p with vgsvg and returns the bare <svg> element, ready to
// inline in HTML (the XML prolog dropped).
func renderSVG(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(vg.Points(chartW), vg.Points(chartH))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte("<svg"))
	if i < 0 {
		return "", fmt.Errorf("vgsvg wrote no <svg> element")
	}
	// The SVG is built by gonum/plot from numbers and our own labels,
	// which vgsvg escapes: safe to inline.
	return template.HTML(b[i:]), nil
}
