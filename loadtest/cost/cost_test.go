package cost

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/loadtest/metrics"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

// casRun is 1000 URLs × 2 uploads under cas: one issue and one add per URL;
// per upload one POST, one event and one gets; per URL one cas, one COPY and
// two DELETEs (the winner's source and the loser).
var casRun = Usage{Uploads: 2000, Tokens: 1000, APIRequests: 1000, Invocations: 2000,
	S3:        metrics.S3Requests{Post: 2000, Copy: 1000, Delete: 2000},
	Memcached: true, MemcachedCommands: 4000, MemcachedNodes: 1, UploadsPerS: 5000, BilledMS: 2000}

func TestComputeByHand(t *testing.T) {
	e, err := Compute(casRun, Default(), Model{})
	if err != nil {
		t.Fatal(err)
	}
	pm := e.PerMillion
	near(t, "api_gateway", pm.APIGateway, 0.5*3.50)                  // 0.5 issues per upload
	near(t, "lambda", pm.Lambda, 0.20+0.125*0.001*0.0000166667*1e6)  // 128 MB × 1 ms (2000 billed ms over 2000 invocations)
	near(t, "s3", pm.S3, 1.5*0.005*1000)                             // POST + ½ COPY; DELETE is free
	near(t, "memcached", pm.Memcached, 0.016*730/100e6*1e6)          // one t4g.micro at 100M a month
	near(t, "total", pm.Total, 1.75+0.2+0.0020833375+7.5+0.1168)     //
	near(t, "dynamodb", e.Applied.DynamoDBUSDPerMillion, 1.5*0.625)  // (1000 puts + 2000 deletes) / 2000
	near(t, "capacity", e.Applied.NodeCapacity, 2*5000)              // 2 commands/upload × 5000 uploads/s
	near(t, "target", e.Applied.TargetUploadsPerS, 100e6/(730*3600)) //
	near(t, "gb-s", e.LambdaGBSeconds, 0.125*0.001)                  //
	if e.Applied.Nodes != 1 || e.Applied.NodeCapacityFrom != "measured" || e.Applied.LambdaMSFrom != LambdaMSMeasured {
		t.Errorf("applied %+v", e.Applied)
	}
	if e.BreakEven == nil {
		t.Fatal("no break-even")
	}
	// One node (11.68 USD a month) against 0.9375 USD per million uploads.
	near(t, "break-even", *e.BreakEven, 0.016*730/(1.5*0.625e-6))
}

func TestComputeModelOptions(t *testing.T) {
	// A node that carries only 20 commands/s: 38.05 uploads/s × 2 commands
	// needs ⌈76.1/20⌉ = 4 m7g.large nodes.
	e, err := Compute(casRun, Default(), Model{API: APIHTTP, LambdaMS: 50, LambdaMemoryMB: 256, NodeType: "cache.m7g.large",
		NodeCapacity: 20, MonthlyUploads: 100e6})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "api_gateway", e.PerMillion.APIGateway, 0.5*1.00)
	near(t, "lambda", e.PerMillion.Lambda, 0.20+0.25*0.05*0.0000166667*1e6)
	near(t, "memcached", e.PerMillion.Memcached, 4*0.158*730/100)
	if e.Applied.Nodes != 4 || e.Applied.NodeCapacityFrom != "given" || e.Applied.LambdaMSFrom != "given" {
		t.Errorf("applied %+v", e.Applied)
	}
	// One node carries 10 uploads/s, 26.28M a month, and costs 115.34 USD:
	// as much as DynamoDB at a = 123.03M uploads, more than b: never cheaper.
	if e.BreakEven != nil {
		t.Errorf("break-even %v, want none", *e.BreakEven)
	}
}

func TestComputeServerless(t *testing.T) {
	e, err := Compute(casRun, Default(), Model{NodeType: NodeTypeServerless})
	if err != nil {
		t.Fatal(err)
	}
	fixed := 1 * 0.125 * 730.0 // 1 GB minimum, a month
	perUpload := 2 * 0.0034e-6 // one ECPU per command
	near(t, "memcached", e.PerMillion.Memcached, fixed/100e6*1e6+perUpload*1e6)
	near(t, "break-even", *e.BreakEven, fixed/(1.5*0.625e-6-perUpload))
}

func TestComputeNoMemcached(t *testing.T) {
	u := casRun
	u.Memcached, u.MemcachedCommands, u.MemcachedNodes = false, 0, 0
	e, err := Compute(u, Default(), Model{})
	if err != nil {
		t.Fatal(err)
	}
	if e.PerMillion.Memcached != 0 || e.BreakEven != nil || e.Applied.Nodes != 0 {
		t.Errorf("%+v", e)
	}
	if e, _ := Compute(Usage{}, Default(), Model{}); e.PerMillion != (PerMillion{}) {
		t.Errorf("no uploads should cost nothing: %+v", e.PerMillion)
	}
}

