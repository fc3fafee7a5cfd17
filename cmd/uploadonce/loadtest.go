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
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
	"github.com/uploadonce/uploadonce/loadtest/scenario"
)

// loadtestFlags are `uploadonce loadtest`'s flags. They bind to a plan:
// the defaults', or a scenario file's, which the flags given override.
type loadtestFlags struct {
	plan plan.Plan
	// The load's shape without a file: URLs, uploads per URL, late share.
	urls, duplicates int
	delayed          float64

	reportJSON             string
	logLevel, logFormat    string
	set                    map[string]bool // the flags given
	historyPath            string          // --history: always written
	cpuProfile, memProfile string
}

// defaultPlan is the plan loadtest runs from flags alone.
func defaultPlan() plan.Plan {
	return plan.Plan{Name: "loadtest", Seed: plan.DefaultSeed, Stack: plan.DefaultStack(),
		Concurrency: plan.DefaultConcurrency, Timeout: plan.DefaultTimeout, Window: loadtest.DefaultWindow}
}

func (f *loadtestFlags) register(fs *flag.FlagSet, base plan.Plan, withStrategy bool) {
	f.plan = base
	f.urls, f.duplicates, f.delayed = 1000, 2, 0.1
	fs.IntVar(&f.urls, "urls", f.urls, "one-time URLs to issue (with a scenario file: its single group's tokens)")
	fs.IntVar(&f.duplicates, "duplicates", f.duplicates, "uploads per URL, sent at once")
	fs.Float64Var(&f.delayed, "delayed", f.delayed, "fraction of URLs uploaded after their URL expired (at expiry+10s)")
	p := &f.plan
	fs.IntVar(&p.Concurrency, "concurrency", p.Concurrency, "URLs in flight (closed model); sizes the connection pools")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "URLs started per second (open model); 0 means closed model")
	fs.IntVar(&p.Window, "window", p.Window, "virtual clock: URLs judged and dropped together once nothing is in flight for them,\n"+
		"which bounds memory; 0 issues every URL first (one window, as with --fault or --clock real)")
	fs.Uint64Var(&p.Seed, "seed", p.Seed, "seed of every random choice")
	fs.DurationVar(&p.Timeout, "timeout", p.Timeout, "bound on the whole run")
	fs.Var(faultsValue{&p.Faults}, "fault", "inject a fault, repeatable: KIND@OFFSET[:DURATION|:VALUE], offsets from the start of the run.\n"+
		"memcached-restart@5s, memcached-flush@5s, memcached-pause@5s:90s (SIGSTOP, docker pause, embedded hold),\n"+
		"memcached-evict@5s:BYTES and memcached-latency@0s:2ms and memcached-conn-limit@5s:N[:DURATION] (embedded only;\n"+
		"for a process or container use --memcached-memory-mb). See README \"Faults\"")
	if withStrategy {
		registerStack(fs, &p.Stack, "method")
	} else {
		registerStackNoStrategy(fs, &p.Stack, "method")
	}
	fs.StringVar(&f.reportJSON, "report-json", "", "also write the report as JSON to this path")
	fs.StringVar(&f.logLevel, "log-level", "warn", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "console or json (auto: console on a terminal)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write heap profiles to this file: in use at the run's peak heap (sampled\n"+
		"every second) and, as FILE.end, at its end; alloc_space in either covers the run so far")
}

// shapeFlags are the flags that say what each URL receives.
var shapeFlags = []string{"urls", "duplicates", "delayed"}

// shape fills the plan's groups: from the flags alone, or, over a scenario
// file, by scaling its single group to --urls. set holds the flags given.
func (f *loadtestFlags) shape(file string, set map[string]bool) error {
	if file == "" {
		switch {
		case f.urls < 1:
			return usagef("--urls %d: want at least 1", f.urls)
		case f.duplicates < 1 || f.duplicates > 100:
			return usagef("--duplicates %d: want 1..100", f.duplicates)
		case !(f.delayed >= 0 && f.delayed <= 1):
			return usagef("--delayed %v: want a fraction between 0 and 1", f.delayed)
		}
		delayed := int(math.Round(float64(f.urls) * f.delayed))
		f.plan.Groups = []plan.Group{
			{Name: "in-time", Tokens: f.urls - delayed, Uploads: uploadsAt(f.duplicates, 0)},
			{Name: "delayed", Tokens: delayed, Uploads: uploadsAt(f.duplicates, f.plan.Stack.URLExpiry+10*time.Second)},
		}
		return nil
	}
	for _, name := range []string{"duplicates", "delayed"} {
		if set[name] {
			return usagef("--%s: %s says how each URL is uploaded; edit its groups instead", name, file)
		}
	}
	if set["urls"] {
		if len(f.plan.Groups) != 1 {
			return usagef("--urls: %s has %d groups, so a URL count alone cannot say how many of each; edit the file", file, len(f.plan.Groups))
		}
		if f.urls < 1 {
			return usagef("--urls %d: want at least 1", f.urls)
		}
		f.plan.Groups[0].Tokens = f.urls
	}
	return nil
}

func uploadsAt(n int, at time.Duration) []plan.Upload {
	us := make([]plan.Upload, n)
	for i := range us {
		us[i] = plan.Upload{At: at}
	}
	return us
}

