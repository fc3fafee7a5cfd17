package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/uploadonce/uploadonce/loadtest/client"
)

// PreflightTimeout bounds the whole preflight: a bad target is refused
// within seconds.
const PreflightTimeout = 15 * time.Second

// PreflightError says which check of a target failed: What is one of
// "API key", "issue API", "AWS credentials", "bucket", "region".
type PreflightError struct {
	What string
	Err  error
}

func (e *PreflightError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }

// Preflight checks the stack before anything is sent: one issue call
// (reachable, API key), the credentials, then a HEAD of the bucket
// (exists, credentials accepted, region) and its versioning. It sends no
// upload.
func (r *Remote) Preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PreflightTimeout)
	defer cancel()
	if err := r.checkIssue(ctx); err != nil {
		return err
	}
	return r.PreflightS3(ctx)
}

// PreflightS3 checks the credentials, the bucket and its versioning only:
// what reading ground truth needs.
func (r *Remote) PreflightS3(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PreflightTimeout)
	defer cancel()
	if _, err := r.s3.Options().Credentials.Retrieve(ctx); err != nil {
		return &PreflightError{What: "AWS credentials", Err: fmt.Errorf(
			"the default chain (environment, shared config and credentials files, SSO, instance role) found none: %w", err)}
	}
	if _, err := r.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &r.o.Bucket}); err != nil {
		return r.bucketError(err)
	}
	if err := r.checkVersioning(ctx); err != nil {
		return &PreflightError{What: "bucket", Err: fmt.Errorf("reading the versioning of %s: %w", r.o.Bucket, err)}
	}
	return nil
}

// checkIssue makes one issue call.
func (r *Remote) checkIssue(ctx context.Context) error {
	c := client.New(r.o.IssueURL, r.o.APIKey, 1)
	c.HTTP.Timeout = 5 * time.Second
	defer c.HTTP.CloseIdleConnections()
	_, err := c.Issue(ctx)
	var se *client.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusUnauthorized):
		return &PreflightError{What: "API key", Err: fmt.Errorf("the issue API at %s refused it (HTTP %d %s): check --api-key",
			r.o.IssueURL, se.Status, se.Body)}
	case errors.As(err, &se):
		return &PreflightError{What: "issue API", Err: fmt.Errorf("%s answered HTTP %d: %s", r.o.IssueURL, se.Status, se.Body)}
	}
	return &PreflightError{What: "issue API", Err: fmt.Errorf("cannot reach %s: %w", r.o.IssueURL, err)}
}

// bucketError says why the HEAD of the bucket failed.
func (r *Remote) bucketError(err error) error {
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	region := ""
	if re != nil && re.Response != nil {
		region = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	switch {
	case status == http.StatusNotFound || code == "NoSuchBucket" || code == "NotFound":
		return &PreflightError{What: "bucket", Err: fmt.Errorf("%s does not exist (HEAD bucket: %d)", r.o.Bucket, status)}
	case status == http.StatusMovedPermanently || status == http.StatusBadRequest || region != "" && region != r.o.Region:
		where := "another region"
		if region != "" {
			where = "region " + region
		}
		return &PreflightError{What: "region", Err: fmt.Errorf("bucket %s is not in %s but in %s (HEAD bucket: %d): check --region",
			r.o.Bucket, r.o.Region, where, status)}
	case status == http.StatusForbidden:
		return &PreflightError{What: "AWS credentials", Err: fmt.Errorf("S3 refused them for bucket %s (HEAD bucket: 403): wrong keys, or a bucket of another account", r.o.Bucket)}
	case status == 0:
		return &PreflightError{What: "bucket", Err: fmt.Errorf("cannot reach S3 for %s: %w", r.o.Bucket, err)}
	}
	return &PreflightError{What: "bucket", Err: fmt.Errorf("HEAD %s: %w", r.o.Bucket, err)}
}
