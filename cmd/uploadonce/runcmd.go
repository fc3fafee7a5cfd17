package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"

	"github.com/uploadonce/uploadonce/loadtest/expect"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/plan"
	"github.com/uploadonce/uploadonce/loadtest/report"
	"github.com/uploadonce/uploadonce/loadtest/scenario"
)

const runUsage = `Usage: uploadonce run [flags] FILE.yaml...

Runs scenario files (see scenarios/README.md). Every file is loaded and
validated before anything runs; a bad file, flag or value exits 2 and names
file:line. Each scenario then runs once per strategy it lists, in process,
with the emulator and memcached it asks for. A PASS or FAIL line is printed
per expectation and a summary per file and strategy.

Exit status: 0 when every expectation holds, 1 when one fails, 2 on bad input.

Flags:
`

// runFlags are the flags of "uploadonce run". The stack flags override
// every file's values; each parses into its typed value at the edge.
type runFlags struct {
	strategy   string
	memcached  memcached.Spec
	clock      plan.ClockKind
	reportJSON string
	logLevel   string
	logFormat  string
	functions  plan.Functions
	set        map[string]bool // the flags given
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.Var(strategyValue{&f.strategy}, "strategy", "run only this strategy of each file (one of "+strings.Join(onetime.StrategyNames(), ", ")+"); a file that does not list it is bad input")
	fs.Var(memcachedValue{&f.memcached}, "memcached", "override every file's memcached: auto|embedded|process|container[:N]|HOST:PORT[,HOST:PORT...]")
	fs.Var(clockValue{&f.clock}, "clock", "override every file's clock: virtual or real (real waits offsets out)")
	fs.StringVar(&f.reportJSON, "report-json", "", "write the JSON report: a file for a single run, else a directory that gets NAME-STRATEGY.json per run")
	fs.StringVar(&f.logLevel, "log-level", "warn", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "console or json (auto: console on a terminal)")
	registerFunctions(fs, &f.functions)
}

// overrideFunctions lays the function flags given over a plan's.
func (f *runFlags) overrideFunctions(p *plan.Plan) {
	fn := &p.Stack.Functions
	if f.set["verify-function"] {
		fn.Verify = f.functions.Verify
	}
	if f.set["issue-function"] {
		fn.Issue = f.functions.Issue
	}
	if f.set["function-timeout"] {
		fn.Timeout = f.functions.Timeout
	}
	fn.Env = append(fn.Env, f.functions.Env...)
}

// parseInterspersed parses flags that may come before, between or after
// the file names.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return files, nil
		}
		if args[0] == "--" {
			return append(files, args[1:]...), nil
		}
		files = append(files, args[0])
		args = args[1:]
	}
}

// scenarioRun is one scenario run with one strategy.
type scenarioRun struct {
	s        *scenario.Scenario
	strategy string
	plan     plan.Plan
}

func runScenarios(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	var f runFlags
	f.register(fs)
	files, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return usagef("run needs at least one scenario file")
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	// Load and validate every file before anything runs.
	runs, err := loadRuns(files, f)
	if err != nil {
		return err
	}
	out := runOutput{stdout: stdout, stderr: stderr, log: log}
	if out.reportPath, out.reportDir, err = reportTarget(f.reportJSON, len(runs)); err != nil {
		return err
	}
	var failed []string
	passed := 0
	for i, r := range runs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before %s [%s]: %w", r.s.Name, r.strategy, err)
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		ok, err := out.runOne(ctx, r)
		if err != nil {
			return err
		}
		if ok {
			passed++
		} else {
			failed = append(failed, fmt.Sprintf("%s [%s]", r.s.Name, r.strategy))
		}
	}
	fmt.Fprintln(stdout)
	if len(failed) > 0 {
		fmt.Fprintf(stdout, "FAIL: %d of %d runs failed: %s\n", len(failed), len(runs), strings.Join(failed, ", "))
		return errFailed
	}
	fmt.Fprintf(stdout, "PASS: %d runs of %d files\n", passed, len(files))
	return nil
}

// runOutput is where scenario runs report.
type runOutput struct {
	stdout, stderr        io.Writer
	log                   zerolog.Logger
	reportPath, reportDir string
}

