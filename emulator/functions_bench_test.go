package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

// BenchmarkFunctionVsInProcess reports the pipeline's URL rate (issue,
// upload, event, verify, copy) with the in-process issuer and verifier and
// with bin/lambda as both functions over the Runtime API, for the same load
// on the same memcached: medians of benchRounds alternating rounds. b.N is
// the number of URLs per round. Each stack is warmed with one URL per
// worker first, so that process starts are not timed.
//
//	go test -run '^$' -bench FunctionVsInProcess -benchtime 2000x ./emulator/
func BenchmarkFunctionVsInProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "lambda")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/lambda").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	mc := memcached.KindEmbedded
	if _, err := exec.LookPath("memcached"); err == nil {
		mc = memcached.KindProcess
	}
	var inproc, fn []float64
	for range benchRounds {
		inproc = append(inproc, warmPipeline(b, b.N, mc, ""))
		fn = append(fn, warmPipeline(b, b.N, mc, bin))
	}
	ratios := make([]float64, benchRounds)
	for i := range ratios {
		ratios[i] = fn[i] / inproc[i]
	}
	b.ReportMetric(median(inproc), "inprocess_urls/s")
	b.ReportMetric(median(fn), "function_urls/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(0, "ns/op")
}

// warmPipeline runs n URLs through a fresh stack (with function as both
// functions when set) after a warm-up, and returns URLs per second until
// every decision is made.
func warmPipeline(b *testing.B, n int, mc, function string) float64 {
	r, err := emulator.Start(context.Background(), emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: mc,
		Concurrency: benchConcurrency, Config: emulator.Config{APIKey: "k", Strategy: onetime.CAS,
			Clock: clock.Real{}, Logger: zerolog.Nop(), LogLength: 1024, VerifyFunction: function, IssueFunction: function}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	var decided atomic.Int64
	r.OnDecision(func(onetime.Decision) { decided.Add(1) })
	c := client.New(r.URL+"/Prod/getpresignedurl", "k", benchConcurrency)
	body := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	one := func(int) error {
		g, err := c.Issue(ctx)
		if err != nil {
			return err
		}
		res, err := c.Upload(ctx, g, body)
		if err == nil && res.Status/100 != 2 {
			err = fmt.Errorf("upload: %d %s", res.Status, res.Body)
		}
		return err
	}
	wait := func(want int64, since time.Time) {
		for decided.Load() < want {
			if time.Since(since) > 2*time.Minute {
				b.Fatalf("%d of %d decided", decided.Load(), want)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if _, err := parallel(benchConcurrency, benchConcurrency, one); err != nil {
		b.Fatal(err)
	}
	wait(benchConcurrency, time.Now())
	start := time.Now()
	if _, err := parallel(n, benchConcurrency, one); err != nil {
		b.Fatal(err)
	}
	wait(int64(benchConcurrency+n), start)
	return float64(n) / time.Since(start).Seconds()
}
