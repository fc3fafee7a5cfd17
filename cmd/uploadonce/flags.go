package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
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

// bytesValue is a byte count: 1024, 64KiB, 5GiB, 200MB (KB, MB, GB are
// powers of 1000; KiB, MiB, GiB of 1024).
type bytesValue struct{ p *int64 }

func (v bytesValue) String() string {
	if v.p == nil {
		return "0"
	}
	return formatBytes(*v.p)
}

func (v bytesValue) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

var byteUnits = []struct {
	suffix string
	scale  int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/scale {
		return 0, fmt.Errorf("%q is not a byte count such as 1024, 64KiB or 5GiB", s)
	}
	return n * scale, nil
}

func formatBytes(n int64) string {
	for _, u := range byteUnits[:4] {
		if n >= u.scale && n%u.scale == 0 && n/u.scale < 1024 {
			return strconv.FormatInt(n/u.scale, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// publicURLValue is a base URL clients elsewhere can call.
type publicURLValue struct{ p *string }

func (v publicURLValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v publicURLValue) Set(s string) error {
	if err := emulator.CheckPublicURL(s); err != nil {
		return err
	}
	*v.p = strings.TrimSuffix(s, "/")
	return nil
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
	registerFunctions(fs, &st.Functions)
}

// registerFunctions registers the function flags (DESIGN §4, "Functions").
func registerFunctions(fs *flag.FlagSet, f *plan.Functions) {
	fs.Var(commandValue{&f.Verify}, "verify-function", "run CMD as the verify function over the Lambda Runtime API (split like a shell line, no shell)")
	fs.Var(commandValue{&f.Issue}, "issue-function", "run CMD as the issue function behind the API, as a Lambda proxy integration")
	fs.Var(envValue{&f.Env}, "function-env", "K=V added to or overriding the functions' environment (repeatable)")
	fs.DurationVar(&f.Timeout, "function-timeout", f.Timeout, "kill a function invocation after this long (up to 15m); the event is retried")
}

type commandValue struct{ p *string }

func (v commandValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v commandValue) Set(s string) error {
	if _, err := runtimeapi.Split(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

type envValue struct{ p *[]string }

func (v envValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v envValue) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return fmt.Errorf("want K=V, got %q", s)
	}
	*v.p = append(*v.p, s)
	return nil
}

// flagNames maps a plan field (as plan.FieldError names it) to its flag.
var flagNames = map[string]string{
	"strategy": "--strategy", "memcached": "--memcached", "memcached_memory_mb": "--memcached-memory-mb",
	"clock": "--clock", "url_expiry": "--url-expiry", "token_ttl": "--token-ttl",
	"events.duplicates": "--event-duplicates", "events.reorder": "--event-reorder", "events.max_age": "--max-event-age",
	"functions.verify": "--verify-function", "functions.issue": "--issue-function", "functions.env": "--function-env",
	"functions.timeout":  "--function-timeout",
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

// parseArgs parses args with fs, flags anywhere among the positional
// arguments, and returns the positional ones. A bad flag is a short usage
// error: what was wrong, the flag meant when one is close, and where the
// full list is; -h prints the full list.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	out, usage := fs.Output(), fs.Usage
	if usage == nil {
		usage = func() {
			fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	rest, err := parseInterspersed(fs, args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return nil, err
	case err != nil:
		return nil, usageError{fmt.Errorf("%w%s; run 'uploadonce %s -h' for its flags", err, suggestFlag(fs, err), fs.Name())}
	}
	return rest, nil
}

// suggestFlag returns " (did you mean --name?)" for an undefined flag
// close to a defined one, else "".
func suggestFlag(fs *flag.FlagSet, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return ""
	}
	name = strings.TrimPrefix(name, "-")
	best, bestD := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestD || strings.HasPrefix(f.Name, name) && bestD > 1 {
			best, bestD = f.Name, min(d, bestD)
		}
	})
	if best == "" {
		return ""
	}
	return " (did you mean --" + best + "?)"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// checkOutPath refuses, before anything runs, an output file whose
// directory does not exist or that names a directory.
func checkOutPath(flagName, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s: is a directory, want a file", flagName, path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return usagef("%s %s: directory %s does not exist", flagName, path, dir)
	}
	return nil
}
