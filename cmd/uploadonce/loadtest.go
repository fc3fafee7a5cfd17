package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// loadtestFlags are `uploadonce loadtest`'s flags.
type loadtestFlags struct {
	urls, duplicates, concurrency, lambdaConcurrency int
	window                                           int
	delayed, rate                                    float64
	strategy, memcached, method, clock, reportJSON   string
	eventDuplicates, eventDelay                      string
	urlExpiry, timeout                               time.Duration
	seed                                             uint64
	logLevel, logFormat                              string
	cpuProfile, memProfile                           string

	// Faults.
	faults            []plan.Fault
	memcachedMemoryMB int
	tokenTTL          time.Duration
	eventReorder      time.Duration
	eventCoalesce     bool
	lambdaErrorRate   float64
	lambdaRetries     int
}

func (f *loadtestFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.urls, "urls", 1000, "one-time URLs to issue")
	fs.IntVar(&f.duplicates, "duplicates", 2, "uploads per URL, sent at once")
	fs.Float64Var(&f.delayed, "delayed", 0.1, "fraction of URLs uploaded after their URL expired (at expiry+10s)")
	fs.IntVar(&f.concurrency, "concurrency", 32, "requests in flight (closed model); sizes the connection pools")
	fs.Float64Var(&f.rate, "rate", 0, "URLs started per second (open model); 0 means closed model")
	fs.IntVar(&f.window, "window", loadtest.DefaultWindow, "virtual clock: URLs issued, uploaded and settled together before the next\n"+
		"window, which bounds memory; 0 issues every URL first (one window, as with --fault or --clock real)")
	fs.StringVar(&f.strategy, "strategy", onetime.CAS, "one-time guard: "+strings.Join(onetime.StrategyNames(), ", "))
	fs.StringVar(&f.memcached, "memcached", "auto", "auto|embedded|process|container[:N]|HOST:PORT[,HOST:PORT...]")
	fs.StringVar(&f.method, "method", "post", "upload method: post or put")
	fs.StringVar(&f.clock, "clock", "virtual", "virtual (waits cost nothing) or real")
	fs.StringVar(&f.reportJSON, "report-json", "", "also write the report as JSON to this path")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of every random choice")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	fs.StringVar(&f.eventDuplicates, "event-duplicates", "0", "chance P (0..1) of one extra delivery of each S3 event")
	fs.StringVar(&f.eventDelay, "event-delay", "0", "S3 event delay: 250ms, MIN..MAX, exp:MEAN or aws")
	fs.IntVar(&f.lambdaConcurrency, "lambda-concurrency", lambda.DefaultConcurrency, "verifier invocations at once")
	fs.DurationVar(&f.urlExpiry, "url-expiry", onetime.DefaultURLExpiry, "how long an issued URL is valid")
	fs.StringVar(&f.logLevel, "log-level", "warn", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "console or json (auto: console on a terminal)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write heap profiles to this file: in use at the run's peak heap (sampled\n"+
		"every second) and, as FILE.end, at its end; alloc_space in either covers the run so far")

	fs.Func("fault", "inject a fault, repeatable: KIND@OFFSET[:DURATION|:VALUE], offsets from the start of the run.\n"+
		"memcached-restart@5s, memcached-flush@5s, memcached-pause@5s:90s (SIGSTOP, docker pause, embedded hold),\n"+
		"memcached-evict@5s:BYTES and memcached-latency@0s:2ms and memcached-conn-limit@5s:N[:DURATION] (embedded only;\n"+
		"for a process or container use --memcached-memory-mb). See README \"Faults\"", func(s string) error {
		fl, err := plan.ParseFault(s)
		if err != nil {
			return err
		}
		f.faults = append(f.faults, fl)
		return nil
	})
	fs.IntVar(&f.memcachedMemoryMB, "memcached-memory-mb", 0, "memcached -m in MB for the memcached uploadonce starts (embedded: its byte limit);\n"+
		"small values make memory pressure evict live tokens; 0 keeps the default (64)")
	fs.DurationVar(&f.tokenTTL, "token-ttl", onetime.DefaultTokenTTL, "token lifetime in memcached; events later than this find the token expired")
	fs.DurationVar(&f.eventReorder, "event-reorder", 0, "S3 event reorder window")
	fs.BoolVar(&f.eventCoalesce, "event-coalesce", false, "one S3 event for writes to one unversioned key while its event is pending")
	fs.Float64Var(&f.lambdaErrorRate, "lambda-error-rate", 0, "fraction 0..1 of verifier invocations that fail (function errors)")
	fs.IntVar(&f.lambdaRetries, "lambda-retries", lambda.DefaultMaxRetries, "retries of a failed invocation, 0..2 (1 min, then 2 min later)")
}

