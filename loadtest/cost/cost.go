// Package cost estimates what a run's traffic would cost on AWS per million
// uploads, from the operations the run counted, a price table (prices.yaml,
// embedded; Load reads another) and a Model of what the run cannot measure:
// Lambda's billed duration and memory, the memcached node type, and the
// monthly volume that node-hours are spread over.
//
// Per million uploads sent:
//
//	api_gateway = issue requests/upload × API price
//	lambda      = invocations/upload × (request price + GB × billed s × GB-s price)
//	s3          = Σ S3 requests/upload by operation × that operation's price
//	memcached   = nodes × node-hour price × 730 h ÷ monthly uploads
//	              (serverless: max(stored, minimum) GB-hours ÷ monthly uploads
//	              + memcached commands/upload × ECPU price)
//
// nodes = ⌈target rate × memcached commands/upload ÷ node capacity⌉, at
// least 1, where target rate = monthly uploads ÷ (730 h × 3600 s) and node
// capacity defaults to the commands per second per node the run sustained.
//
// The DynamoDB conditional-delete design (DESIGN §1) is priced analytically
// from the same run: one PutItem (1 WRU) per URL issued and one conditional
// DeleteItem (1 WRU, billed even when its condition fails) per verifier
// invocation. Its cost grows linearly with volume while memcached's is
// mostly fixed, so above a break-even monthly volume memcached is cheaper.
package cost

import (
	"fmt"
	"math"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/metrics"
)

// Model defaults.
const (
	// DefaultNodeType is the memcached node type priced.
	DefaultNodeType = "cache.t4g.micro"
	// NodeTypeServerless prices ElastiCache Serverless instead of nodes.
	NodeTypeServerless = "serverless"
	// DefaultMonthlyUploads is the volume node-hours are spread over.
	DefaultMonthlyUploads = 100e6
	// DefaultLambdaMemoryMB is the verifier's configured memory.
	DefaultLambdaMemoryMB = 128
	// HoursPerMonth is AWS's billing month.
	HoursPerMonth = 730
	// APIREST and APIHTTP are the API Gateway flavours.
	APIREST = "rest"
	APIHTTP = "http"
)

// Model is what the run cannot measure. The zero Model works: every zero
// field takes its default.
type Model struct {
	// API is the issue endpoint's API Gateway flavour: rest (default, as
	// the reference) or http.
	API string
	// LambdaMemoryMB is the verifier's memory (default 128).
	LambdaMemoryMB float64
	// LambdaMS is the billed duration of one verifier invocation. 0 derives
	// it from the run: the handlers' measured run time, each invocation
	// rounded up to Lambda's 1 ms step, averaged over the invocations. It
	// leaves out time spent queued for a concurrency slot, which Lambda does
	// not bill. In-process S3 and loopback memcached answer faster than AWS,
	// while a saturated host stretches each run; give the duration your
	// function takes in AWS for a production estimate.
	LambdaMS float64
	// NodeType is an ElastiCache node type in the table, or "serverless"
	// (default cache.t4g.micro).
	NodeType string
	// NodeCapacity is the memcached commands per second one node carries.
	// 0 uses the run's saturation probe when there was one (Usage.
	// ProbedCapacity), else the run's measured rate per node, which is what
	// the harness drove, not the node's limit: a conservative figure.
	NodeCapacity float64
	// MonthlyUploads is the volume fixed monthly costs are spread over
	// (default 100 million).
	MonthlyUploads float64
}

func (m Model) withDefaults() Model {
	if m.API == "" {
		m.API = APIREST
	}
	if m.LambdaMemoryMB == 0 {
		m.LambdaMemoryMB = DefaultLambdaMemoryMB
	}
	if m.NodeType == "" {
		m.NodeType = DefaultNodeType
	}
	if m.MonthlyUploads == 0 {
		m.MonthlyUploads = DefaultMonthlyUploads
	}
	return m
}

