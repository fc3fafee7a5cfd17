package plan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Stack is the emulated system under test, as typed values. serve runs one,
// loadtest, run and compare put one in every plan. Flags and scenario files
// parse into it at the edge; Validate holds every rule about it, so that a
// rule gives the same answer whichever command or file set the value.
//
// The zero value of a field means its default (DefaultStack gives them all),
// except Method, whose zero value means "the strategy's method": POST, or PUT
// for if-none-match (see UploadMethod).
type Stack struct {
	Strategy string // an onetime strategy name
	// Memcached is where tokens live; the zero Spec means auto.
	Memcached memcached.Spec
	// MemcachedMemoryMB is memcached's -m for the providers uploadonce
	// starts (the embedded server's byte limit); 0 keeps the default
	// (64 MB). A small value makes memory pressure evict live tokens.
	MemcachedMemoryMB int
	Clock             ClockKind
	// Method is the upload method the issue API grants; "" is the
	// strategy's own (UploadMethod).
	Method    onetime.Method
	URLExpiry time.Duration
	TokenTTL  time.Duration
	// KeepRejected leaves rejected uploads in place, as the reference does.
	KeepRejected bool

	// Delivery is the S3 event delivery model; its Seed is the plan's.
	Delivery s3event.Model
	// LambdaConcurrency bounds verifier invocations at once.
	LambdaConcurrency int
	// LambdaRetries is MaximumRetryAttempts, 0..2; never implicit.
	LambdaRetries int
	// MaxEventAge is MaximumEventAgeInSeconds, 60s..6h.
	MaxEventAge time.Duration
	// LambdaErrorRate makes that fraction of verifier invocations fail
	// before running (a function error), to exercise retries. 0..1.
	LambdaErrorRate float64

	// Functions, when set, replace the in-process verifier and issuer
	// with function processes run over the Lambda Runtime API.
	Functions Functions

	// MemcachedHashing is the key placement of the memcached clients:
	// modulo (gomemcache), ketama (the AWS ElastiCache Cluster Client),
	// ketama-md5 or rendezvous (pymemcache); "" is modulo. Of a memcached
	// with a configuration endpoint (embedded) the clients discover the
	// nodes, as ElastiCache clients do.
	MemcachedHashing cluster.Hashing
	// VerifierMemcachedHashing, when set and different, is the verifier's
	// placement, MemcachedHashing then being the issuer's: an issuer and a
	// verifier that look for a token on different nodes.
	VerifierMemcachedHashing cluster.Hashing
}

// Functions are the --verify-function, --issue-function, --function-env
// and --function-timeout settings (DESIGN §4, "Functions"), on every
// command and as `functions:` in scenario files.
type Functions struct {
	Verify, Issue string        // command lines, split like a shell's
	Env           []string      // K=V each, added to the functions' environment
	Timeout       time.Duration // runtimeapi.DefaultTimeout in DefaultStack
}

// MaxFunctionTimeout is Lambda's limit on a function's timeout.
const MaxFunctionTimeout = 15 * time.Minute

// ClockKind names the run's clock.
type ClockKind string

// Clocks.
const (
	// ClockVirtual stands still until the run (or POST
	// /_uploadonce/clock) moves it: a 40 s wait costs nothing.
	ClockVirtual ClockKind = "virtual"
	// ClockReal is the wall clock: offsets are waited out.
	ClockReal ClockKind = "real"
)

// ParseClock reads "virtual" or "real".
func ParseClock(s string) (ClockKind, error) {
	switch k := ClockKind(s); k {
	case ClockVirtual, ClockReal:
		return k, nil
	}
	return "", fmt.Errorf("clock %q: want virtual or real", s)
}

// Defaults shared by every command and scenario file.
const (
	DefaultStrategy    = onetime.CAS
	DefaultConcurrency = 32
	DefaultTimeout     = 10 * time.Minute
	DefaultSeed        = 1
	DefaultBodySize    = 16
)

