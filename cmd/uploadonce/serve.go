package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// serveFlags are serve's own flags beside the stack's.
type serveFlags struct {
	stack                  plan.Stack
	listen, apiKey, bucket string
	stage, region          string
	accessKey, secretKey   string
	sigv2                  s3auth.SigV2Mode
	versioned              bool
	cors                   corsValue
	logLevel, logFormat    string
	// limits and timeouts of a long-running emulator
	maxUploadSize, minBodyRate int64
	publicURL                  string
	idleTimeout, bodyTimeout   time.Duration
	keepDecisions, keepEvents  int
	gcPercent                  int
}

// defaultServeGCPercent is serve's GOGC. Its heap is mostly what it keeps
// (accepted objects, tokens, the inspection logs), and Go's default of 100
// lets the heap grow to twice that between collections: the resident set
// of a long run would follow twice the bytes stored. At 25 it follows 1.25
// times, for a few percent more CPU at 100 uploads/s.
const defaultServeGCPercent = 25

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.stack = plan.DefaultStack()
	f.stack.Clock = plan.ClockReal // outside clients live on the wall clock
	registerStack(fs, &f.stack, "upload-method")
	fs.Uint64Var(&f.stack.Delivery.Seed, "event-seed", plan.DefaultSeed, "seed of the delivery model's random choices")
	fs.StringVar(&f.listen, "listen", emulator.DefaultListen, "HOST:PORT to listen on (loopback by default)")
	fs.StringVar(&f.apiKey, "api-key", "", "x-api-key the issue API requires (random when empty)")
	fs.StringVar(&f.bucket, "bucket", emulator.DefaultBucket, "bucket that receives uploads")
	fs.StringVar(&f.stage, "stage", issueapi.DefaultStage, "API stage: the issue API is at /<stage>/getpresignedurl")
	fs.StringVar(&f.region, "region", fakes3.DefaultRegion, "AWS region of the fake S3")
	fs.StringVar(&f.accessKey, "aws-access-key-id", fakes3.DefaultAccessKeyID, "the only access key id the S3 API accepts")
	fs.StringVar(&f.secretKey, "aws-secret-access-key", fakes3.DefaultSecretAccessKey, "its secret")
	fs.Var(sigV2Value{&f.sigv2}, "sigv2", "accept or refuse Signature Version 2 presigned POSTs and URLs (boto3's default);\n"+
		"refuse behaves as a bucket created after June 2020")
	f.maxUploadSize, f.minBodyRate = emulator.DefaultMaxUploadSize, fakes3.DefaultMinBodyRate
	fs.Var(bytesValue{&f.maxUploadSize}, "max-upload-size", "content-length-range of every POST grant (S3's single PUT limit by default);\n"+
		"0 grants any size, as the reference does")
	fs.Var(publicURLValue{&f.publicURL}, "public-url", "base URL issued URLs name, e.g. http://192.0.2.7:4566 (default: the host each client called)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", emulator.DefaultIdleTimeout, "close connections idle this long between requests")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", fakes3.DefaultBodyTimeout, "400 RequestTimeout for an S3 request body that brings no byte for this long;\n"+
		"also the window --min-body-rate is averaged over (negative: off)")
	fs.Var(bytesValue{&f.minBodyRate}, "min-body-rate", "400 RequestTimeout for an S3 request body slower than this many bytes/s over a --body-timeout window")
	fs.IntVar(&f.keepDecisions, "keep-decisions", emulator.DefaultKeepDecisions, "decisions /_uploadonce/decisions keeps; older ones are dropped and counted")
	fs.IntVar(&f.keepEvents, "keep-events", emulator.DefaultKeepEvents, "event deliveries /_uploadonce/events keeps; older ones are dropped and counted")
	fs.IntVar(&f.gcPercent, "gc-percent", defaultServeGCPercent, "the Go collector's GOGC for serve: heap growth allowed between collections, in percent of\n"+
		"what is kept (Go's default is 100); GOGC in the environment wins")
	fs.BoolVar(&f.versioned, "versioned-bucket", false, "create the bucket with versioning enabled whatever the strategy\n"+
		"(a loadtest --target run then reads its ground truth from accepted/ versions)")
	fs.Var(&f.cors, "cors", "ORIGIN[,ORIGIN...] the buckets' starting CORS rule allows (* = any origin), or none for S3's\n"+
		"default of no CORS configuration; PutBucketCors replaces it per bucket")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "console or json (auto: console on a terminal)")
}