// Validate checks m against table t.
func (m Model) Validate(t *Table) error {
	m = m.withDefaults()
	bad := func(f float64) bool { return f < 0 || math.IsNaN(f) || math.IsInf(f, 0) }
	switch {
	case m.API != APIREST && m.API != APIHTTP:
		return fmt.Errorf("API Gateway flavour %q: want rest or http", m.API)
	case bad(m.LambdaMemoryMB) || m.LambdaMemoryMB < 128 || m.LambdaMemoryMB > 10240:
		return fmt.Errorf("Lambda memory %v MB: Lambda allows 128 to 10240", m.LambdaMemoryMB)
	case bad(m.LambdaMS) || m.LambdaMS > 900_000:
		return fmt.Errorf("Lambda duration %v ms: want 0 (derive it from the run) up to 900000", m.LambdaMS)
	case bad(m.NodeCapacity):
		return fmt.Errorf("node capacity %v: want memcached commands per second, or 0 to use the measured rate", m.NodeCapacity)
	case bad(m.MonthlyUploads) || m.MonthlyUploads < 1:
		return fmt.Errorf("monthly uploads %v: want at least 1", m.MonthlyUploads)
	}
	if _, ok := t.ElastiCache.Nodes[m.NodeType]; !ok && m.NodeType != NodeTypeServerless {
		return fmt.Errorf("node type %q is not in %s: want %s or %s", m.NodeType, t.File,
			strings.Join(t.NodeTypes(), ", "), NodeTypeServerless)
	}
	return nil
}

// Usage is what a run measured.
type Usage struct {
	Uploads     int64 // the denominator: uploads sent
	Tokens      int64 // URLs issued
	APIRequests int64 // issue API requests
	Invocations int64 // verifier Lambda invocations, retries included
	S3          metrics.S3Requests
	// Memcached is true when the strategy keeps tokens in memcached.
	Memcached         bool
	MemcachedCommands int64
	MemcachedNodes    int
	UploadsPerS       float64 // throughput over the upload phase
	// ProbedCapacity is the memcached commands per second per node that a
	// saturation probe of the run's command mix measured; 0 when none ran.
	ProbedCapacity float64
	// BilledMS is the verifier's measured run time as Lambda bills it:
	// each invocation rounded up to a whole millisecond, summed.
	BilledMS int64
}

// PerMillion is USD per million uploads sent (or URLs issued), by
// component.
type PerMillion struct {
	APIGateway float64 `json:"api_gateway"`
	Lambda     float64 `json:"lambda"`
	S3         float64 `json:"s3"`
	Memcached  float64 `json:"memcached"`
	Total      float64 `json:"total"`
}

// Components lists the components in report order with their values.
func (p PerMillion) Components() []Component {
	return []Component{{"api_gateway", "API Gateway", p.APIGateway}, {"lambda", "Lambda", p.Lambda},
		{"s3", "S3", p.S3}, {"memcached", "memcached", p.Memcached}}
}

// Component is one part of a PerMillion.
type Component struct {
	Key, Label string
	USD        float64
}

// Applied is the model as applied to one run: every figure the estimate
// rests on, so that a reader can redo it.
type Applied struct {
	Prices string `json:"prices"` // the table's file
	Region string `json:"region"`
	API    string `json:"api_gateway"`
	// LambdaMS is the billed duration per invocation; LambdaMSFrom says
	// whether it was given or derived from the handlers' measured run time.
	LambdaMS       float64 `json:"lambda_ms"`
	LambdaMSFrom   string  `json:"lambda_ms_from"`
	LambdaMemoryMB float64 `json:"lambda_memory_mb"`
	MonthlyUploads float64 `json:"monthly_uploads"`
	// TargetUploadsPerS is MonthlyUploads spread evenly over the month.
	TargetUploadsPerS float64 `json:"target_uploads_per_s"`
	// NodeType, Nodes and NodeUSDPerHour are empty for strategies that keep
	// no tokens in memcached.
	NodeType       string  `json:"node_type,omitempty"`
	Nodes          int     `json:"nodes,omitempty"`
	NodeUSDPerHour float64 `json:"node_usd_per_hour,omitempty"`
	// NodeCapacity is memcached commands/s per node; NodeCapacityFrom is
	// "given", "probed" (a saturation probe of the run's command mix),
	// "measured" (the rate the run sustained, a floor) or "unknown" (then
	// one node is assumed).
	NodeCapacity     float64 `json:"node_capacity_cmds_per_s,omitempty"`
	NodeCapacityFrom string  `json:"node_capacity_from,omitempty"`
	// DynamoDBWRUPerUpload and DynamoDBUSDPerMillion price the token store
	// of the DynamoDB conditional-delete design under the same traffic.
	DynamoDBWRUPerUpload  float64 `json:"dynamodb_wru_per_upload"`
	DynamoDBUSDPerMillion float64 `json:"dynamodb_usd_per_million"`
}

