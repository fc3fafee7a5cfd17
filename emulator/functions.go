package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Reasons of the decisions observed from a function's S3 calls. A function
// the emulator did not write says nothing about why; what it did to S3 is
// the whole record.
const (
	ReasonCopied        onetime.Reason = "copied-to-accepted"
	ReasonNotCopied     onetime.Reason = "not-copied"
	ReasonFunctionError onetime.Reason = "function-error"
)

// functions runs the configured function processes and turns their S3
// calls into decisions (DESIGN §4, "Decisions of any function").
type functions struct {
	e      *Emulator
	verify *runtimeapi.Pool
	issue  *runtimeapi.Pool

	mu       sync.Mutex
	inflight map[string][]*attempt // upload key -> invocations running for it
}

// attempt is one record under one invocation of the verify function.
type attempt struct {
	rec      events.S3EventRecord
	key      string
	accepted bool
}

// startFunctions builds the pools for cfg's functions; nil when none.
func (e *Emulator) startFunctions() (*functions, error) {
	cfg := e.cfg
	if cfg.VerifyFunction == "" && cfg.IssueFunction == "" {
		return nil, nil
	}
	f := &functions{e: e, inflight: map[string][]*attempt{}}
	pool := func(line, handler string) (*runtimeapi.Pool, error) {
		if line == "" {
			return nil, nil
		}
		argv, err := runtimeapi.Split(line)
		if err != nil {
			return nil, fmt.Errorf("%s function %q: %w", handler, line, err)
		}
		// A command that cannot start would fail every event; say so now.
		if _, err := exec.LookPath(argv[0]); err != nil {
			return nil, fmt.Errorf("%s function %q: %w", handler, line, err)
		}
		return runtimeapi.New(runtimeapi.Config{Command: argv, Handler: handler, Region: cfg.Region,
			Timeout: cfg.FunctionTimeout, Concurrency: cfg.Lambda.Concurrency, Env: e.functionEnv(handler),
			Logger: cfg.Logger.With().Str("component", "function").Str("handler", handler).Logger()})
	}
	var err error
	if f.verify, err = pool(cfg.VerifyFunction, "verify"); err != nil {
		return nil, err
	}
	if f.issue, err = pool(cfg.IssueFunction, "issue"); err != nil {
		return nil, err
	}
	return f, nil
}

// functionEnv is the configuration handler's function gets: the emulator's
// credentials and endpoint, and cmd/lambda's variables, then FunctionEnv.
func (e *Emulator) functionEnv(handler string) []string {
	cfg := e.cfg
	env := []string{
		"AWS_ACCESS_KEY_ID=" + cfg.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + cfg.SecretAccessKey,
		"AWS_ENDPOINT_URL_S3=" + cfg.Endpoint, "AWS_ENDPOINT_URL=" + cfg.Endpoint,
		"BUCKET_NAME=" + cfg.Bucket, "BUCKET_PREFIX=" + onetime.DefaultPrefix, "ACCEPTED_PREFIX=" + onetime.AcceptedPrefix,
		"STRATEGY=" + cfg.Strategy, "UPLOAD_METHOD=" + string(cfg.Method),
	}
	env = append(env, memcachedEnv(cfg.Memcache, handler)...)
	if s := wholeSeconds(cfg.URLExpiry); s > 0 {
		env = append(env, "TIMEOUT_IN_SECONDS="+strconv.FormatInt(s, 10))
	}
	if s := wholeSeconds(cfg.TokenTTL); s > 0 {
		env = append(env, "TOKEN_TTL_SECONDS="+strconv.FormatInt(s, 10))
	}
	return append(env, cfg.FunctionEnv...)
}

// memcachedEnv tells a function where memcached is and how to place keys,
// as deploy/template.yaml does: a cluster with a configuration endpoint
// (embedded) is given by that endpoint, to discover; the verify function
// gets the verifier's placement when it differs.
func memcachedEnv(m MemcachedInfo, handler string) []string {
	var env []string
	switch {
	case m.ConfigEndpoint != "":
		env = append(env, "MEMCACHED_ENDPOINT="+m.ConfigEndpoint, "MEMCACHED_DISCOVERY=elasticache")
	case len(m.Addrs) > 0:
		env = append(env, "MEMCACHED_ENDPOINT="+strings.Join(m.Addrs, ","))
	}
	hashing := m.Hashing
	if handler == "verify" && m.VerifierHashing != "" {
		hashing = m.VerifierHashing
	}
	if hashing != "" {
		env = append(env, "MEMCACHED_HASHING="+hashing)
	}
	return env
}

func wholeSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// issueHandler is the issue endpoint with the issue function behind it.
func (f *functions) issueHandler() *issueapi.Proxy {
	e := f.e
	p := issueapi.NewProxy(f.issue.Invoke, e.cfg.Stage, e.cfg.APIKey, e.cfg.Logger.With().Str("component", "api").Logger())
	p.OnIssue = func(status int, took time.Duration, err error) { e.recordIssue(took, err == nil && status == 200) }
	return p
}

// verifyHandler invokes the verify function for the invoker. Each record
// that no copy accepted during the invocation is rejected when it ends:
// a success that copied nothing is the function's "no", and a failure is
// a fail-closed rejection that the invoker retries, as the in-process
// verifier's infrastructure errors are.
func (f *functions) verifyHandler() lambda.Handler {
	return func(ctx context.Context, ev events.S3Event) error {
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		atts := f.begin(ev.Records)
		_, err = f.verify.Invoke(ctx, payload)
		f.end(atts, err)
		return err
	}
}

func (f *functions) begin(recs []events.S3EventRecord) []*attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*attempt, 0, len(recs))
	for _, rec := range recs {
		key := rec.S3.Object.URLDecodedKey
		if key == "" {
			key, _ = s3event.DecodeKey(rec.S3.Object.Key)
		}
		a := &attempt{rec: rec, key: key}
		f.inflight[key] = append(f.inflight[key], a)
		out = append(out, a)
	}
	return out
}

func (f *functions) end(atts []*attempt, err error) {
	f.mu.Lock()
	var rejected []*attempt
	for _, a := range atts {
		list := f.inflight[a.key]
		for i, b := range list {
			if b == a {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(f.inflight, a.key)
		} else {
			f.inflight[a.key] = list
		}
		if !a.accepted {
			rejected = append(rejected, a)
		}
	}
	f.mu.Unlock()
	for _, a := range rejected {
		d := f.decision(a.rec, a.key)
		d.Decision, d.Reason = onetime.Rejected, ReasonNotCopied
		if err != nil {
			d.Reason, d.Detail, d.Retryable = ReasonFunctionError, err.Error(), true
		}
		f.e.onDecisionRecorded(d)
	}
}

// copied sees a copy into accepted/: it accepts the copied bytes for the
// upload key it names. It is credited to a running invocation for that key,
// preferring one whose event announced the copied ETag. With several such
// invocations (duplicates of one upload, or equal bytes uploaded twice) the
// earliest is credited; the count of accepts stays exact.
func (f *functions) copied(w s3event.Write) {
	key := onetime.DefaultPrefix + strings.TrimPrefix(w.Key, onetime.AcceptedPrefix)
	etag := strings.Trim(w.ETag, `"`)
	f.mu.Lock()
	var match *attempt
	for _, a := range f.inflight[key] {
		if a.accepted {
			continue
		}
		if strings.Trim(a.rec.S3.Object.ETag, `"`) == etag {
			match = a
			break
		}
		if match == nil {
			match = a
		}
	}
	if match != nil {
		match.accepted = true
	}
	f.mu.Unlock()
	var d onetime.Decision
	if match != nil {
		d = f.decision(match.rec, key)
	} else {
		d = onetime.Decision{Key: key, Bucket: w.Bucket, Strategy: f.e.cfg.Strategy}
	}
	d.Decision, d.Reason, d.ETag, d.Size = onetime.Accepted, ReasonCopied, etag, w.Size
	if match == nil {
		d.Detail = "copied outside any verify invocation"
	}
	f.e.onDecisionRecorded(d)
}

func (f *functions) decision(rec events.S3EventRecord, key string) onetime.Decision {
	o := rec.S3.Object
	return onetime.Decision{Key: key, Bucket: rec.S3.Bucket.Name, ETag: strings.Trim(o.ETag, `"`), VersionID: o.VersionID,
		Sequencer: o.Sequencer, Size: o.Size, EventName: rec.EventName, EventTime: rec.EventTime,
		Time: f.e.clock.Now(), Strategy: f.e.cfg.Strategy}
}

// close kills the function processes.
func (f *functions) close() {
	if f == nil {
		return
	}
	for _, p := range []*runtimeapi.Pool{f.verify, f.issue} {
		if p != nil {
			p.Close()
		}
	}
}

// FunctionStats reports what the function pools did; zero without them.
func (e *Emulator) FunctionStats() (verify, issue runtimeapi.Stats) {
	if e.fns == nil {
		return
	}
	if e.fns.verify != nil {
		verify = e.fns.verify.Stats()
	}
	if e.fns.issue != nil {
		issue = e.fns.issue.Stats()
	}
	return
}