// parseLoadFlags parses loadtest's (or compare's) arguments: flags, and
// at most one scenario file that is the base plan the flags override.
// extra registers a command's own flags (compare's) on both passes.
func parseLoadFlags(name string, args []string, stderr io.Writer, withStrategy bool, extra func(*flag.FlagSet)) (*loadtestFlags, error) {
	// Pass 1 finds the file (flags may come before or after it) and the
	// strategy asked for; pass 2 binds the flags to the file's plan.
	probe := flag.NewFlagSet(name, flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	var pf loadtestFlags
	pf.register(probe, defaultPlan(), withStrategy)
	extra(probe)
	files, err := parseInterspersed(probe, args)
	if err != nil {
		// Parse again where the user sees it, for the usage or the error.
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		var f loadtestFlags
		f.register(fs, defaultPlan(), withStrategy)
		extra(fs)
		_, err = parseArgs(fs, args)
		return nil, err
	}
	if len(files) > 1 {
		return nil, usagef("%s takes at most one scenario file, got %q", name, files)
	}
	base, file := defaultPlan(), ""
	if len(files) == 1 {
		file = files[0]
		strategy := ""
		probe.Visit(func(fl *flag.Flag) {
			if fl.Name == "strategy" {
				strategy = pf.plan.Stack.Strategy
			}
		})
		if base, err = scenarioPlan(file, strategy); err != nil {
			return nil, err
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &loadtestFlags{}
	f.register(fs, base, withStrategy)
	extra(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	f.set = set
	if err := f.shape(file, set); err != nil {
		return nil, err
	}
	if err := checkOutPath("--report-json", f.reportJSON); err != nil {
		return nil, err
	}
	if err := f.plan.Validate(); err != nil {
		return nil, planError(err, "method")
	}
	return f, nil
}

// scenarioPlan loads a scenario file as one load run's plan: the file must
// run one strategy, or strategy must pick one of those it lists.
func scenarioPlan(file, strategy string) (plan.Plan, error) {
	s, err := scenario.Load(file)
	if err != nil {
		return plan.Plan{}, usageError{err}
	}
	if err := s.Validate(); err != nil {
		return plan.Plan{}, usageError{err}
	}
	names := s.StrategyNames()
	switch {
	case strategy != "" && slices.Contains(names, strategy):
	case strategy != "":
		// A strategy the file does not list: the file's first, re-aimed.
		strategy = names[0]
	case len(names) > 1:
		return plan.Plan{}, usagef("%s runs %d strategies (%s): a load run has one; pick it with --strategy, or use compare",
			file, len(names), strings.Join(names, ", "))
	default:
		strategy = names[0]
	}
	p, _ := s.Plan(strategy)
	return p, nil
}

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rf remoteFlags
	var sf shardFlags
	f, err := parseLoadFlags("loadtest", args, stderr, true, func(fs *flag.FlagSet) { rf.register(fs); sf.register(fs) })
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := rf.validate(&f.plan, f.set); err != nil {
		return err
	}
	if err := sf.apply(&f.plan); err != nil {
		return err
	}
	f.historyPath = sf.history
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if rf.target != "" {
		return runRemoteLoad(ctx, f, &rf, stdout, stderr, log)
	}
	p := f.plan
	log.Info().Uint64("seed", p.Seed).Str("strategy", p.Stack.Strategy).Int("urls", p.Tokens()).
		Int("uploads", p.Uploads()).Msg("load test")
	stopProfiles, err := startProfiles(f.cpuProfile, f.memProfile)
	if err != nil {
		return err
	}
	res, err := loadtest.Run(ctx, p, f.runOptions(stderr, log)...)
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
	return reportLoadtest(res, f, stdout, stderr, log)
}

// runOptions are the run's options from the flags.
func (f *loadtestFlags) runOptions(stderr io.Writer, log zerolog.Logger) []loadtest.Option {
	opts := []loadtest.Option{loadtest.WithLogger(log), loadtest.WithProgress(stderr, isTerminal(stderr))}
	if f.historyPath != "" {
		opts = append(opts, loadtest.WithHistory())
	}
	return opts
}

// reportLoadtest writes the history (with --history, or of a failed run)
// and the report.
func reportLoadtest(res *loadtest.Result, f *loadtestFlags, stdout, stderr io.Writer, log zerolog.Logger) error {
	rep, reportJSON := res.Report, f.reportJSON
	if f.historyPath != "" {
		if err := res.SaveHistory(f.historyPath); err != nil {
			return err
		}
	} else if !rep.OK {
		path := loadtest.HistoryPath(reportJSON)
		if err := res.SaveHistory(path); err != nil {
			log.Error().Err(err).Msg("could not keep the history of the failed run")
		} else {
			fmt.Fprintf(stderr, "uploadonce: the run failed; its history is in %s (re-check it offline)\n", path)
		}
	}
	if reportJSON != "" {
		if err := writeReportJSON(reportJSON, rep.WriteJSON); err != nil {
			return err
		}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	return verdictError(rep, stderr)
}

// verdictError maps a report's verdict to the command's error.
func verdictError(rep *report.Report, stderr io.Writer) error {
	switch rep.Verdict {
	case report.VerdictOK:
		return nil
	case report.VerdictPartial:
		fmt.Fprintln(stderr, "uploadonce: the run was cut short; the report is partial")
		return errInterrupted
	}
	return errFailed
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
