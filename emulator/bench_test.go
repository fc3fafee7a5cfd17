package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3store"
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

// skeleton measures the pipeline's physical floor at the bench concurrency:
// per URL the same round trips as the pipeline and no other work, on the
// same client and memcached. An HTTP issue request adds a token to memcached
// and answers a URL presigned beforehand; the client PUTs 1 KiB to plain
// gofakes3 (on s3store, with nothing checked and no events); once the
// object is stored, a worker off the request path runs gets and cas on the
// token. The rate counts until every token is consumed.
func skeleton(b *testing.B, n int, mcAddrs []string) float64 {
	ctx := context.Background()
	cache := memcached.NewClient(mcAddrs, benchConcurrency)
	store := s3store.New()
	if err := store.CreateBucket("bare"); err != nil {
		b.Fatal(err)
	}
	faker := gofakes3.New(store, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	round := fmt.Sprintf("skeleton/%d/", time.Now().UnixNano())
	var grants [][]byte
	var issued, consumed atomic.Int64
	verify := make(chan string, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Prod/getpresignedurl" {
			i := issued.Add(1) - 1
			if err := cache.Add(&memcache.Item{Key: fmt.Sprintf("%s%d", round, i), Value: []byte("valid"), Expiration: 3600}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(grants[i])
			return
		}
		faker.ServeHTTP(w, r)
		if r.Method == http.MethodPut {
			verify <- round + strings.TrimPrefix(r.URL.Path, "/bare/uploads/")
		}
	}))
	defer srv.Close()
	grants = presignGrants(b, srv.URL, n)

	var errOnce sync.Once
	var firstErr error
	for range benchConcurrency {
		go func() {
			for key := range verify {
				it, err := cache.Get(key)
				if err == nil {
					it.Value = []byte("consumed")
					err = cache.CompareAndSwap(it)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
				consumed.Add(1)
			}
		}()
	}
	defer close(verify)
	c := client.New(srv.URL+"/Prod/getpresignedurl", "", benchConcurrency)
	body := bytes.Repeat([]byte("x"), 1024)
	start := time.Now()
	if _, err := parallel(n, benchConcurrency, func(int) error { return issueAndUpload(ctx, c, body) }); err != nil {
		b.Fatal(err)
	}
	for consumed.Load() < int64(n) {
		if time.Since(start) > time.Minute {
			b.Fatalf("%d of %d tokens consumed after a minute", consumed.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	errOnce.Do(func() {}) // every worker is done with firstErr
	if firstErr != nil {
		b.Fatalf("skeleton verify: %v", firstErr)
	}
	return float64(n) / time.Since(start).Seconds()
}

// presignGrants presigns n PUT URLs on base and returns each as the issue
// API's PUT-mode answer.
func presignGrants(b *testing.B, base string, n int) [][]byte {
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	p := s3.NewPresignClient(c)
	out := make([][]byte, n)
	for i := range out {
		key := fmt.Sprintf("uploads/%d", i)
		req, err := p.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bare"), Key: aws.String(key)})
		if err != nil {
			b.Fatal(err)
		}
		out[i], _ = json.Marshal(map[string]string{"url": req.URL, "method": "PUT", "key": key})
	}
	return out
}

func issueAndUpload(ctx context.Context, c *client.Client, body []byte) error {
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
}

// pipeline measures the whole flow per URL: issue over HTTP, presigned
// upload, event, verify, copy and delete, until every decision is made.
// mc is a memcached spec (memcached.ParseSpec).
func pipeline(b *testing.B, n int, strategy string, method onetime.Method, mc string) float64 {
	r, err := emulator.Start(context.Background(), emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: mc,
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
	if _, err := parallel(n, benchConcurrency, func(int) error { return issueAndUpload(ctx, c, body) }); err != nil {
		b.Fatal(err)
	}
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

// startMemcached starts one memcached of kind for a whole comparison, so
// both sides of every round use the same server; it skips when kind is
// not available here.
func startMemcached(b *testing.B, kind string) *memcached.Server {
	srv, err := memcached.Start(context.Background(), memcached.Spec{Kind: kind}, memcached.WithLogger(zerolog.Nop()))
	if err != nil {
		b.Skipf("memcached %s: %v", kind, err)
	}
	b.Cleanup(func() { _ = srv.Close(context.Background()) })
	return srv
}

// BenchmarkPipelineVsSkeleton reports the full pipeline's URL rate (cas,
// one upload per URL), the skeleton's rate (its physical floor: the same
// round trips and no other work) and their ratio, on one memcached server
// per sub-benchmark: medians of benchRounds alternating rounds in one run,
// with the rounds' min and max ratio. b.N is the number of URLs per round.
// The skeleton always PUTs; the pipeline uses the method in the name.
func BenchmarkPipelineVsSkeleton(b *testing.B) {
	for _, mc := range []string{memcached.KindProcess, memcached.KindEmbedded} {
		for _, m := range []onetime.Method{onetime.MethodPOST, onetime.MethodPUT} {
			b.Run(mc+"/"+string(m), func(b *testing.B) {
				n := max(b.N, 200)
				srv := startMemcached(b, mc)
				spec := memcached.Spec{Kind: memcached.KindExternal, Addrs: srv.Addrs()}.String()
				var skels, pipes, ratios []float64
				for range benchRounds {
					skel := skeleton(b, n, srv.Addrs())
					pipe := pipeline(b, n, onetime.CAS, m, spec)
					skels, pipes, ratios = append(skels, skel), append(pipes, pipe), append(ratios, pipe/skel)
				}
				b.ReportMetric(median(skels), "skeleton_urls/s")
				b.ReportMetric(median(pipes), "pipeline_urls/s")
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(slices.Min(ratios), "ratio_min")
				b.ReportMetric(slices.Max(ratios), "ratio_max")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkPipeline is the pipeline alone (cas, process memcached), for
// profiling.
func BenchmarkPipeline(b *testing.B) {
	for _, m := range []onetime.Method{onetime.MethodPOST, onetime.MethodPUT} {
		b.Run(string(m), func(b *testing.B) {
			srv := startMemcached(b, memcached.KindProcess)
			spec := memcached.Spec{Kind: memcached.KindExternal, Addrs: srv.Addrs()}.String()
			b.ReportMetric(pipeline(b, max(b.N, 200), onetime.CAS, m, spec), "urls/s")
		})
	}
}

// BenchmarkSkeleton is the skeleton alone, for profiling.
func BenchmarkSkeleton(b *testing.B) {
	srv := startMemcached(b, memcached.KindProcess)
	b.ReportMetric(skeleton(b, max(b.N, 200), srv.Addrs()), "urls/s")
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
				rounds := func(label string, batch func(round int) []events.S3EventRecord) (bare, verify float64, ratios []float64) {
					var bares, verifies []float64
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
					return median(bares), median(verifies), ratios
				}
				bare, verify, ratios := rounds("s3", func(round int) []events.S3EventRecord { return recs[round*n : (round+1)*n] })

				// The same rounds with an object store that does nothing:
				// what the claim and the verifier's own logic cost, without
				// the store's copy and delete.
				r.Verifier.Objects = discardObjects{}
				_, _, ratiosNoS3 := rounds("no-s3", func(round int) []events.S3EventRecord {
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
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(slices.Min(ratios), "ratio_min")
				b.ReportMetric(slices.Max(ratios), "ratio_max")
				b.ReportMetric(median(ratiosNoS3), "ratio_no_s3")
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