// Estimate is the cost of one run's traffic.
type Estimate struct {
	PerMillion PerMillion
	// PerMillionURLs is the same cost per million URLs issued: what a team
	// prices, since duplicate and late attempts ride on one URL.
	PerMillionURLs PerMillion
	Applied        Applied
	// LambdaGBSeconds is the modelled compute of one invocation.
	LambdaGBSeconds float64
	// BreakEven is the monthly volume above which memcached costs less than
	// DynamoDB's conditional delete; nil when it never does or the strategy
	// keeps no tokens in memcached.
	BreakEven *float64
}

const secondsPerMonth = HoursPerMonth * 3600

// Where Applied.LambdaMS came from.
const (
	LambdaMSGiven = "given"
	// LambdaMSMeasured: the handlers' run time, billed per invocation in
	// whole milliseconds, averaged.
	LambdaMSMeasured = "measured handler time"
	// LambdaMSMinimum: nothing ran, so Lambda's 1 ms minimum.
	LambdaMSMinimum = "Lambda's 1 ms minimum"
)

// Compute prices usage u with table t under model m.
func Compute(u Usage, t *Table, m Model) (Estimate, error) {
	if err := m.Validate(t); err != nil {
		return Estimate{}, err
	}
	m = m.withDefaults()
	a := Applied{Prices: t.File, Region: t.Region, API: m.API, LambdaMemoryMB: m.LambdaMemoryMB,
		MonthlyUploads: m.MonthlyUploads, TargetUploadsPerS: m.MonthlyUploads / secondsPerMonth, LambdaMS: m.LambdaMS,
		LambdaMSFrom: LambdaMSGiven}
	if a.LambdaMS == 0 {
		a.LambdaMS, a.LambdaMSFrom = 1, LambdaMSMinimum
		if u.Invocations > 0 && u.BilledMS > 0 {
			a.LambdaMS, a.LambdaMSFrom = float64(u.BilledMS)/float64(u.Invocations), LambdaMSMeasured
		}
	}
	e := Estimate{LambdaGBSeconds: m.LambdaMemoryMB / 1024 * a.LambdaMS / 1000}
	if u.Uploads <= 0 {
		e.Applied = a
		return e, nil
	}
	per := func(n int64) float64 { return float64(n) / float64(u.Uploads) } // per upload

	api := t.APIGateway.REST
	if m.API == APIHTTP {
		api = t.APIGateway.HTTP
	}
	pm := PerMillion{
		APIGateway: per(u.APIRequests) * api.Each(),
		Lambda:     per(u.Invocations) * (t.Lambda.Requests.Each() + e.LambdaGBSeconds*t.Lambda.Compute.Each()),
		S3: per(u.S3.Put+u.S3.Post+u.S3.Copy+u.S3.List)*t.S3.PutCopyPostList.Each() +
			per(u.S3.Get+u.S3.Head+u.S3.Other)*t.S3.Get.Each() + per(u.S3.Delete)*t.S3.Delete.Each(),
	}
	a.DynamoDBWRUPerUpload = per(u.Tokens + u.Invocations)
	dynamo := a.DynamoDBWRUPerUpload * t.DynamoDB.WriteRequestUnit.Each() // USD per upload
	a.DynamoDBUSDPerMillion = dynamo * 1e6

	if u.Memcached {
		cmds := per(u.MemcachedCommands)
		a.NodeType = m.NodeType
		if m.NodeType == NodeTypeServerless {
			sl := t.ElastiCache.Serverless
			// Tokens are a few dozen bytes: the minimum storage is billed.
			fixed := max(sl.MinimumGB, 0) * sl.Storage.Each() * HoursPerMonth
			perUpload := cmds * sl.ECPU.Each()
			pm.Memcached = fixed/m.MonthlyUploads + perUpload
			if dynamo > perUpload {
				v := fixed / (dynamo - perUpload)
				e.BreakEven = &v
			}
		} else {
			node := t.ElastiCache.Nodes[m.NodeType]
			a.NodeUSDPerHour = node.Each()
			a.NodeCapacity, a.NodeCapacityFrom = m.NodeCapacity, "given"
			if a.NodeCapacity == 0 && u.ProbedCapacity > 0 {
				a.NodeCapacity, a.NodeCapacityFrom = u.ProbedCapacity, "probed"
			}
			if a.NodeCapacity == 0 {
				a.NodeCapacityFrom = "unknown"
				if u.MemcachedNodes > 0 && cmds > 0 && u.UploadsPerS > 0 {
					a.NodeCapacity, a.NodeCapacityFrom = cmds*u.UploadsPerS/float64(u.MemcachedNodes), "measured"
				}
			}
			a.Nodes = 1
			perNodeMonth := math.Inf(1) // uploads a month one node carries
			if a.NodeCapacity > 0 && cmds > 0 {
				a.Nodes = max(1, int(math.Ceil(a.TargetUploadsPerS*cmds/a.NodeCapacity)))
				perNodeMonth = a.NodeCapacity / cmds * secondsPerMonth
			}
			fixed := a.NodeUSDPerHour * HoursPerMonth
			pm.Memcached = float64(a.Nodes) * fixed / m.MonthlyUploads
			if v, ok := BreakEven(fixed, dynamo, perNodeMonth); ok {
				e.BreakEven = &v
			}
		}
	}
	pm.APIGateway *= 1e6
	pm.Lambda *= 1e6
	pm.S3 *= 1e6
	pm.Memcached *= 1e6
	pm.Total = pm.APIGateway + pm.Lambda + pm.S3 + pm.Memcached
	e.PerMillion, e.Applied = pm, a
	if u.Tokens > 0 {
		e.PerMillionURLs = pm.Scale(float64(u.Uploads) / float64(u.Tokens))
	}
	return e, nil
}