// options turns the flags into start options; errors are usage errors.
func (f *serveFlags) options(log zerolog.Logger) (emulator.StartOptions, error) {
	if err := checkListen(f.listen); err != nil {
		return emulator.StartOptions{}, err
	}
	if err := f.stack.Validate(); err != nil {
		return emulator.StartOptions{}, planError(err, "upload-method")
	}
	if f.stack.TokenTTL < f.stack.URLExpiry {
		log.Warn().Dur("token_ttl", f.stack.TokenTTL).Dur("url_expiry", f.stack.URLExpiry).
			Msg("token TTL is shorter than the URL expiry: uploads late in the URL's life will be rejected")
	}
	o := f.stack.StartOptions(f.stack.Clock.NewClock(), log)
	o.Listen, o.Bucket, o.Stage, o.Region = f.listen, f.bucket, f.stage, f.region
	o.AccessKeyID, o.SecretAccessKey, o.APIKey = f.accessKey, f.secretKey, f.apiKey
	o.SigV2 = f.sigv2
	o.MaxUploadSize, o.PublicURL = f.maxUploadSize, f.publicURL
	o.IdleTimeout, o.BodyTimeout, o.MinBodyRate = f.idleTimeout, f.bodyTimeout, f.minBodyRate
	o.KeepDecisions, o.KeepEvents = f.keepDecisions, f.keepEvents
	if f.gcPercent < 1 {
		return o, usagef("--gc-percent %d: want at least 1", f.gcPercent)
	}
	if f.keepDecisions < 1 || f.keepEvents < 1 {
		return o, usagef("--keep-decisions and --keep-events must be at least 1")
	}
	if f.idleTimeout <= 0 {
		return o, usagef("--idle-timeout %v: want a positive duration", f.idleTimeout)
	}
	if f.minBodyRate == 0 {
		o.MinBodyRate = -1 // 0 on the command line means no minimum rate
	}
	if f.bodyTimeout == 0 {
		o.BodyTimeout = -1 // and no body timeout
	}
	o.VersionedBucket = f.versioned
	o.CORSOrigins, o.NoCORS = f.cors.origins, f.cors.none
	if o.APIKey == "" {
		key, err := issueapi.NewAPIKey()
		if err != nil {
			return o, err
		}
		o.APIKey = key
	}
	return o, nil
}

// checkListen refuses a --listen that is not HOST:PORT with a port in
// 0..65535, before anything starts or warns.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--listen %q: want HOST:PORT", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("--listen %q: port %q: want 0..65535", addr, port)
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	rest, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(rest) > 0 {
		return usagef("serve takes no arguments, got %q", rest)
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	opts, err := f.options(log)
	if err != nil {
		return err
	}
	if !isLoopback(f.listen) {
		log.Warn().Str("listen", f.listen).Msg("listening beyond loopback: anyone who can reach this address can use the emulator")
	}

	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(f.gcPercent))
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	r, err := emulator.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	_, note := f.stack.UploadMethod()
	printBanner(stdout, r, note)
	if opts.VerifyFunction != "" || opts.IssueFunction != "" {
		fmt.Fprintf(stdout, "  functions      verify=%q issue=%q (timeout %v, Lambda Runtime API on loopback)\n",
			opts.VerifyFunction, opts.IssueFunction, opts.FunctionTimeout)
	}
	log.Info().Str("url", r.URL).Str("strategy", opts.Strategy).Msg("serving")

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-r.Done():
		if err != nil {
			log.Error().Err(err).Msg("listener failed")
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.Close(shutdownCtx)
}

