package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Variables Lambda itself sets, read for the S3 client.
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
const (
	envRegion        = "AWS_REGION"
	envDefaultRegion = "AWS_DEFAULT_REGION"
	envAccessKeyID   = "AWS_ACCESS_KEY_ID"
	envSecretKey     = "AWS_SECRET_ACCESS_KEY"
	envSessionToken  = "AWS_SESSION_TOKEN"
	// The SDKs' service-specific endpoint variables; the emulator sets them.
	envEndpointS3 = "AWS_ENDPOINT_URL_S3"
	envEndpoint   = "AWS_ENDPOINT_URL"
)

// function holds what init builds once and every invocation reuses.
type function struct {
	cfg      config
	s3       *s3.Client
	issuer   *onetime.Issuer
	verifier onetime.Verifier
	log      zerolog.Logger
}

// newFunction reads the configuration and builds the handlers' clients.
func newFunction(ctx context.Context, getenv func(string) string, logOut io.Writer) (*function, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	client, err := newS3Client(getenv)
	if err != nil {
		return nil, err
	}
	objects := onetime.S3Objects{Client: client}
	var strategy onetime.Strategy
	if onetime.UsesMemcached(cfg.Strategy) {
		// One invocation at a time per process: a pool of 2 is plenty.
		var mc *cluster.Client
		mc, err = cluster.Open(ctx, cfg.MemcachedAddrs, cluster.WithHashing(cfg.MemcachedHashing),
			cluster.WithDiscovery(cfg.MemcachedDiscovery), cluster.WithPoolSize(2), cluster.WithLogger(zerolog.New(logOut)))
		if err != nil {
			return nil, &ConfigError{Var: EnvMemcachedEndpoint, Value: getenv(EnvMemcachedEndpoint), Problem: err.Error()}
		}
		strategy, err = onetime.NewMemcachedStrategy(cfg.Strategy, mc, systemClock{})
	} else {
		strategy, err = onetime.NewS3Strategy(cfg.Strategy, objects)
	}
	if err != nil {
		return nil, &ConfigError{Var: EnvStrategy, Value: cfg.Strategy, Problem: err.Error()}
	}
	fn := &function{cfg: cfg, s3: client, log: zerolog.New(logOut)}
	fn.issuer = &onetime.Issuer{Strategy: strategy, Presigner: onetime.NewSDKPresigner(client, systemClock{}),
		Clock: systemClock{}, Bucket: cfg.Bucket, Prefix: cfg.Prefix, URLExpiry: cfg.URLExpiry, TokenTTL: cfg.TokenTTL,
		Method: cfg.Method, IfNoneMatch: cfg.Strategy == onetime.IfNoneMatch}
	fn.verifier = onetime.Verifier{Strategy: strategy, Objects: objects, Clock: systemClock{},
		Prefix: cfg.Prefix, AcceptedPrefix: cfg.AcceptedPrefix}
	return fn, nil
}

// newS3Client builds the S3 client from the variables Lambda sets. A custom
// endpoint (the emulator's) is addressed path-style.
func newS3Client(getenv func(string) string) (*s3.Client, error) {
	region := orDefault(getenv(envRegion), getenv(envDefaultRegion))
	if region == "" {
		return nil, &ConfigError{Var: envRegion, Problem: "required (Lambda sets it)"}
	}
	o := s3.Options{Region: region}
	if id := getenv(envAccessKeyID); id != "" {
		o.Credentials = credentials.NewStaticCredentialsProvider(id, getenv(envSecretKey), getenv(envSessionToken))
	} else {
		return nil, &ConfigError{Var: envAccessKeyID, Problem: "required (Lambda sets it from the execution role)"}
	}
	if ep := orDefault(getenv(envEndpointS3), getenv(envEndpoint)); ep != "" {
		if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
			name := envEndpointS3
			if getenv(envEndpointS3) == "" {
				name = envEndpoint
			}
			return nil, &ConfigError{Var: name, Value: ep, Problem: "want an http:// or https:// URL"}
		}
		o.BaseEndpoint = aws.String(ep)
		o.UsePathStyle = true
	}
	return s3.New(o), nil
}

// handler returns the handler _HANDLER names, for lambda.Start.
func (fn *function) handler() any {
	if fn.cfg.Handler == HandlerIssue {
		return fn.issue
	}
	return fn.verify
}

// issue answers GET /getpresignedurl. API Gateway has checked the API key.
// An error becomes API Gateway's 502 {"message": "Internal server error"}.
func (fn *function) issue(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	g, err := fn.issuer.Issue(ctx)
	if err != nil {
		fn.log.Error().Err(err).Str("request_id", requestID(ctx)).Msg("issue failed")
		return events.APIGatewayProxyResponse{}, err
	}
	return events.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(issueapi.MarshalBody(issueapi.ResponseBody(g))),
	}, nil
}

// verify handles an S3 notification: one decision per ObjectCreated record
// under the prefix. It fails (so that Lambda retries) when a record could
// not be decided, or a decision could not be written to the decision log.
func (fn *function) verify(ctx context.Context, ev events.S3Event) error {
	reqID := requestID(ctx)
	var mu sync.Mutex
	var logErrs []error
	v := fn.verifier
	v.Record = func(d onetime.Decision) {
		fn.log.Info().Str("request_id", reqID).EmbedObject(decisionFields(d)).Msg("decision")
		if err := fn.writeDecision(ctx, d); err != nil {
			mu.Lock()
			logErrs = append(logErrs, err)
			mu.Unlock()
		}
	}
	err := v.Handle(ctx, ev)
	return errors.Join(append([]error{err}, logErrs...)...)
}

// writeDecision stores d as a small JSON object under DECISION_LOG_PREFIX,
// at <prefix><name>/<time>-<random>.json, so that one URL's decisions list
// together and in time order.
func (fn *function) writeDecision(ctx context.Context, d onetime.Decision) error {
	if fn.cfg.DecisionLogPrefix == "" {
		return nil
	}
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	key := fn.cfg.DecisionLogPrefix + strings.TrimPrefix(d.Key, fn.cfg.Prefix) + "/" +
		d.Time.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:]) + ".json"
	_, err = fn.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(d.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("decision log: put %s: %w", key, err)
	}
	return nil
}

// decisionFields logs a decision with the fields of /_uploadonce/decisions.
// Lines carry no zerolog timestamp: "time" is the decision's own, and Lambda
// stamps every log line anyway.
type decisionFields onetime.Decision

func (d decisionFields) MarshalZerologObject(e *zerolog.Event) {
	e.Str("key", d.Key).Str("bucket", d.Bucket).Str("decision", d.Decision).Str("reason", string(d.Reason)).
		Str("eTag", d.ETag).Str("versionId", d.VersionID).Str("sequencer", d.Sequencer).Int64("size", d.Size).
		Str("eventName", d.EventName).Str("eventTime", d.EventTime.UTC().Format(time.RFC3339Nano)).
		Str("time", d.Time.UTC().Format(time.RFC3339Nano)).Str("strategy", d.Strategy)
	if d.Detail != "" {
		e.Str("detail", d.Detail)
	}
	if d.Redelivery {
		e.Bool("redelivery", true)
	}
	if d.Retryable {
		e.Bool("retryable", true)
	}
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// systemClock is the function's clock: the host's.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