// DefaultStack returns the stack every command starts from: cas, memcached
// auto, the virtual clock and Lambda's own limits.
func DefaultStack() Stack {
	return Stack{
		Strategy:          DefaultStrategy,
		Memcached:         memcached.Spec{Kind: memcached.KindAuto},
		Clock:             ClockVirtual,
		URLExpiry:         onetime.DefaultURLExpiry,
		TokenTTL:          onetime.DefaultTokenTTL,
		Delivery:          s3event.Model{Seed: DefaultSeed},
		LambdaConcurrency: lambda.DefaultConcurrency,
		LambdaRetries:     lambda.DefaultMaxRetries,
		MaxEventAge:       lambda.DefaultMaxEventAge,
		Functions:         Functions{Timeout: runtimeapi.DefaultTimeout},
	}
}

// UploadMethod returns the method the issue API grants: Method when set,
// else PUT for if-none-match (a POST policy cannot sign If-None-Match) and
// POST for the others. note says why when the strategy chose it.
func (s Stack) UploadMethod() (m onetime.Method, note string) {
	m, _ = onetime.UploadMethod(s.Strategy, s.Method)
	if s.Method == "" && m == onetime.MethodPUT {
		note = "upload method put: " + s.Strategy + " signs If-None-Match on a presigned PUT"
	}
	return m, note
}

// LambdaConfig returns the invoker's configuration.
func (s Stack) LambdaConfig() lambda.Config {
	return lambda.Config{Concurrency: s.LambdaConcurrency, MaxRetries: s.LambdaRetries,
		NoRetries: s.LambdaRetries == 0, MaxEventAge: s.MaxEventAge}
}

// FieldError is one bad value of a Stack or Plan. Field is the scenario
// file's name for it (method, events.delay, lambda.retries, ...); scenario
// files turn it into file:line, the CLI into its flag.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrIfNoneMatchPOST: the if-none-match strategy with an explicit POST.
// Every command, scenario file and cmd/lambda reports it with this text.
var ErrIfNoneMatchPOST = onetime.ErrIfNoneMatchPOST

// fieldErrs collects FieldErrors.
type fieldErrs []error

func (fe *fieldErrs) add(field, format string, args ...any) {
	*fe = append(*fe, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
}

// Validate returns every bad value of the stack, each a *FieldError
// (errors.Join), section by section.
func (s Stack) Validate() error {
	var fe fieldErrs
	s.validateGuard(&fe)
	s.validateMemcached(&fe)
	s.validatePlacement(&fe)
	s.validateDelivery(&fe)
	s.validateLambda(&fe)
	s.validateFunctions(&fe)
	return errors.Join(fe...)
}

func (s Stack) validateFunctions(fe *fieldErrs) {
	f := s.Functions
	for field, line := range map[string]string{"functions.verify": f.Verify, "functions.issue": f.Issue} {
		if line == "" {
			continue
		}
		if _, err := runtimeapi.Split(line); err != nil {
			fe.add(field, "%q: %v", line, err)
		}
	}
	for _, kv := range f.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " \t") {
			fe.add("functions.env", "%q: want K=V", kv)
		}
	}
	if f.Timeout <= 0 || f.Timeout > MaxFunctionTimeout {
		fe.add("functions.timeout", "%v: want a positive duration up to 15m, Lambda's limit", f.Timeout)
	}
}

