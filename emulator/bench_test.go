package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
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
	"github.com/uploadonce/uploadonce/emulator/lambda"
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

// benchRounds is how many times each comparison alternates its two sides;
// the reported figures are medians over the rounds, so one noisy phase on
// a shared machine does not decide the ratio.
const benchRounds = 5

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// trivialRequests measures the cheapest HTTP exchange on the same client:
// a GET answered with a small JSON body, like the issue endpoint's.
func trivialRequests(b *testing.B, n int) float64 {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"url":"http://127.0.0.1/uploadonce","fields":{}}`))
	}))
	defer srv.Close()
	hc := client.New("", "", benchConcurrency).HTTP
	took, err := parallel(n, benchConcurrency, func(int) error {
		resp, err := hc.Get(srv.URL + "/Prod/getpresignedurl")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / took.Seconds()
}

// memcachedGets measures gomemcache round trips (get of a missing key) to
// an embedded memcached over loopback TCP at the bench concurrency.
func memcachedGets(b *testing.B, n int) float64 {
	e := memcached.NewEmbedded()
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	cache := memcached.NewClient([]string{e.Addr()}, benchConcurrency)
	took, err := parallel(n, benchConcurrency, func(i int) error {
		if _, err := cache.Get(fmt.Sprintf("missing/%d", i)); !errors.Is(err, memcache.ErrCacheMiss) {
			return fmt.Errorf("get: %v", err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / took.Seconds()
}

// BenchmarkPipelineVsBare reports the full pipeline's URL rate, the bare
// presigned PUT rate at the same concurrency, and their ratio: medians of
// benchRounds alternating rounds in one run. b.N is the number of URLs
// (and of bare PUTs) per round.
//
// It also reports bound_ratio, the ratio the pipeline could reach if a URL
// cost nothing but its unavoidable round trips, each measured in the same
// run on the same client: one bare PUT (the upload), one minimal HTTP
// exchange (the issue request) and three memcached round trips (add at
// issue; gets and cas at verify). On a machine where the load generator
// and the emulator share the cores, those costs add up, so the pipeline's
// ratio cannot exceed bound_ratio whatever the emulator does.
func BenchmarkPipelineVsBare(b *testing.B) {
	for _, m := range []onetime.Method{onetime.MethodPUT, onetime.MethodPOST} {
		b.Run(string(m), func(b *testing.B) {
			n := max(b.N, 200)
			var bares, pipes, ratios, bounds []float64
			for range benchRounds {
				bare := barePresignedPuts(b, n)
				pipe := pipeline(b, n, onetime.CAS, m)
				httpRate, mcRate := trivialRequests(b, n), memcachedGets(b, 3*n)
				bares, pipes, ratios = append(bares, bare), append(pipes, pipe), append(ratios, pipe/bare)
				bounds = append(bounds, (1/bare)/(1/bare+1/httpRate+3/mcRate))
			}
			b.ReportMetric(median(bares), "bare_puts/s")
			b.ReportMetric(median(pipes), "pipeline_urls/s")
			b.ReportMetric(median(ratios), "ratio")
			b.ReportMetric(slices.Min(ratios), "ratio_min")
			b.ReportMetric(slices.Max(ratios), "ratio_max")
			b.ReportMetric(median(bounds), "bound_ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkPipeline is the pipeline alone, for profiling.
func BenchmarkPipeline(b *testing.B) {
	rate := pipeline(b, max(b.N, 200), onetime.CAS, onetime.MethodPUT)
	b.ReportMetric(rate, "urls/s")
}

// uploadEvents uploads n objects to uploads/ over the SDK and returns their
// S3 events as delivered, once the emulator is idle.
func uploadEvents(b *testing.B, r *emulator.Running, n int) []events.S3EventRecord {
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
	mu.Lock()
	defer mu.Unlock()
	if len(recs) != n {
		b.Fatalf("%d events for %d objects", len(recs), n)
	}
	return recs
}

// BenchmarkVerifyVsBareMemcached reports the verifier's rate on injected
// events (the token already issued; claim, copy to accepted/, delete from
// uploads/) against bare gomemcache Add+Delete pairs on the same memcached
// and client, at the same concurrency: medians of benchRounds alternating
// rounds in one run. b.N is the number of events (and of pairs) per round.
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

				// Objects and their real events, prepared outside the timing:
				// without tokens the verifier rejects them and leaves them in
				// place; each round registers its tokens and replays its events.
				ctx := context.Background()
				recs := uploadEvents(b, r, n*benchRounds)
				var accepted atomic.Int64
				r.OnDecision(func(d onetime.Decision) {
					if d.Decision == onetime.Accepted {
						accepted.Add(1)
					}
				})

				// rounds alternates bare pairs with verifying the events
				// batch(round) returns, and gives the medians.
				rounds := func(label string, batch func(round int) []events.S3EventRecord) (bare, verify, ratio float64) {
					var bares, verifies, ratios []float64
					for round := range benchRounds {
						took, err := parallel(n, benchConcurrency, func(i int) error {
							k := fmt.Sprintf("bare/%s/%d/%d", label, round, i)
							if err := cache.Add(&memcache.Item{Key: k, Value: []byte("valid 0"), Expiration: 3600}); err != nil {
								return err
							}
							return cache.Delete(k)
						})
						if err != nil {
							b.Fatal(err)
						}
						bare := float64(n) / took.Seconds()

						// Tokens are issued before the timing too: the
						// Lambda's path starts at the event.
						recs := batch(round)
						now := time.Now()
						for _, rec := range recs {
							if err := r.Issuer.Strategy.Register(ctx, onetime.Token{Bucket: "uploadonce", Key: rec.S3.Object.URLDecodedKey,
								Issued: now, Deadline: now.Add(time.Hour)}); err != nil {
								b.Fatal(err)
							}
						}
						before := accepted.Load()
						took, err = parallel(n, benchConcurrency, func(i int) error {
							return r.Verifier.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{recs[i]}})
						})
						if err != nil {
							b.Fatal(err)
						}
						if got := accepted.Load() - before; got != int64(n) {
							b.Fatalf("%s round %d: %d of %d injected events accepted", label, round, got, n)
						}
						verify := float64(n) / took.Seconds()
						bares, verifies, ratios = append(bares, bare), append(verifies, verify), append(ratios, verify/bare)
					}
					return median(bares), median(verifies), median(ratios)
				}
				bare, verify, ratio := rounds("s3", func(round int) []events.S3EventRecord { return recs[round*n : (round+1)*n] })

				// The same rounds with an object store that does nothing:
				// what the claim and the verifier's own logic cost, without
				// s3mem's copy and delete.
				r.Verifier.Objects = discardObjects{}
				_, _, ratioNoS3 := rounds("no-s3", func(round int) []events.S3EventRecord {
					out := make([]events.S3EventRecord, n)
					for i := range out {
						out[i] = recs[i]
						out[i].S3.Object.URLDecodedKey = fmt.Sprintf("uploads/UploadFilename-claim-%d-%d", round, i)
						out[i].S3.Object.Key = out[i].S3.Object.URLDecodedKey
					}
					return out
				})
				b.ReportMetric(bare, "bare_pairs/s")
				b.ReportMetric(verify, "verify/s")
				b.ReportMetric(ratio, "ratio")
				b.ReportMetric(ratioNoS3, "ratio_no_s3")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// discardObjects is an object store whose copies and deletes succeed
// without doing anything.
type discardObjects struct{}

func (discardObjects) Copy(context.Context, onetime.CopyInput) error     { return nil }
func (discardObjects) Delete(context.Context, onetime.DeleteInput) error { return nil }
func (discardObjects) Head(context.Context, string, string) (onetime.ObjectInfo, error) {
	return onetime.ObjectInfo{}, nil
}

// BenchmarkVerify is each strategy's verify of one upload, from its real
// S3 event: claim, copy to accepted/, then delete or keep the source. The
// memcached strategies use the embedded server with the token issued
// before the timing. Setup uploads b.N objects whose deliveries fail
// before the handler runs (a function error on every invocation, no
// retries), so the timed loop decides each upload once, in order.
func BenchmarkVerify(b *testing.B) {
	for _, strategy := range onetime.StrategyNames() {
		b.Run(strategy, func(b *testing.B) {
			method := onetime.MethodPOST
			if strategy == onetime.IfNoneMatch {
				method = onetime.MethodPUT
			}
			ctx := context.Background()
			r, err := emulator.Start(ctx, emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: memcached.KindEmbedded,
				Concurrency: benchConcurrency, Config: emulator.Config{APIKey: "k", Strategy: strategy, Method: method,
					Clock: clock.Real{}, Logger: zerolog.Nop(), LogLength: 1024,
					FunctionErrorRate: 1, Lambda: lambda.Config{NoRetries: true}}})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(ctx)
			recs := uploadEvents(b, r, b.N)
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
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.Verifier.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{recs[i]}}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if accepted.Load() != int64(b.N) {
				b.Fatalf("%d of %d uploads accepted", accepted.Load(), b.N)
			}
		})
	}
}
