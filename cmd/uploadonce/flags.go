package main

import (
	"flag"
	"math"
	"net"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// stackFlags are the flags that describe an emulated stack; serve registers
// all of them, loadtest the ones a load run needs.
type stackFlags struct {
	listen, apiKey, bucket, stage, region string
	accessKey, secretKey                  string
	urlExpiry, tokenTTL                   time.Duration
	method, strategy, memcached, clock    string
	keepRejected                          bool

	eventDuplicates, eventDelay string
	eventReorder, maxEventAge   time.Duration
	eventCoalesce               bool
	eventSeed                   uint64
	lambdaConcurrency           int
	lambdaRetries               int

	logLevel, logFormat string
	sigv2               string
}

func (f *stackFlags) register(fs *flag.FlagSet, defaultListen string) {
	fs.StringVar(&f.listen, "listen", defaultListen, "HOST:PORT to listen on (loopback by default)")
	fs.StringVar(&f.apiKey, "api-key", "", "x-api-key the issue API requires (random when empty)")
	fs.StringVar(&f.bucket, "bucket", emulator.DefaultBucket, "bucket that receives uploads")
	fs.StringVar(&f.stage, "stage", issueapi.DefaultStage, "API stage: the issue API is at /<stage>/getpresignedurl")
	fs.StringVar(&f.region, "region", fakes3.DefaultRegion, "AWS region of the fake S3")
	fs.StringVar(&f.accessKey, "aws-access-key-id", fakes3.DefaultAccessKeyID, "the only access key id the S3 API accepts")
	fs.StringVar(&f.secretKey, "aws-secret-access-key", fakes3.DefaultSecretAccessKey, "its secret")
	fs.DurationVar(&f.urlExpiry, "url-expiry", onetime.DefaultURLExpiry, "how long an issued URL is valid")
	fs.DurationVar(&f.tokenTTL, "token-ttl", onetime.DefaultTokenTTL, "how long a token lives (covers URL expiry plus late events and retries)")
	fs.StringVar(&f.method, "upload-method", string(onetime.MethodPOST), "post (presigned POST form) or put (presigned PUT URL)")
	fs.StringVar(&f.strategy, "strategy", emulator.DefaultStrategy, "one-time guard: "+strings.Join(onetime.StrategyNames(), ", "))
	fs.StringVar(&f.memcached, "memcached", "auto", "auto|embedded|process|container[:N]|HOST:PORT[,HOST:PORT...]")
	fs.StringVar(&f.clock, "clock", "real", "real or virtual (virtual moves only by POST /_uploadonce/clock?advance=D)")
	fs.BoolVar(&f.keepRejected, "keep-rejected", false, "leave rejected uploads in place, as the reference does (default: delete them)")
	fs.StringVar(&f.eventDuplicates, "event-duplicates", "0", "chance P (0..1) of one extra delivery of each S3 event; 1 delivers every event twice")
	fs.StringVar(&f.eventDelay, "event-delay", "0", "S3 event delay: 250ms, MIN..MAX, exp:MEAN or aws")
	fs.DurationVar(&f.eventReorder, "event-reorder", 0, "reorder window: events within it may swap places")
	fs.BoolVar(&f.eventCoalesce, "event-coalesce", false, "merge concurrent writes to one unversioned key into one event")
	fs.DurationVar(&f.maxEventAge, "max-event-age", lambda.DefaultMaxEventAge, "drop events older than this (60s..6h)")
	fs.Uint64Var(&f.eventSeed, "event-seed", 1, "seed of the delivery model's random choices")
	fs.IntVar(&f.lambdaConcurrency, "lambda-concurrency", lambda.DefaultConcurrency, "verifier invocations at once")
	fs.IntVar(&f.lambdaRetries, "lambda-retries", lambda.DefaultMaxRetries, "retries of a failed invocation (0..2; 1 min, then 2 min apart)")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "console or json (auto: console on a terminal)")
	fs.StringVar(&f.sigv2, "sigv2", "accept", "accept or refuse Signature Version 2 presigned URLs and POSTs (boto3's default); refuse acts as a SigV4-only bucket")
}