func printBanner(w io.Writer, r *emulator.Running, methodNote string) {
	cfg := r.Config()
	mc := "none (the strategy keeps no tokens)"
	if r.Memcached != nil {
		mc = r.Memcached.Describe() + memcachedPlacement(cfg.Memcache)
	}
	clockKind := "real"
	if strings.Contains(fmt.Sprintf("%T", cfg.Clock), "Virtual") {
		clockKind = "virtual (POST " + r.URL + emulator.InspectPrefix + "clock?advance=40s)"
	}
	fmt.Fprintf(w, `uploadonce %s
  API URL        %s%s
  API key        %s
  S3 endpoint    %s  (path-style)
  signatures     SigV4; SigV2 %s
  CORS           %s
  bucket         %s  (region %s)
  credentials    AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s
  memcached      %s
  strategy       %s  (upload method %s, URL expiry %v, token TTL %v)%s
  uploads        %s
  clock          %s
  inspect        %s%shealth | decisions | events, %s/metrics
  page           %s%s  (upload from a browser, watch the verdicts)
`, version, r.URL, issueapi.Path(cfg.Stage), cfg.APIKey, r.URL, sigV2Banner(cfg.SigV2), corsBanner(cfg), cfg.Bucket, cfg.Region,
		cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Region, mc, cfg.Strategy, cfg.Method, cfg.URLExpiry, cfg.TokenTTL, noteSuffix(methodNote),
		uploadsBanner(cfg), clockKind, r.URL, emulator.InspectPrefix, r.URL, r.URL, emulator.InspectPrefix)
}

// uploadsBanner says what the grants allow and which host they name.
func uploadsBanner(cfg emulator.Config) string {
	size := "POST grants of any size (--max-upload-size 0, as the reference)"
	if cfg.MaxUploadSize > 0 {
		size = "POST grants up to " + formatBytes(cfg.MaxUploadSize) + " (content-length-range)"
	}
	host := "URLs name the host each client called"
	if cfg.PublicURL != "" {
		host = "URLs name " + cfg.PublicURL
	}
	return size + "; " + host
}

// memcachedPlacement says how the clients find the nodes and place keys.
func memcachedPlacement(m emulator.MemcachedInfo) string {
	s := "\n                 key placement " + m.Hashing
	if m.VerifierHashing != "" {
		s += " (issuer), " + m.VerifierHashing + " (verifier)"
	}
	if m.ConfigEndpoint != "" {
		s += "; nodes discovered through config get cluster at " + m.ConfigEndpoint
	}
	return s
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return "\n                 " + note
}

// sigV2Banner says what the S3 endpoint does with SigV2 requests.
func sigV2Banner(m s3auth.SigV2Mode) string {
	if m == s3auth.SigV2Refuse {
		return "refused (--sigv2 refuse)"
	}
	return "accepted (--sigv2 accept)"
}

// corsValue is --cors: origins (nil: any) or none.
type corsValue struct {
	origins []string
	none    bool
}

func (c *corsValue) String() string {
	switch {
	case c == nil || !c.none && c.origins == nil:
		return "*"
	case c.none:
		return "none"
	}
	return strings.Join(c.origins, ",")
}

func (c *corsValue) Set(s string) error {
	*c = corsValue{}
	switch s = strings.TrimSpace(s); s {
	case "*":
		return nil
	case "none":
		c.none = true
		return nil
	}
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "*" {
			*c = corsValue{}
			return nil
		}
		scheme, host, ok := strings.Cut(o, "://")
		if !ok || scheme == "" || host == "" || strings.Count(o, "*") > 1 || strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("origin %q: want SCHEME://HOST[:PORT] with at most one *, e.g. http://localhost:3000", o)
		}
		c.origins = append(c.origins, o)
	}
	return nil
}

// corsBanner says which origins the buckets allow.
func corsBanner(cfg emulator.Config) string {
	switch {
	case cfg.NoCORS:
		return "no configuration: preflights refused until PutBucketCors (--cors none)"
	case len(cfg.CORSOrigins) == 0:
		return "any origin may upload from a browser (--cors '*'; PutBucketCors replaces it)"
	}
	return "origins " + strings.Join(cfg.CORSOrigins, ", ") + " (--cors; PutBucketCors replaces it)"
}