// plan turns the flags into a plan; errors are usage errors.
func (f *loadtestFlags) plan() (plan.Plan, error) {
	var p plan.Plan
	switch {
	case f.urls < 1:
		return p, usagef("--urls %d: want at least 1", f.urls)
	case f.duplicates < 1 || f.duplicates > 100:
		return p, usagef("--duplicates %d: want 1..100", f.duplicates)
	case f.delayed < 0 || f.delayed > 1 || math.IsNaN(f.delayed):
		return p, usagef("--delayed %v: want a fraction between 0 and 1", f.delayed)
	case f.window < 0:
		return p, usagef("--window %d: want 0 or more URLs", f.window)
	case f.concurrency < 1 || f.concurrency > 4096:
		return p, usagef("--concurrency %d: want 1..4096", f.concurrency)
	case f.rate < 0 || math.IsNaN(f.rate) || math.IsInf(f.rate, 0):
		return p, usagef("--rate %v: want a positive number of URLs per second", f.rate)
	case f.timeout <= 0:
		return p, usagef("--timeout %v: want a positive duration", f.timeout)
	case f.urlExpiry <= 0 || f.urlExpiry > 7*24*time.Hour:
		return p, usagef("--url-expiry %v: want between 1s and 168h", f.urlExpiry)
	case f.lambdaConcurrency < 1 || f.lambdaConcurrency > 10000:
		return p, usagef("--lambda-concurrency %d: want 1..10000", f.lambdaConcurrency)
	case f.memcachedMemoryMB != 0 && (f.memcachedMemoryMB < plan.MinMemcachedMemoryMB || f.memcachedMemoryMB > plan.MaxMemcachedMemoryMB):
		return p, usagef("--memcached-memory-mb %d: want %d..%d (0 for the default)", f.memcachedMemoryMB, plan.MinMemcachedMemoryMB, plan.MaxMemcachedMemoryMB)
	case f.tokenTTL <= 0:
		return p, usagef("--token-ttl %v: want a positive duration", f.tokenTTL)
	case f.eventReorder < 0:
		return p, usagef("--event-reorder %v: must not be negative", f.eventReorder)
	case !(f.lambdaErrorRate >= 0 && f.lambdaErrorRate <= 1):
		return p, usagef("--lambda-error-rate %v: want a fraction between 0 and 1", f.lambdaErrorRate)
	case f.lambdaRetries < 0 || f.lambdaRetries > 2:
		return p, usagef("--lambda-retries %d: want 0..2, as Lambda's MaximumRetryAttempts", f.lambdaRetries)
	}
	if _, ok := onetime.LookupStrategy(f.strategy); !ok {
		return p, usagef("--strategy %q: want one of %s", f.strategy, strings.Join(onetime.StrategyNames(), ", "))
	}
	if _, err := onetime.ParseMethod(f.method); err != nil {
		return p, usagef("--method: %v", err)
	}
	if f.strategy == onetime.IfNoneMatch && f.method != string(onetime.MethodPUT) {
		f.method = string(onetime.MethodPUT) // the strategy needs PUT; POST is only the default
	}
	switch f.clock {
	case "virtual", "real":
	default:
		return p, usagef("--clock %q: want virtual or real", f.clock)
	}
	dup, err := s3event.ParseProbability(f.eventDuplicates)
	if err != nil {
		return p, usagef("--event-duplicates: %v", err)
	}
	if _, err := s3event.ParseDelay(f.eventDelay); err != nil {
		return p, usagef("--event-delay: %v", err)
	}
	delayed := int(math.Round(float64(f.urls) * f.delayed))
	uploads := func(at time.Duration) []plan.Upload {
		us := make([]plan.Upload, f.duplicates)
		for i := range us {
			us[i] = plan.Upload{At: at}
		}
		return us
	}
	p = plan.Plan{
		Name: "loadtest", Seed: f.seed, Concurrency: f.concurrency, Rate: f.rate, Timeout: f.timeout, Window: f.window,
		Stack: plan.Stack{Strategy: f.strategy, Memcached: f.memcached, Clock: f.clock, Method: f.method,
			URLExpiry: f.urlExpiry, EventDelay: f.eventDelay, EventDuplicates: dup, LambdaConcurrency: f.lambdaConcurrency,
			TokenTTL: f.tokenTTL, EventReorder: f.eventReorder, EventCoalesce: f.eventCoalesce, LambdaErrorRate: f.lambdaErrorRate,
			LambdaRetries: &f.lambdaRetries, MemcachedMemoryMB: f.memcachedMemoryMB},
		Faults: f.faults,
		Groups: []plan.Group{
			{Name: "in-time", Tokens: f.urls - delayed, Uploads: uploads(0)},
			{Name: "delayed", Tokens: delayed, Uploads: uploads(f.urlExpiry + 10*time.Second)},
		},
	}
	if err := p.Validate(); err != nil {
		return p, usageError{err}
	}
	return p, nil
}

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadtestFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("loadtest takes no arguments, got %q", fs.Args())
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	p, err := f.plan()
	if err != nil {
		return err
	}
	log.Info().Uint64("seed", p.Seed).Str("strategy", p.Stack.Strategy).Int("urls", p.Tokens()).
		Int("uploads", p.Uploads()).Msg("load test")
	stopProfiles, err := startProfiles(f.cpuProfile, f.memProfile)
	if err != nil {
		return err
	}
	res, err := loadtest.Run(ctx, p,
		loadtest.WithLogger(log),
		loadtest.WithProgress(stderr, isTerminal(stderr)))
	if perr := stopProfiles(); perr != nil {
		log.Error().Err(perr).Msg("writing the profiles")
	}
	if err != nil {
		if errors.Is(err, loadtest.ErrFaultUnsupported) {
			return usageError{err}
		}
		return err
	}
	defer res.Close()
	rep := res.Report
	if !rep.OK {
		path := loadtest.HistoryPath(f.reportJSON)
		if err := res.SaveHistory(path); err != nil {
			log.Error().Err(err).Msg("could not keep the history of the failed run")
		} else {
			fmt.Fprintf(stderr, "uploadonce: the run failed; its history is in %s (re-check it offline)\n", path)
		}
	}
	if f.reportJSON != "" {
		if err := writeReportJSON(f.reportJSON, rep.WriteJSON); err != nil {
			return err
		}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if res.Partial {
		fmt.Fprintln(stderr, "uploadonce: the run was cut short; the report is partial")
	}
	if !rep.OK {
		return errFailed
	}
	return nil
}