func TestModelValidate(t *testing.T) {
	for _, m := range []Model{{API: "soap"}, {LambdaMemoryMB: 64}, {LambdaMS: -1}, {NodeType: "cache.r99.huge"},
		{NodeCapacity: math.NaN()}, {MonthlyUploads: -5}} {
		if err := m.Validate(Default()); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
	if _, err := Compute(casRun, Default(), Model{NodeType: "nope"}); err == nil || !strings.Contains(err.Error(), "cache.t4g.micro") {
		t.Errorf("unknown node type: %v", err)
	}
}

func TestBreakEven(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		node, dynamo, nodeCarr float64
		want                   float64
		ok                     bool
	}{
		{"one node always suffices: F/d", 10, 1, math.Inf(1), 10, true},
		{"a < b/2: the first crossing holds", 10, 1, 100, 10, true},
		// b/(b−a) = 3: with 2 nodes (V in (15, 30]) DynamoDB is cheaper up to 20.
		{"a = 2b/3: the second node delays it", 10, 1, 15, 20, true},
		{"a = b: never", 10, 1, 10, 0, false},
		{"a > b: never", 10, 1, 5, 0, false},
		{"DynamoDB free: never", 10, 0, 100, 0, false},
	} {
		got, ok := BreakEven(tc.node, tc.dynamo, tc.nodeCarr)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestBreakEvenProperty checks the closed form against the step function:
// above V* memcached is always cheaper, and just below it is not.
func TestBreakEvenProperty(t *testing.T) {
	for _, b := range []float64{10.5, 11, 12, 13.3, 15, 20, 40, 1000} {
		const node, dynamo = 10.0, 1.0
		v, ok := BreakEven(node, dynamo, b)
		if !ok {
			t.Fatalf("b %v: none", b)
		}
		cheaper := func(V float64) bool { return math.Ceil(V/b)*node < V*dynamo }
		if cheaper(v - 1e-6) {
			t.Errorf("b %v: memcached already cheaper just below V* = %v", b, v)
		}
		for V := v + 1e-6; V < v+20*b; V += b / 7 {
			if !cheaper(V) {
				t.Errorf("b %v: memcached dearer at %v above V* = %v", b, V, v)
				break
			}
		}
	}
}

func TestDefaultTable(t *testing.T) {
	tb := Default()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"dynamodb wru", tb.DynamoDB.WriteRequestUnit.Each(), 0.625e-6},
		{"dynamodb rru", tb.DynamoDB.ReadRequestUnit.Each(), 0.125e-6},
		{"t4g.micro", tb.ElastiCache.Nodes["cache.t4g.micro"].Each(), 0.016},
		{"t3.micro", tb.ElastiCache.Nodes["cache.t3.micro"].Each(), 0.017},
		{"m7g.large", tb.ElastiCache.Nodes["cache.m7g.large"].Each(), 0.158},
		{"serverless GB-h", tb.ElastiCache.Serverless.Storage.Each(), 0.125},
		{"serverless min GB", tb.ElastiCache.Serverless.MinimumGB, 1},
		{"serverless ECPU", tb.ElastiCache.Serverless.ECPU.Each(), 0.0034e-6},
		{"s3 put", tb.S3.PutCopyPostList.Each(), 0.005e-3},
		{"s3 get", tb.S3.Get.Each(), 0.0004e-3},
		{"s3 delete", tb.S3.Delete.Each(), 0},
		{"lambda requests", tb.Lambda.Requests.Each(), 0.2e-6},
		{"lambda GB-s", tb.Lambda.Compute.Each(), 0.0000166667},
		{"api rest", tb.APIGateway.REST.Each(), 3.5e-6},
		{"api http", tb.APIGateway.HTTP.Each(), 1e-6},
	} {
		near(t, c.name, c.got, c.want)
	}
	if old, _ := tb.AsOf(); old != "2026-05-01" {
		t.Errorf("as_of %q", old)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := string(defaultPrices)
	// Each case replaces from with to; the error must name the line where
	// at first occurs in the result, then contain want.
	for _, tc := range []struct {
		name, from, to, at, want string
	}{
		{"unknown field", "region: us-east-1", "region: us-east-1\nregoin: x", "regoin", `unknown field "regoin"`},
		{"unknown price field", "  get:\n    usd: 0.0004\n", "  get:\n    usd: 0.0004\n    usd_per: 1\n", "usd_per", `unknown field "usd_per"`},
		{"negative", "usd: 0.016\n", "usd: -0.016\n", "usd: -0.016", "elasticache.nodes.cache.t4g.micro.usd: -0.016: want a non-negative price"},
		{"no source", "per: 1000000\n    unit: request\n    source: https://aws.amazon.com/lambda/pricing/\n",
			"per: 1000000\n    unit: request\n    source: \"\"\n", `source: ""`, "lambda.requests.source: missing"},
		{"bad date", "as_of: 2026-05-01\n  read_request_unit", "as_of: May 2026\n  read_request_unit", "May 2026",
			`dynamodb.write_request_unit.as_of: "May 2026": want a date`},
		{"zero per", "per: 1000000\n    unit: read", "per: 0\n    unit: read", "per: 0", "dynamodb.read_request_unit.per: 0"},
		{"wrong type", "usd: 3.50", "usd: [3.50]", "usd: [3.50]", "wrong type: want a number"},
		{"missing price", "  http:\n", "  httq:\n", "httq", `unknown field "httq"`},
	} {
		data := strings.Replace(good, tc.from, tc.to, 1)
		if data == good {
			t.Fatalf("%s: %q not in prices.yaml", tc.name, tc.from)
		}
		line := 1 + strings.Count(data[:strings.Index(data, tc.at)], "\n")
		want := fmt.Sprintf("f.yaml:%d: %s", line, tc.want)
		_, err := Decode("f.yaml", []byte(data))
		var pe *Error
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want it to start with %q", tc.name, err, want)
		}
	}
	// A price left out entirely is named, at its parent's line.
	data := good[:strings.Index(good, "  http:\n")]
	line := 1 + strings.Count(data[:strings.Index(data, "api_gateway:")], "\n")
	if _, err := Decode("f.yaml", []byte(data)); err == nil || err.Error() != fmt.Sprintf("f.yaml:%d: api_gateway.http: missing: want usd, per, unit, source and as_of", line) {
		t.Errorf("missing price: %v", err)
	}
	if _, err := Load("no/such/prices.yaml"); err == nil || !strings.HasPrefix(err.Error(), "no/such/prices.yaml: ") {
		t.Errorf("missing file: %v", err)
	}
}