// Scale returns p with every component times f.
func (p PerMillion) Scale(f float64) PerMillion {
	return PerMillion{APIGateway: p.APIGateway * f, Lambda: p.Lambda * f, S3: p.S3 * f, Memcached: p.Memcached * f, Total: p.Total * f}
}

// BreakEven returns the monthly volume V* above which memcached nodes cost
// less than DynamoDB, and false when they never do. nodeMonth is one node's
// monthly price, dynamoPerUpload DynamoDB's price per upload, and
// perNodeMonth the uploads a month one node carries (+Inf: one node always
// suffices).
//
// DynamoDB costs V·d; memcached costs ⌈V/b⌉·F with F = nodeMonth, d =
// dynamoPerUpload, b = perNodeMonth. With a = F/d, memcached with n nodes is
// cheaper for V in (n·a, n·b], which is empty unless a < b; it covers the
// whole n-node range (((n−1)·b, n·b]) once n·a ≤ (n−1)·b, that is, for
// n ≥ b/(b−a). So V* = n·a for the largest n < b/(b−a).
func BreakEven(nodeMonth, dynamoPerUpload, perNodeMonth float64) (float64, bool) {
	if !(dynamoPerUpload > 0) || !(perNodeMonth > 0) || nodeMonth < 0 {
		return 0, false
	}
	a := nodeMonth / dynamoPerUpload
	if math.IsInf(perNodeMonth, 1) {
		return a, true
	}
	b := perNodeMonth
	if a >= b {
		return 0, false
	}
	n := math.Ceil(b/(b-a)) - 1
	return n * a, true
}
