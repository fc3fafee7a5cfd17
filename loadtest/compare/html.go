package compare

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/report"
)

// WriteHTML writes one self-contained page: verdict, table, charts (inline
// SVG drawn by gonum/plot), operations and cost details, and the prices
// with their sources. It loads nothing from elsewhere.
func (c *Comparison) WriteHTML(w io.Writer) error {
	charts, err := c.Charts()
	if err != nil {
		return err
	}
	data := htmlData{C: c, Charts: charts, Summary: c.Summary(), Generated: time.Now().UTC().Format(time.RFC3339)}
	for _, r := range c.Reports {
		data.Faults = data.Faults || len(r.Faults) > 0
	}
	if len(c.Reports) > 0 {
		data.First = c.Reports[0]
	}
	if c.Prices != nil {
		data.Prices = c.Prices.Prices()
	}
	return page.Execute(w, data)
}

type htmlData struct {
	C         *Comparison
	First     *report.Report
	Charts    []Chart
	Summary   []string
	Faults    bool // some run injected faults
	Prices    []cost.NamedPrice
	Generated string
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"count":     report.Count,
	"result":    result,
	"breakEven": breakEven,
	"lost":      lost,
	"usd":       func(v float64) string { return fmt.Sprintf("$%.4f", v) },
	"plain":     func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"ms":        func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uploadonce compare</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", "Liberation Sans", sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
td { white-space: nowrap; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
th.l, td.l { text-align: left; }
tr.expected td { background: #fff6e0; }
tr.fail td { background: #fde8e8; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #b42318; font-weight: 600; }
.verdict p { margin: 0.3em 0; }
figure { margin: 2em 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #444; font-size: 0.95em; max-width: 60em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(30em, 1fr)); gap: 0 2em; }
code { background: #f4f4f4; padding: 0 0.2em; }
</style>
</head>
<body>
<h1>uploadonce compare</h1>
{{with .First}}<p class="meta">{{.Plan.Tokens}} URLs, {{.Plan.Uploads}} uploads, concurrency {{.Plan.Concurrency}}{{if gt .Plan.Rate 0.0}}, open model at {{.Plan.Rate}} URLs/s{{else}}, closed model{{end}}, clock {{.Clock}}, seed {{.Seed}}, memcached {{.Memcached.Kind}}; generated {{$.Generated}}.</p>{{end}}

<div class="verdict">
{{range .Summary}}<p>{{.}}</p>
{{end}}</div>

<table>
<tr><th>strategy</th><th class="l">store</th><th class="l">result</th><th>violations</th><th>lost URLs</th><th>uploads/s</th><th>end-to-end p50 ms</th><th>end-to-end p99 ms</th><th>memcached / upload</th><th>S3 / upload</th><th>USD / 1M URLs</th><th>USD / 1M uploads</th><th>faults</th><th>break-even / month</th></tr>
{{range .C.Table}}<tr class="{{if and (not .OK) .Expected}}expected{{else if not .OK}}fail{{end}}">
<td>{{.Strategy}}</td><td class="l">{{.Store}}</td><td class="l {{if .OK}}ok{{else if not .Expected}}bad{{end}}">{{result .}}</td><td>{{.Violations}}</td><td>{{lost .}}</td>
<td>{{printf "%.0f" .UploadsPerS}}</td><td>{{printf "%.3f" .EndToEndP50MS}}</td><td>{{printf "%.3f" .EndToEndP99MS}}</td>
<td>{{printf "%.2f" .MemcachedPerUpload}}</td><td>{{printf "%.2f" .S3PerUpload}}</td><td>{{usd .CostUSDPerMillionURLs}}</td><td>{{usd .CostUSDPerMillion}}</td><td>{{or .Faults "-"}}</td><td>{{breakEven .}}</td></tr>
{{end}}</table>

<div class="charts">
{{range .Charts}}<figure id="{{.ID}}">
{{.SVG}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}</div>

{{if .Faults}}<h2>Faults</h2>
<table>
<tr><th>strategy</th><th class="l">fault</th><th class="l">planned at</th><th class="l">fired</th><th class="l">provider</th><th class="l">effect</th></tr>
{{range .C.Reports}}{{$s := .Strategy}}{{range .Faults}}<tr><td>{{$s}}</td><td class="l">{{.Kind}}</td><td class="l">{{.At}}</td>
<td class="l {{if .Fired}}ok{{else if not .NotApplicable}}bad{{end}}">{{if .Fired}}at {{printf "%.2f" .FiredAtS}}s{{else if .NotApplicable}}not applicable{{else}}DID NOT FIRE{{end}}</td>
<td class="l">{{.Provider}}</td><td class="l">{{.Effect}}{{with .Ended}}; {{.}}{{end}}</td></tr>
{{end}}{{end}}</table>
{{end}}
<h2>Operations per upload</h2>
<table>
<tr><th>strategy</th><th>API requests</th><th>Lambda invocations</th><th>Lambda GB-s</th><th>memcached</th><th>S3 PUT</th><th>POST</th><th>COPY</th><th>GET</th><th>HEAD</th><th>LIST</th><th>DELETE</th></tr>
{{range .C.Reports}}<tr><td>{{.Strategy}}</td>{{with .OpsPerUpload}}<td>{{printf "%.2f" .APIRequests}}</td><td>{{printf "%.2f" .LambdaInvocations}}</td><td>{{printf "%.6f" .LambdaGBSeconds}}</td><td>{{printf "%.2f" .Memcached}}</td>
{{with .S3}}<td>{{printf "%.2f" .Put}}</td><td>{{printf "%.2f" .Post}}</td><td>{{printf "%.2f" .Copy}}</td><td>{{printf "%.2f" .Get}}</td><td>{{printf "%.2f" .Head}}</td><td>{{printf "%.2f" .List}}</td><td>{{printf "%.2f" .Delete}}</td>{{end}}{{end}}</tr>
{{end}}
</table>

<h2>Cost per million uploads</h2>
<table>
<tr><th>strategy</th><th>API Gateway</th><th>Lambda</th><th>S3</th><th>memcached</th><th>total</th><th>memcached nodes</th><th>Lambda ms</th><th>DynamoDB alternative</th><th>break-even / month</th></tr>
{{range .C.Reports}}<tr><td>{{.Strategy}}</td>{{with .CostUSDPerMillion}}<td>{{usd .APIGateway}}</td><td>{{usd .Lambda}}</td><td>{{usd .S3}}</td><td>{{usd .Memcached}}</td><td>{{usd .Total}}</td>{{end}}
{{with .CostModel}}<td>{{if .NodeType}}{{.Nodes}} × {{.NodeType}}{{else}}-{{end}}</td><td>{{ms .LambdaMS}}</td><td>{{usd .DynamoDBUSDPerMillion}}</td>{{else}}<td></td><td></td><td></td>{{end}}
<td>{{with .BreakEvenMonthlyUploads}}{{count .}}{{else}}-{{end}}</td></tr>
{{end}}</table>

<h2>Prices</h2>
{{with .C.Prices}}<p>Region {{.Region}}, from <code>{{.File}}</code>.</p>{{end}}
<table>
<tr><th>price</th><th>USD</th><th>per</th><th>unit</th><th>as of</th><th>source</th></tr>
{{range .Prices}}<tr><td>{{.Path}}</td><td>{{plain .Price.USD}}</td><td>{{plain .Price.Per}}</td><td>{{.Price.Unit}}</td><td>{{.Price.AsOf}}</td><td><a href="{{.Price.Source}}">{{.Price.Source}}</a></td></tr>
{{end}}</table>
</body>
</html>
`