func writeReportJSON(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--report-json: %w", err)
	}
	if err := write(fh); err != nil {
		fh.Close()
		return fmt.Errorf("--report-json %s: %w", path, err)
	}
	return fh.Close()
}

// startProfiles starts a CPU profile into cpu and, for mem, a sampler that
// writes a heap profile whenever the heap in use reaches a new peak (at most
// once a second), so that the file shows where the peak went; stop ends both
// and writes the heap at the end to mem+".end". Empty names profile nothing.
func startProfiles(cpu, mem string) (stop func() error, err error) {
	var stops []func() error
	if cpu != "" {
		fh, err := os.Create(cpu)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			fh.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return fh.Close() })
	}
	if mem != "" {
		if err := writeHeapProfile(mem); err != nil { // fail early on a bad path
			return nil, fmt.Errorf("--memprofile: %w", err)
		}
		done, exited := make(chan struct{}), make(chan error, 1)
		go func() {
			var peak uint64
			var err error
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					exited <- err
					return
				case <-t.C:
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak {
					peak = ms.HeapInuse
					if werr := writeHeapProfile(mem); werr != nil && err == nil {
						err = werr
					}
				}
			}
		}()
		stops = append(stops, func() error {
			close(done)
			return errors.Join(<-exited, writeHeapProfile(mem+".end"))
		})
	}
	return func() error {
		var errs []error
		for _, s := range stops {
			errs = append(errs, s())
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeapProfile(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(fh, 0); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