// validateGuard checks the strategy, the method and the token's times.
func (s Stack) validateGuard(fe *fieldErrs) {
	if _, ok := onetime.LookupStrategy(s.Strategy); !ok {
		fe.add("strategy", "unknown strategy %q: want one of %s", s.Strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	switch s.Method {
	case "", onetime.MethodPUT, onetime.MethodPOST:
		if _, err := onetime.UploadMethod(s.Strategy, s.Method); err != nil {
			*fe = append(*fe, &FieldError{Field: "method", Err: err})
		}
	default:
		fe.add("method", "%q: want post or put", s.Method)
	}
	if _, err := ParseClock(string(s.Clock)); err != nil {
		fe.add("clock", "%q: want virtual or real", s.Clock)
	}
	if s.URLExpiry < time.Second || s.URLExpiry > MaxURLExpiry {
		fe.add("url_expiry", "%v: want 1s..168h (S3 presigns for at most 7 days)", s.URLExpiry)
	}
	if s.TokenTTL < time.Second {
		fe.add("token_ttl", "%v: want at least 1s (memcached counts in seconds)", s.TokenTTL)
	}
}

// MaxURLExpiry is S3's presign limit, 604800 s.
const MaxURLExpiry = 7 * 24 * time.Hour

func (s Stack) validateMemcached(fe *fieldErrs) {
	if m := s.MemcachedMemoryMB; m != 0 && (m < MinMemcachedMemoryMB || m > MaxMemcachedMemoryMB) {
		fe.add("memcached_memory_mb", "%d: want %d..%d (0 or absent for memcached's default); memcached refuses -m below twice its 1 MB item size limit",
			m, MinMemcachedMemoryMB, MaxMemcachedMemoryMB)
	} else if m > 0 && s.Memcached.Kind == memcached.KindExternal {
		fe.add("memcached_memory_mb", "an external memcached's memory is not uploadonce's to set")
	}
}

func (s Stack) validatePlacement(fe *fieldErrs) {
	if _, err := cluster.ParseHashing(string(s.MemcachedHashing)); err != nil {
		fe.add("memcached_hashing", "%v", err)
	}
	if _, err := cluster.ParseHashing(string(s.VerifierMemcachedHashing)); err != nil {
		fe.add("verifier_memcached_hashing", "%v", err)
	}
}

func (s Stack) validateDelivery(fe *fieldErrs) {
	d := s.Delivery
	if !(d.Duplicates >= 0 && d.Duplicates <= 1) {
		fe.add("events.duplicates", "%v: want a chance between 0 and 1", d.Duplicates)
	}
	if d.ReorderWindow < 0 {
		fe.add("events.reorder", "%v: must not be negative", d.ReorderWindow)
	}
}

func (s Stack) validateLambda(fe *fieldErrs) {
	if c := s.LambdaConcurrency; c < 1 || c > MaxLambdaConcurrency {
		fe.add("lambda.concurrency", "%d: want 1..%d", c, MaxLambdaConcurrency)
	}
	if r := s.LambdaRetries; r < 0 || r > 2 {
		fe.add("lambda.retries", "%d: want 0..2, as Lambda's MaximumRetryAttempts", r)
	}
	if a := s.MaxEventAge; a < lambda.MinMaxEventAge || a > lambda.MaxMaxEventAge {
		fe.add("events.max_age", "%v: want %v..%v, as Lambda's MaximumEventAgeInSeconds", a, lambda.MinMaxEventAge, lambda.MaxMaxEventAge)
	}
	if !(s.LambdaErrorRate >= 0 && s.LambdaErrorRate <= 1) {
		fe.add("lambda.error_rate", "%v: want a fraction between 0 and 1", s.LambdaErrorRate)
	}
}

// MaxLambdaConcurrency bounds Stack.LambdaConcurrency.
const MaxLambdaConcurrency = 10000

// WithDefaults returns s with every zero field that has a default filled
// in. LambdaRetries has no zero default: 0 means no retries (DefaultStack
// gives Lambda's 2).
func (s Stack) WithDefaults() Stack {
	d := DefaultStack()
	if s.Strategy == "" {
		s.Strategy = d.Strategy
	}
	if s.Memcached.Kind == "" {
		s.Memcached = d.Memcached
	}
	if s.Clock == "" {
		s.Clock = d.Clock
	}
	if s.URLExpiry == 0 {
		s.URLExpiry = d.URLExpiry
	}
	if s.TokenTTL == 0 {
		s.TokenTTL = d.TokenTTL
	}
	if s.LambdaConcurrency == 0 {
		s.LambdaConcurrency = d.LambdaConcurrency
	}
	if s.MaxEventAge == 0 {
		s.MaxEventAge = d.MaxEventAge
	}
	if s.Functions.Timeout == 0 {
		s.Functions.Timeout = d.Functions.Timeout
	}
	return s
}

// Errors returns the errors errors.Join joined in err, flattened, or err
// alone; nil for nil.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
