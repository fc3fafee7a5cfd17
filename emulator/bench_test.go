package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

const benchConcurrency = 32

// parallel runs n jobs on c workers and returns the elapsed time.
func parallel(n, c int, job func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := job(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// barePresignedPuts measures presigned PUTs of 1 KiB to plain gofakes3 over
// loopback HTTP: the S3 upload alone, with nothing checked or verified.
func barePresignedPuts(b *testing.B, n int) float64 {
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer srv.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bare")}); err != nil {
		b.Fatal(err)
	}
	p := s3.NewPresignClient(c)
	urls := make([]string, n)
	for i := range urls {
		out, err := p.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bare"), Key: aws.String(fmt.Sprintf("uploads/k%d", i))})
		if err != nil {
			b.Fatal(err)
		}
		urls[i] = out.URL
	}
	hc := client.New("", "", benchConcurrency).HTTP
	body := bytes.Repeat([]byte("x"), 1024)
	took, err := parallel(n, benchConcurrency, func(i int) error {
		req, _ := http.NewRequest(http.MethodPut, urls[i], bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("bare PUT: %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / took.Seconds()
}

// pipeline measures the whole flow per URL: issue over HTTP, presigned
// upload, event, verify, copy and delete, until every decision is made.
func pipeline(b *testing.B, n int, strategy string, method onetime.Method) float64 {
	r, err := emulator.Start(context.Background(), emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: memcached.KindEmbedded,
		Concurrency: benchConcurrency, Config: emulator.Config{APIKey: "k", Strategy: strategy, Method: method,
			Clock: clock.Real{}, Logger: zerolog.Nop(), LogLength: 1024}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	var decided atomic.Int64
	r.OnDecision(func(onetime.Decision) { decided.Add(1) })
	c := client.New(r.URL+"/Prod/getpresignedurl", "k", benchConcurrency)
	body := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	start := time.Now()
	_, err = parallel(n, benchConcurrency, func(int) error {
		g, err := c.Issue(ctx)
		if err != nil {
			return err
		}
		res, err := c.Upload(ctx, g, body)
		if err != nil {
			return err
		}
		if res.Status/100 != 2 {
			return fmt.Errorf("upload: %d %s", res.Status, res.Body)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	uploaded := time.Since(start)
	defer func() { b.Logf("n=%d uploads done %v, all decided %v", n, uploaded, time.Since(start)) }()
	for decided.Load() < int64(n) {
		if time.Since(start) > time.Minute {
			b.Fatalf("%d of %d decided after a minute", decided.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkPipelineVsBare reports, from one run, the full pipeline's URL
// rate, the bare presigned PUT rate at the same concurrency, and their
// ratio. b.N is the number of URLs (and of bare PUTs).
func BenchmarkPipelineVsBare(b *testing.B) {
	for _, m := range []onetime.Method{onetime.MethodPUT, onetime.MethodPOST} {
		b.Run(string(m), func(b *testing.B) {
			n := max(b.N, 200)
			bare := barePresignedPuts(b, n)
			pipe := pipeline(b, n, onetime.CAS, m)
			b.ReportMetric(bare, "bare_puts/s")
			b.ReportMetric(pipe, "pipeline_urls/s")
			b.ReportMetric(pipe/bare, "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkPipeline is the pipeline alone, for profiling.
func BenchmarkPipeline(b *testing.B) {
	rate := pipeline(b, max(b.N, 200), onetime.CAS, onetime.MethodPUT)
	b.ReportMetric(rate, "urls/s")
}
