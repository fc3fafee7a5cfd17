package cost

// The price table, in one place so that a later issue can move it to YAML.
//
// Source: the AWS public price pages for us-east-1, as quoted in the
// project's issue 5 (read 2026-05): API Gateway REST
// (https://aws.amazon.com/api-gateway/pricing/), Lambda
// (https://aws.amazon.com/lambda/pricing/, x86) and S3 Standard
// (https://aws.amazon.com/s3/pricing/). ElastiCache is billed per node-hour,
// not per request, so it is not in a per-upload figure.
const (
	// APIGatewayPerMillion is REST API requests, first 333 million a month.
	APIGatewayPerMillion = 3.50
	// LambdaRequestsPerMillion is Lambda requests.
	LambdaRequestsPerMillion = 0.20
	// LambdaPerGBSecond is Lambda compute (x86).
	LambdaPerGBSecond = 0.0000166667
	// LambdaMemoryGB and LambdaSeconds model one verifier invocation:
	// 128 MB for 100 ms.
	LambdaMemoryGB = 0.125
	LambdaSeconds  = 0.1
	// S3WritePerThousand is PUT, COPY, POST and LIST requests.
	S3WritePerThousand = 0.005
	// S3ReadPerThousand is GET, HEAD and other read requests.
	S3ReadPerThousand = 0.0004
	// S3DeletePerThousand: DELETE requests are free.
	S3DeletePerThousand = 0
)
