package target

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/loadtest/history"
)

// Remote is a deployed stack that uploadonce did not start: a deployment
// of deploy/template.yaml, or another `uploadonce serve`. It is reached
// only through what a deployment exposes, the issue API and S3 (with the
// AWS SDK's default credential chain), never the emulator's /_uploadonce.
// It has no clock to move, no memcached to fault and no server-side log to
// watch: ground truth is read from S3 after the load (see Witness).
type Remote struct {
	o         RemoteOptions
	s3        *s3.Client
	versioned bool // the bucket has versioning enabled
}

var (
	_ Target  = (*Remote)(nil)
	_ Cleaner = (*Remote)(nil)
	_ Witness = (*Remote)(nil)
)

// RemoteOptions say where the stack is and what it runs.
type RemoteOptions struct {
	IssueURL string // the issue API, e.g. https://ID.execute-api.REGION.amazonaws.com/Prod/getpresignedurl
	APIKey   string
	Bucket   string
	Region   string
	// S3Endpoint is S3's URL when it is not AWS's (then path-style).
	S3Endpoint string
	// DecisionLogPrefix is the stack's DECISION_LOG_PREFIX; "" when it
	// keeps no decision log.
	DecisionLogPrefix string
	// KeepObjects leaves the run's uploads/ and accepted/ objects behind.
	KeepObjects bool
	// Strategy names what the stack runs, for the report; URLExpiry is the
	// stack's URL expiry, assumed for grants that do not say.
	Strategy  string
	URLExpiry time.Duration
	// Settle bounds the wait for the stack's decisions after the load.
	Settle time.Duration
	Logger zerolog.Logger
}

// DialRemote builds the S3 client from the default credential chain. It
// sends nothing: Preflight checks the stack.
func DialRemote(ctx context.Context, o RemoteOptions) (*Remote, error) {
	opts := []func(*config.LoadOptions) error{config.WithRetryMaxAttempts(2)}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &PreflightError{What: "AWS configuration", Err: err}
	}
	if cfg.Region == "" {
		return nil, &PreflightError{What: "region", Err: errors.New("no region: give --region or set AWS_REGION")}
	}
	o.Region = cfg.Region
	cl := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.DisableLogOutputChecksumValidationSkipped = true // the decision log's GETs carry none
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
			so.UsePathStyle = true
		}
	})
	return &Remote{o: o, s3: cl}, nil
}

// Endpoint implements Target.
func (r *Remote) Endpoint() Endpoint {
	return Endpoint{IssueURL: r.o.IssueURL, APIKey: r.o.APIKey, Bucket: r.o.Bucket}
}

// Describe implements Target: the memcached is the stack's own, which the
// run cannot see.
func (r *Remote) Describe() Description {
	return Description{Strategy: r.o.Strategy, MemcachedKind: "remote", URLExpiry: r.o.URLExpiry}
}

// Close implements Target.
func (r *Remote) Close(context.Context) error { return nil }

// String names the target in logs.
func (r *Remote) String() string { return "remote stack at " + r.o.IssueURL }

// Loopback reports whether every host the run would reach is on loopback.
func (o RemoteOptions) Loopback() bool {
	for _, s := range []string{o.IssueURL, o.S3Endpoint} {
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil {
			return false
		}
		if h := u.Hostname(); h != "localhost" {
			ip := net.ParseIP(h)
			if ip == nil || !ip.IsLoopback() {
				return false
			}
		}
	}
	return o.S3Endpoint != "" // AWS's S3 is never loopback
}

// AcceptedETag implements Cleaner.
func (r *Remote) AcceptedETag(ctx context.Context, key string) string {
	out, err := r.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.o.Bucket, Key: aws.String(AcceptedName(key))})
	if err != nil {
		return ""
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// Remove implements Cleaner: every version of the upload and of
// accepted/<name>, unless KeepObjects. The decision log stays: it is the
// stack's.
func (r *Remote) Remove(ctx context.Context, key string) {
	if r.o.KeepObjects {
		return
	}
	for _, k := range []string{key, AcceptedName(key)} {
		vs, err := r.versions(ctx, k)
		if err != nil || len(vs) == 0 {
			vs = []objectVersion{{}}
		}
		for _, v := range vs {
			in := &s3.DeleteObjectInput{Bucket: &r.o.Bucket, Key: aws.String(k)}
			if v.ID != "" {
				in.VersionId = aws.String(v.ID)
			}
			if _, err := r.s3.DeleteObject(ctx, in); err != nil {
				r.o.Logger.Debug().Err(err).Str("key", k).Msg("removing a finished object")
			}
		}
	}
}

// objectVersion is one version of an object, oldest first in a list.
type objectVersion struct {
	ID       string
	ETag     string
	Modified time.Time
}

// versions lists exactly key's versions, oldest first (none on a bucket
// without versioning).
func (r *Remote) versions(ctx context.Context, key string) ([]objectVersion, error) {
	if !r.versioned {
		return nil, nil
	}
	out, err := r.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &r.o.Bucket, Prefix: aws.String(key)})
	if err != nil {
		return nil, err
	}
	var vs []objectVersion
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != key {
			continue
		}
		vs = append(vs, objectVersion{ID: aws.ToString(v.VersionId), ETag: strings.Trim(aws.ToString(v.ETag), `"`),
			Modified: aws.ToTime(v.LastModified)})
	}
	// S3 lists versions newest first.
	for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
		vs[i], vs[j] = vs[j], vs[i]
	}
	return vs, nil
}

// Versioned reports whether the bucket keeps versions (known after
// Preflight).
func (r *Remote) Versioned() bool { return r.versioned }

// checkVersioning records whether the bucket keeps versions.
func (r *Remote) checkVersioning(ctx context.Context) error {
	out, err := r.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &r.o.Bucket})
	if err != nil {
		return err
	}
	r.versioned = out.Status == types.BucketVersioningStatusEnabled
	return nil
}

// Source names where ground truth comes from, as report.ground_truth says.
func (r *Remote) Source() string {
	switch {
	case r.o.DecisionLogPrefix != "":
		return "decision log s3://" + r.o.Bucket + "/" + r.o.DecisionLogPrefix
	case r.versioned:
		return "accepted versions s3://" + r.o.Bucket + "/" + strings.TrimSuffix(AcceptedName(""), "/")
	}
	return "accepted objects s3://" + r.o.Bucket + "/" + strings.TrimSuffix(AcceptedName(""), "/")
}

// uploadsTaken returns the MD5s of the uploads S3 took for t.
func uploadsTaken(t *history.Token) []string {
	var out []string
	for _, u := range t.Uploads {
		if u.Err == "" && u.OK() {
			out = append(out, u.BodyMD5)
		}
	}
	return out
}
