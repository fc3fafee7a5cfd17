package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f stackFlags
	f.register(fs, emulator.DefaultListen)
	var fn functionFlags
	fn.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	opts, err := f.options(log)
	if err != nil {
		return err
	}
	if err := fn.apply(&opts); err != nil {
		return err
	}
	if !isLoopback(f.listen) {
		log.Warn().Str("listen", f.listen).Msg("listening beyond loopback: anyone who can reach this address can use the emulator")
	}

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	r, err := emulator.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	printBanner(stdout, r, opts)
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

func printBanner(w io.Writer, r *emulator.Running, o emulator.StartOptions) {
	cfg := r.Config()
	mc := "none (the strategy keeps no tokens)"
	if r.Memcached != nil {
		mc = r.Memcached.Describe()
	}
	clockKind := "real"
	if strings.Contains(fmt.Sprintf("%T", cfg.Clock), "Virtual") {
		clockKind = "virtual (POST " + r.URL + emulator.InspectPrefix + "clock?advance=40s)"
	}
	fmt.Fprintf(w, `uploadonce %s
  API URL        %s%s
  API key        %s
  S3 endpoint    %s  (path-style)
  bucket         %s  (region %s)
  credentials    AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s
  memcached      %s
  strategy       %s  (upload method %s, URL expiry %v, token TTL %v)
  clock          %s
  inspect        %s%shealth | decisions | events, %s/metrics
`, version, r.URL, issueapi.Path(cfg.Stage), cfg.APIKey, r.URL, cfg.Bucket, cfg.Region,
		cfg.AccessKeyID, cfg.SecretAccessKey, mc, cfg.Strategy, cfg.Method, cfg.URLExpiry, cfg.TokenTTL,
		clockKind, r.URL, emulator.InspectPrefix, r.URL)
}