// runOne runs one scenario with one strategy, prints its expectations
// judged, and writes its report; ok says whether every expectation held.
func (o runOutput) runOne(ctx context.Context, r scenarioRun) (ok bool, err error) {
	fmt.Fprintf(o.stdout, "=== %s (%s) strategy %s\n", r.s.Name, r.s.File(), r.strategy)
	start := time.Now()
	obs, rep, res, err := runPlan(ctx, r.plan, o.log.With().Str("scenario", r.s.Name).Str("strategy", r.strategy).Logger(), o.stderr)
	if err != nil {
		// The stack could not run (a memcached that does not start, a
		// port in use): the environment's fault, not the scenario's.
		fmt.Fprintf(o.stdout, "--- ERROR %s [%s]: the run could not start: %v\n", r.s.Name, r.strategy, err)
		return false, fmt.Errorf("%s [%s]: %w", r.s.Name, r.strategy, err)
	}
	outcomes := r.s.Check(r.strategy, obs)
	bad := 0
	for _, oc := range outcomes {
		fmt.Fprintln(o.stdout, oc)
		if !oc.OK {
			bad++
		}
	}
	verdict := "PASS"
	if bad > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(o.stdout, "--- %s %s [%s]: %d of %d expectations hold (%.2fs)\n", verdict, r.s.Name, r.strategy,
		len(outcomes)-bad, len(outcomes), time.Since(start).Seconds())
	if o.reportPath == "" && o.reportDir == "" {
		return bad == 0, nil
	}
	path := o.reportPath
	if o.reportDir != "" {
		path = filepath.Join(o.reportDir, r.s.Name+"-"+r.strategy+".json")
	}
	if bad > 0 {
		// A failing run leaves its history beside the report, to be
		// re-checked offline.
		hp := loadtest.HistoryPath(path)
		if err := res.SaveHistory(hp); err != nil {
			return false, err
		}
		fmt.Fprintf(o.stdout, "history: %s\n", hp)
	}
	rep.setScenario(r.s.File(), outcomes)
	if err := rep.write(path); err != nil {
		return false, err
	}
	fmt.Fprintf(o.stdout, "report: %s\n", path)
	return bad == 0, nil
}

// loadRuns loads, overrides and validates every file, and expands each into
// its strategies. All problems of all files are reported together.
func loadRuns(files []string, f runFlags) ([]scenarioRun, error) {
	var errs []error
	var runs []scenarioRun
	for _, file := range files {
		s, err := scenario.Load(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f.memcached.Kind != "" {
			s.OverrideMemcached(f.memcached.String())
		}
		if f.clock != "" {
			s.OverrideClock(string(f.clock))
		}
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		strategies := s.StrategyNames()
		if f.strategy != "" {
			if !slices.Contains(strategies, f.strategy) {
				errs = append(errs, fmt.Errorf("%s: --strategy %s: the scenario runs only %s", file, f.strategy, strings.Join(strategies, ", ")))
				continue
			}
			strategies = []string{f.strategy}
		}
		for _, name := range strategies {
			p, _ := s.Plan(name)
			f.overrideFunctions(&p)
			if err := p.Validate(); err != nil {
				errs = append(errs, planError(err, "method"))
				continue
			}
			runs = append(runs, scenarioRun{s: s, strategy: name, plan: p})
		}
	}
	if len(errs) > 0 {
		return nil, usageError{errors.Join(errs...)}
	}
	return runs, nil
}

// reportTarget decides whether --report-json names a file or a directory:
// a directory when it exists as one, ends in a separator, or there is more
// than one run.
func reportTarget(path string, runs int) (file, dir string, err error) {
	if path == "" {
		return "", "", nil
	}
	st, statErr := os.Stat(path)
	isDir := statErr == nil && st.IsDir()
	slash := strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator))
	if isDir || slash || runs > 1 {
		if statErr == nil && !isDir {
			return "", "", usagef("--report-json %s: %d runs need a directory, and this is a file", path, runs)
		}
		if !isDir && !slash && filepath.Ext(path) == ".json" {
			return "", "", usagef("--report-json %s: %d runs write a report each, so this names a directory; "+
				"give one that exists, or end it with /", path, runs)
		}
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", "", usagef("--report-json %s: %v", path, err)
		}
		return "", path, nil
	}
	return path, "", nil
}

// scenarioReport is the JSON report of one scenario run: the load report,
// whose ok field here means that every expectation held (a scenario may
// expect a violation), plus the expectations judged. invariants_ok keeps
// the load report's own verdict.
type scenarioReport struct {
	*report.Report
	OK           bool          `json:"ok"`
	InvariantsOK bool          `json:"invariants_ok"`
	Scenario     string        `json:"scenario"`
	File         string        `json:"file"`
	Expectations []outcomeJSON `json:"expectations"`
}

type outcomeJSON struct {
	Expectation string `json:"expectation"`
	OK          bool   `json:"ok"`
	Got         string `json:"got"`
	Want        string `json:"want"`
}

func (r *scenarioReport) setScenario(file string, outcomes []expect.Outcome) {
	r.File = file
	r.InvariantsOK = r.Report.OK
	r.OK = true
	r.Expectations = r.Expectations[:0]
	for _, o := range outcomes {
		r.OK = r.OK && o.OK
		r.Expectations = append(r.Expectations, outcomeJSON(o))
	}
}

func (r *scenarioReport) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--report-json: %w", err)
	}
	return nil
}

// runPlan runs one plan on the engine and returns what the expectations
// need, the report, and the engine's result (for its history).
func runPlan(ctx context.Context, p plan.Plan, log zerolog.Logger, progress io.Writer) (expect.Observed, *scenarioReport, *loadtest.Result, error) {
	res, err := loadtest.Run(ctx, p, loadtest.WithLogger(log), loadtest.WithProgress(progress, isTerminal(progress)))
	if err != nil {
		return expect.Observed{}, nil, nil, err
	}
	obs := expect.Observe(res.History, &res.Check)
	obs.Partial = res.Partial
	return obs, &scenarioReport{Report: res.Report, Scenario: p.Name}, res, nil
}
