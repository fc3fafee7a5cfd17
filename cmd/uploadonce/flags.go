package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// The flag values below parse a string into its typed value at the edge,
// once; a bad value fails the parse (exit 2) with the flag's name. Each is
// registered by one function for every command that takes it.

type strategyValue struct{ p *string }

func (v strategyValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v strategyValue) Set(s string) error {
	if _, ok := onetime.LookupStrategy(s); !ok {
		return fmt.Errorf("unknown strategy %q: want one of %s", s, strings.Join(onetime.StrategyNames(), ", "))
	}
	*v.p = s
	return nil
}

type methodValue struct{ p *onetime.Method }

func (v methodValue) String() string {
	if v.p == nil || *v.p == "" {
		return "post, or put for if-none-match"
	}
	return string(*v.p)
}

func (v methodValue) Set(s string) error {
	m, err := onetime.ParseMethod(s)
	*v.p = m
	return err
}

type memcachedValue struct{ p *memcached.Spec }

func (v memcachedValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v memcachedValue) Set(s string) error {
	spec, err := memcached.ParseSpec(s)
	*v.p = spec
	return err
}

type hashingValue struct{ p *cluster.Hashing }

func (v hashingValue) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}

func (v hashingValue) Set(s string) error {
	h, err := cluster.ParseHashing(s)
	*v.p = h
	return err
}

type clockValue struct{ p *plan.ClockKind }

func (v clockValue) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}

func (v clockValue) Set(s string) error {
	k, err := plan.ParseClock(s)
	*v.p = k
	return err
}

type delayValue struct{ p *s3event.Delay }

func (v delayValue) String() string {
	if v.p == nil || *v.p == nil {
		return "0"
	}
	return (*v.p).String()
}

func (v delayValue) Set(s string) error {
	d, err := s3event.ParseDelay(s)
	if err != nil {
		return err
	}
	if strings.TrimSpace(s) == "0" || strings.TrimSpace(s) == "" {
		d = nil
	}
	*v.p = d
	return nil
}

type probabilityValue struct{ p *float64 }

func (v probabilityValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v probabilityValue) Set(s string) error {
	p, err := s3event.ParseProbability(s)
	*v.p = p
	return err
}

type sigV2Value struct{ p *s3auth.SigV2Mode }

func (v sigV2Value) String() string {
	if v.p == nil {
		return s3auth.SigV2Accept.String()
	}
	return v.p.String()
}

func (v sigV2Value) Set(s string) error {
	m, err := s3auth.ParseSigV2Mode(s)
	*v.p = m
	return err
}

type faultsValue struct{ p *[]plan.Fault }

func (v faultsValue) String() string { return "" }

func (v faultsValue) Set(s string) error {
	f, err := plan.ParseFault(s)
	if err != nil {
		return err
	}
	*v.p = append(*v.p, f)
	return nil
}

// registerStack registers the flags of the stack every command runs;
// methodFlag is the method flag's name (serve's is upload-method, the
// load commands' method).
func registerStack(fs *flag.FlagSet, st *plan.Stack, methodFlag string) {
	fs.Var(strategyValue{&st.Strategy}, "strategy", "one-time guard: "+strings.Join(onetime.StrategyNames(), ", "))
	registerStackNoStrategy(fs, st, methodFlag)
}

