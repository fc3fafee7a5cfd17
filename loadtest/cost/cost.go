// Package cost estimates what a run's traffic would cost on AWS, per million
// uploads, from the operations the run counted and the table in prices.go.
package cost

import "github.com/uploadonce/uploadonce/loadtest/metrics"

// Ops are the billable operations of a run.
type Ops struct {
	Uploads     int64 // the denominator: uploads sent
	Issues      int64 // issue API requests
	Invocations int64 // verifier Lambda invocations
	S3          metrics.S3Requests
}

// Estimate is a per-million-uploads estimate in USD, by component.
type Estimate struct {
	APIGateway     float64 `json:"api_gateway"`
	LambdaRequests float64 `json:"lambda_requests"`
	LambdaCompute  float64 `json:"lambda_compute"`
	S3Requests     float64 `json:"s3_requests"`
	Total          float64 `json:"total"`
}

// PerMillion scales the run's operations to a million uploads. It returns
// the zero Estimate when no upload was sent.
func PerMillion(o Ops) Estimate {
	if o.Uploads <= 0 {
		return Estimate{}
	}
	scale := 1e6 / float64(o.Uploads)
	writes := o.S3.Put + o.S3.Post + o.S3.Copy + o.S3.List
	reads := o.S3.Get + o.S3.Head + o.S3.Other
	e := Estimate{
		APIGateway:     float64(o.Issues) * APIGatewayPerMillion / 1e6,
		LambdaRequests: float64(o.Invocations) * LambdaRequestsPerMillion / 1e6,
		LambdaCompute:  float64(o.Invocations) * LambdaMemoryGB * LambdaSeconds * LambdaPerGBSecond,
		S3Requests: float64(writes)*S3WritePerThousand/1000 + float64(reads)*S3ReadPerThousand/1000 +
			float64(o.S3.Delete)*S3DeletePerThousand/1000,
	}
	e.APIGateway *= scale
	e.LambdaRequests *= scale
	e.LambdaCompute *= scale
	e.S3Requests *= scale
	e.Total = e.APIGateway + e.LambdaRequests + e.LambdaCompute + e.S3Requests
	return e
}
