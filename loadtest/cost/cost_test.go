package cost

import (
	"math"
	"testing"

	"github.com/uploadonce/uploadonce/loadtest/metrics"
)

// One issue, one POST, one Lambda, one COPY, one HEAD and one DELETE per
// upload, for a million uploads.
func TestPerMillion(t *testing.T) {
	const n = 1000
	e := PerMillion(Ops{Uploads: n, Issues: n, Invocations: n, S3: metrics.S3Requests{Post: n, Copy: n, Head: n, Delete: n}})
	want := Estimate{APIGateway: 3.50, LambdaRequests: 0.20, LambdaCompute: 1e6 * 0.125 * 0.1 * 0.0000166667,
		S3Requests: 2*1e6*0.005/1000 + 1e6*0.0004/1000}
	want.Total = want.APIGateway + want.LambdaRequests + want.LambdaCompute + want.S3Requests
	for _, c := range [][2]float64{{e.APIGateway, want.APIGateway}, {e.LambdaRequests, want.LambdaRequests},
		{e.LambdaCompute, want.LambdaCompute}, {e.S3Requests, want.S3Requests}, {e.Total, want.Total}} {
		if math.Abs(c[0]-c[1]) > 1e-9 {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	}
	if (PerMillion(Ops{}) != Estimate{}) {
		t.Fatal("no uploads should cost nothing")
	}
}
