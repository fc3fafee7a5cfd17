package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bradfitz/gomemcache/memcache"
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

// BenchmarkVerifyVsBareMemcached reports, from one run, the verifier's rate
// on injected events (the token already issued; claim, copy to accepted/,
// delete from uploads/) against bare gomemcache Add+Delete pairs on the
// same memcached and client, at the same concurrency.
func BenchmarkVerifyVsBareMemcached(b *testing.B) {
	for _, strategy := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		for _, mc := range []string{memcached.KindEmbedded, memcached.KindProcess} {
			b.Run(strategy+"/"+mc, func(b *testing.B) {
				n := max(b.N, 500)
				r, err := emulator.Start(context.Background(), emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: mc,
					Concurrency: benchConcurrency, Config: emulator.Config{APIKey: "k", Strategy: strategy,
						Clock: clock.Real{}, Logger: zerolog.Nop(), LogLength: 1024}})
				if err != nil {
					b.Skip(err)
				}
				defer r.Close(context.Background())
				if r.Memcached == nil {
					b.Fatal("no memcached")
				}
				cache := memcached.NewClient(r.Memcached.Addrs(), benchConcurrency)
				took, err := parallel(n, benchConcurrency, func(i int) error {
					k := fmt.Sprintf("bare/%d", i)
					if err := cache.Add(&memcache.Item{Key: k, Value: []byte("valid 0"), Expiration: 3600}); err != nil {
						return err
					}
					return cache.Delete(k)
				})
				if err != nil {
					b.Fatal(err)
				}
				bare := float64(n) / took.Seconds()

				// Objects and their real events, prepared outside the timing:
				// without tokens the verifier rejects them and leaves them in
				// place; the timed phase registers each token and replays the
				// event.
				ctx := context.Background()
				s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(r.URL), UsePathStyle: true,
					Credentials: credentials.NewStaticCredentialsProvider("uploadonce", "uploadonce-secret", "")})
				var mu sync.Mutex
				var recs []events.S3EventRecord
				r.OnDelivery(func(rec events.S3EventRecord) { mu.Lock(); recs = append(recs, rec); mu.Unlock() })
				if _, err := parallel(n, benchConcurrency, func(i int) error {
					_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploadonce"),
						Key: aws.String(fmt.Sprintf("uploads/UploadFilename-bench-%d", i)), Body: strings.NewReader(fmt.Sprintf("body %d", i))})
					return err
				}); err != nil {
					b.Fatal(err)
				}
				if err := r.WaitIdle(ctx); err != nil {
					b.Fatal(err)
				}
				if len(recs) != n {
					b.Fatalf("%d events for %d objects", len(recs), n)
				}
				// Tokens are issued before the timing too: the Lambda's path
				// starts at the event.
				now := time.Now()
				for _, rec := range recs {
					if err := r.Issuer.Strategy.Register(ctx, onetime.Token{Bucket: "uploadonce", Key: rec.S3.Object.URLDecodedKey,
						Issued: now, Deadline: now.Add(time.Hour)}); err != nil {
						b.Fatal(err)
					}
				}
				var accepted atomic.Int64
				r.OnDecision(func(d onetime.Decision) {
					if d.Decision == onetime.Accepted {
						accepted.Add(1)
					}
				})
				took, err = parallel(n, benchConcurrency, func(i int) error {
					return r.Verifier.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{recs[i]}})
				})
				if err != nil {
					b.Fatal(err)
				}
				if accepted.Load() != int64(n) {
					b.Fatalf("%d of %d injected events accepted", accepted.Load(), n)
				}
				verify := float64(n) / took.Seconds()
				b.ReportMetric(bare, "bare_pairs/s")
				b.ReportMetric(verify, "verify/s")
				b.ReportMetric(verify/bare, "ratio")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
