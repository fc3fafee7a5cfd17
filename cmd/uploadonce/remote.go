package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/cost"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/target"
)

// remoteFlags aim a load run at a deployed stack (DESIGN §4 "Remote
// target").
type remoteFlags struct {
	target, apiKey, bucket, region, s3Endpoint string
	decisionLog                                string
	keepObjects, yes                           bool
}

func (f *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "run against a deployed stack: its issue API URL (…/Prod/getpresignedurl);\n"+
		"only the issue API and S3 are used, with the AWS SDK's default credential chain")
	fs.StringVar(&f.apiKey, "api-key", "", "--target: the x-api-key of the issue API")
	fs.StringVar(&f.bucket, "bucket", "", "--target: the stack's bucket")
	fs.StringVar(&f.region, "region", "", "--target: the bucket's region (default: the SDK's, AWS_REGION)")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "--target: S3's URL when it is not AWS's (path-style)")
	fs.StringVar(&f.decisionLog, "decision-log-prefix", "", "--target: the stack's DECISION_LOG_PREFIX; ground truth comes from it\n"+
		"(else from accepted/ versions on a versioned bucket)")
	fs.BoolVar(&f.keepObjects, "keep-objects", false, "--target: leave the run's uploads/ and accepted/ objects in the bucket")
	fs.BoolVar(&f.yes, "yes", false, "--target: send the load to a stack that is not on loopback")
}

// emulatorOnlyFlags configure a stack the run starts; a --target run
// starts none.
var emulatorOnlyFlags = []string{"memcached", "memcached-hashing", "verifier-memcached-hashing", "memcached-memory-mb",
	"clock", "event-coalesce", "event-delay", "event-duplicates", "event-reorder", "function-env", "function-timeout",
	"issue-function", "verify-function", "keep-rejected", "lambda-concurrency", "lambda-error-rate", "lambda-retries",
	"max-event-age", "window"}

// remoteOnlyFlags need --target.
var remoteOnlyFlags = []string{"api-key", "bucket", "region", "s3-endpoint", "decision-log-prefix", "keep-objects", "yes"}

// validate checks the flags against each other and the plan; set holds
// the flags given.
func (f *remoteFlags) validate(p *plan.Plan, set map[string]bool) error {
	if f.target == "" {
		for _, name := range remoteOnlyFlags {
			if set[name] {
				return usagef("--%s needs --target", name)
			}
		}
		return nil
	}
	for _, name := range emulatorOnlyFlags {
		if set[name] {
			return usagef("--%s configures a stack uploadonce starts; a --target stack is configured where it is deployed", name)
		}
	}
	if len(p.Faults) > 0 {
		return usagef("--fault %s: faults need control of the stack's memcached, which a --target run does not have", p.Faults[0].Kind)
	}
	if f.bucket == "" {
		return usagef("--target needs --bucket, the stack's bucket")
	}
	if !strings.HasPrefix(f.target, "http://") && !strings.HasPrefix(f.target, "https://") {
		return usagef("--target %q: want the issue API's http(s) URL", f.target)
	}
	if o := f.options(p); !o.Loopback() && !f.yes {
		return usagef("--target %s is not on loopback: the run sends %d uploads to a real stack, which costs money; add --yes",
			f.target, p.Uploads())
	}
	p.Stack.Clock = plan.ClockReal
	return nil
}

// distinctBodies gives each upload of a URL its own bytes unless the plan
// says otherwise, for a ground truth of accepted versions: they show a
// stack's accepts only as bytes, and two accepts of the same bytes look
// like one.
func distinctBodies(p *plan.Plan) {
	for i := range p.Groups {
		for j := range p.Groups[i].Uploads {
			if u := &p.Groups[i].Uploads[j]; u.Content == "" {
				u.Content = plan.ContentUnique
			}
		}
	}
}

// options are the target's options for plan p.
func (f *remoteFlags) options(p *plan.Plan) target.RemoteOptions {
	return target.RemoteOptions{IssueURL: f.target, APIKey: f.apiKey, Bucket: f.bucket, Region: f.region,
		S3Endpoint: f.s3Endpoint, DecisionLogPrefix: f.decisionLog, KeepObjects: f.keepObjects,
		Strategy: p.Stack.Strategy, URLExpiry: p.Stack.URLExpiry, Settle: max(p.Timeout/4, 30*time.Second)}
}

// dialTarget reaches the stack, checks it and prints what the plan will
// cost on AWS; a bad target is bad input (exit 2), saying which check
// failed.
func dialTarget(ctx context.Context, f *remoteFlags, p *plan.Plan, stderr io.Writer, log zerolog.Logger) (*target.Remote, error) {
	o := f.options(p)
	o.Logger = log
	ctx, cancel := context.WithTimeout(ctx, target.PreflightTimeout)
	defer cancel()
	tgt, err := target.DialRemote(ctx, o)
	if err == nil {
		err = tgt.Preflight(ctx)
	}
	if err != nil {
		var pe *target.PreflightError
		if errors.As(err, &pe) {
			return nil, usagef("--target preflight: %s", pe)
		}
		return nil, usageError{err}
	}
	if tgt.Versioned() && o.DecisionLogPrefix == "" {
		distinctBodies(p)
	}
	fmt.Fprintf(stderr, "uploadonce: target %s, bucket %s; ground truth from %s\n", f.target, f.bucket, tgt.Source())
	fmt.Fprintf(stderr, "uploadonce: %s\n", planCost(*p))
	return tgt, nil
}

// planCost says what the plan will cost on AWS, from the cost model: one
// API call per URL, one S3 write per upload, and per URL one verifier
// invocation per upload with a copy and a delete.
func planCost(p plan.Plan) string {
	urls, uploads := int64(p.Tokens()), int64(p.Uploads())
	var s3 metrics.S3Requests
	if m, _ := p.Stack.UploadMethod(); m == "put" {
		s3.Put = uploads
	} else {
		s3.Post = uploads
	}
	s3.Copy, s3.Delete = urls, uploads-urls
	e, err := cost.Compute(cost.Usage{Uploads: uploads, Tokens: urls, APIRequests: urls, Invocations: uploads, S3: s3},
		cost.Default(), cost.Model{})
	if err != nil {
		return "no cost estimate: " + err.Error()
	}
	total := e.PerMillion.Total * float64(uploads) / 1e6
	return fmt.Sprintf("the plan (%d URLs, %d uploads) will cost about $%.4f on AWS without memcached nodes ($%.4f per 1M uploads)",
		urls, uploads, total, e.PerMillion.Total)
}

// runRemoteLoad runs the plan against the target and reports it.
func runRemoteLoad(ctx context.Context, f *loadtestFlags, rf *remoteFlags, stdout, stderr io.Writer, log zerolog.Logger) error {
	tgt, err := dialTarget(ctx, rf, &f.plan, stderr, log)
	if err != nil {
		return err
	}
	res, err := loadtest.RunTarget(ctx, f.plan, tgt, f.runOptions(stderr, log)...)
	if err != nil {
		return err
	}
	defer res.Close()
	return reportLoadtest(res, f, stdout, stderr, log)
}