// registerStackNoStrategy registers the stack flags but --strategy, for
// compare, which runs every strategy.
func registerStackNoStrategy(fs *flag.FlagSet, st *plan.Stack, methodFlag string) {
	fs.Var(memcachedValue{&st.Memcached}, "memcached", "auto|embedded|process|container[:N]|HOST:PORT[,HOST:PORT...]")
	fs.IntVar(&st.MemcachedMemoryMB, "memcached-memory-mb", st.MemcachedMemoryMB,
		"memcached -m in MB for the memcached uploadonce starts (embedded: its byte limit);\n"+
			"small values make memory pressure evict live tokens; 0 keeps the default (64)")
	fs.Var(clockValue{&st.Clock}, "clock", "virtual (waits cost nothing; serve: moved by POST /_uploadonce/clock?advance=D) or real")
	fs.Var(methodValue{&st.Method}, methodFlag, "upload method: post (presigned POST form) or put (presigned PUT URL)")
	fs.DurationVar(&st.URLExpiry, "url-expiry", st.URLExpiry, "how long an issued URL is valid (1s..168h)")
	fs.DurationVar(&st.TokenTTL, "token-ttl", st.TokenTTL, "token lifetime in memcached; events later than this find the token expired")
	fs.BoolVar(&st.KeepRejected, "keep-rejected", st.KeepRejected, "leave rejected uploads in place, as the reference does (default: delete them)")
	fs.Var(probabilityValue{&st.Delivery.Duplicates}, "event-duplicates", "chance P (0..1) of one extra delivery of each S3 event; 1 delivers every event twice")
	fs.Var(delayValue{&st.Delivery.Delay}, "event-delay", "S3 event delay: 250ms, MIN..MAX, exp:MEAN or aws")
	fs.DurationVar(&st.Delivery.ReorderWindow, "event-reorder", st.Delivery.ReorderWindow, "reorder window: events within it may swap places")
	fs.BoolVar(&st.Delivery.Coalesce, "event-coalesce", st.Delivery.Coalesce, "one S3 event for writes to one unversioned key while its event is pending")
	fs.DurationVar(&st.MaxEventAge, "max-event-age", st.MaxEventAge, "drop events older than this (60s..6h)")
	fs.IntVar(&st.LambdaConcurrency, "lambda-concurrency", st.LambdaConcurrency, "verifier invocations at once")
	fs.IntVar(&st.LambdaRetries, "lambda-retries", st.LambdaRetries, "retries of a failed invocation, 0..2 (1 min, then 2 min later)")
	fs.Float64Var(&st.LambdaErrorRate, "lambda-error-rate", st.LambdaErrorRate, "fraction 0..1 of verifier invocations that fail (function errors)")
	fs.Var(hashingValue{&st.MemcachedHashing}, "memcached-hashing",
		"key placement of the memcached clients: modulo (gomemcache), ketama (AWS ElastiCache Cluster Client),\n"+
			"ketama-md5 (spymemcached) or rendezvous (pymemcache HashClient) (default modulo)")
	fs.Var(hashingValue{&st.VerifierMemcachedHashing}, "verifier-memcached-hashing",
		"the verifier's placement when it differs from the issuer's --memcached-hashing (a mixed-runtime deployment)")
}

// flagNames maps a plan field (as plan.FieldError names it) to its flag.
var flagNames = map[string]string{
	"strategy": "--strategy", "memcached": "--memcached", "memcached_memory_mb": "--memcached-memory-mb",
	"clock": "--clock", "url_expiry": "--url-expiry", "token_ttl": "--token-ttl",
	"events.duplicates": "--event-duplicates", "events.reorder": "--event-reorder", "events.max_age": "--max-event-age",
	"lambda.concurrency": "--lambda-concurrency", "lambda.retries": "--lambda-retries", "lambda.error_rate": "--lambda-error-rate",
	"concurrency": "--concurrency", "rate": "--rate", "window": "--window", "timeout": "--timeout",
	"memcached_hashing": "--memcached-hashing", "verifier_memcached_hashing": "--verifier-memcached-hashing",
}

// planError turns a plan's validation error into a usage error naming
// flags; methodFlag is the command's method flag.
func planError(err error, methodFlag string) error {
	if err == nil {
		return nil
	}
	var lines []string
	for _, e := range plan.Errors(err) {
		var fe *plan.FieldError
		if !errors.As(e, &fe) {
			lines = append(lines, e.Error())
			continue
		}
		name, ok := flagNames[fe.Field]
		if fe.Field == "method" {
			name, ok = "--"+methodFlag, true
		}
		if !ok {
			name = fe.Field
		}
		lines = append(lines, name+": "+fe.Err.Error())
	}
	return usageError{errors.New(strings.Join(lines, "\n"))}
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