// options turns the flags into typed start options; errors are usage errors.
func (f *stackFlags) options(log zerolog.Logger) (emulator.StartOptions, error) {
	var o emulator.StartOptions
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return o, usagef("--listen %q: want HOST:PORT", f.listen)
	}
	if _, ok := onetime.LookupStrategy(f.strategy); !ok {
		return o, usagef("--strategy %q: want one of %s", f.strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	method, err := onetime.ParseMethod(f.method)
	if err != nil {
		return o, usageError{err}
	}
	if f.strategy == onetime.IfNoneMatch && method != onetime.MethodPUT {
		if f.method != string(onetime.MethodPOST) {
			return o, usagef("--strategy if-none-match needs --upload-method put")
		}
		method = onetime.MethodPUT // POST is only the default; this strategy needs PUT
	}
	clk, ok := clock.Parse(f.clock)
	if !ok {
		return o, usagef("--clock %q: want real or virtual", f.clock)
	}
	if f.urlExpiry <= 0 || f.urlExpiry > 7*24*time.Hour {
		return o, usagef("--url-expiry %v: want between 1s and 168h (S3's presign limit)", f.urlExpiry)
	}
	if f.tokenTTL <= 0 {
		return o, usagef("--token-ttl %v: want a positive duration", f.tokenTTL)
	}
	if f.tokenTTL < f.urlExpiry {
		log.Warn().Dur("token_ttl", f.tokenTTL).Dur("url_expiry", f.urlExpiry).
			Msg("token TTL is shorter than the URL expiry: uploads late in the URL's life will be rejected")
	}
	dup, err := s3event.ParseProbability(f.eventDuplicates)
	if err != nil {
		return o, usagef("--event-duplicates: %v", err)
	}
	delay, err := s3event.ParseDelay(f.eventDelay)
	if err != nil {
		return o, usagef("--event-delay: %v", err)
	}
	if f.lambdaRetries < 0 || f.lambdaRetries > 2 {
		return o, usagef("--lambda-retries %d: Lambda allows 0 to 2", f.lambdaRetries)
	}
	if f.lambdaConcurrency < 1 || f.lambdaConcurrency > 10000 {
		return o, usagef("--lambda-concurrency %d: want 1..10000", f.lambdaConcurrency)
	}
	if f.maxEventAge < lambda.MinMaxEventAge || f.maxEventAge > lambda.MaxMaxEventAge {
		return o, usagef("--max-event-age %v: Lambda allows 60s to 6h", f.maxEventAge)
	}
	if f.eventReorder < 0 || math.IsNaN(dup) {
		return o, usagef("--event-reorder must not be negative")
	}
	sigv2, err := s3auth.ParseSigV2Mode(f.sigv2)
	if err != nil {
		return o, usagef("--sigv2 %q: want accept or refuse", f.sigv2)
	}
	apiKey := f.apiKey
	if apiKey == "" {
		if apiKey, err = issueapi.NewAPIKey(); err != nil {
			return o, err
		}
	}
	var model s3event.Model
	model.Duplicates, model.ReorderWindow, model.Coalesce, model.MaxEventAge, model.Seed = dup, f.eventReorder, f.eventCoalesce, 0, f.eventSeed
	if f.eventDelay != "0" && f.eventDelay != "" {
		model.Delay = delay
	}
	o = emulator.StartOptions{
		Listen:    f.listen,
		Memcached: f.memcached,
		Config: emulator.Config{
			Bucket: f.bucket, Stage: f.stage, APIKey: apiKey, Region: f.region,
			AccessKeyID: f.accessKey, SecretAccessKey: f.secretKey, SigV2: sigv2,
			Strategy: f.strategy, Method: method, URLExpiry: f.urlExpiry, TokenTTL: f.tokenTTL,
			KeepRejected: f.keepRejected, Clock: clk, Delivery: model, Logger: log,
			Lambda: lambda.Config{Concurrency: f.lambdaConcurrency, MaxRetries: f.lambdaRetries,
				NoRetries: f.lambdaRetries == 0, MaxEventAge: f.maxEventAge},
		},
	}
	return o, nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
