package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/onetime/rendezvous"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

// providers lists every memcached kind with the reason this machine cannot
// run it ("" when it can). A kind listed in UPLOADONCE_REQUIRE_MEMCACHED
// (CI sets it) must be available.
func providers(t *testing.T) []provider {
	t.Helper()
	ps := []provider{{kind: memcached.KindEmbedded}, {kind: memcached.KindProcess}, {kind: memcached.KindContainer}}
	if _, err := exec.LookPath("memcached"); err != nil {
		if _, err := os.Stat("/usr/bin/memcached"); err != nil {
			ps[1].missing = "no memcached binary on PATH or in /usr/bin"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !memcached.DockerAvailable(ctx) {
		ps[2].missing = "the Docker engine does not answer"
	} else if img, err := memcached.ResolveImage(ctx, ""); err != nil || !imagePresent(ctx, img) {
		ps[2].missing = "no local image " + img + " (make memcached-image; set " + memcached.ImageEnv + ")"
	}
	for _, req := range strings.Split(os.Getenv("UPLOADONCE_REQUIRE_MEMCACHED"), ",") {
		req = strings.TrimSpace(req)
		if req == "" {
			continue
		}
		i := slices.IndexFunc(ps, func(p provider) bool { return p.kind == req })
		if i < 0 || ps[i].missing != "" {
			t.Fatalf("memcached provider %q is required (UPLOADONCE_REQUIRE_MEMCACHED) but not available: %s", req, ps[max(i, 0)].missing)
		}
	}
	return ps
}

// provider is a memcached kind, and why it cannot run here when it cannot.
type provider struct {
	kind    string
	missing string
}

// eachProvider runs f in a subtest per memcached kind. A kind this machine
// cannot run is a skipped subtest that says why, so that a provider never
// drops out of a run unseen.
func eachProvider(t *testing.T, f func(t *testing.T, mc string)) {
	t.Helper()
	for _, p := range providers(t) {
		t.Run(p.kind, func(t *testing.T) {
			if p.missing != "" {
				t.Skipf("SKIP memcached provider %s: %s", p.kind, p.missing)
			}
			f(t, p.kind)
		})
	}
}

func imagePresent(ctx context.Context, image string) bool {
	ok, _ := memcached.ImagePresent(ctx, image)
	return ok
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

type stack struct {
	*emulator.Running
	client *client.Client
	clock  *clock.Virtual
}

func start(t *testing.T, mc string, mutate func(*emulator.StartOptions)) *stack {
	t.Helper()
	v := clock.NewVirtual(time.Now().UTC().Truncate(time.Second))
	o := emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: mc, Config: emulator.Config{
		APIKey: "test-key", Clock: v, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)}}
	if mutate != nil {
		mutate(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := emulator.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return &stack{Running: r, clock: v, client: client.New(r.URL+"/Prod/getpresignedurl", "test-key", 8)}
}

func (s *stack) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Settle(ctx, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
}

// decisionsFor returns the decisions of key, read over HTTP as a user would.
func (s *stack) decisionsFor(t *testing.T, key string) (accepted, rejected int) {
	t.Helper()
	resp, err := http.Get(s.URL + "/_uploadonce/decisions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, f := range []string{"key", "decision", "reason", "eTag", "versionId", "sequencer", "time"} {
			if _, ok := d[f]; !ok {
				t.Fatalf("decision %v lacks %q", d, f)
			}
		}
		if d["key"] != key {
			continue
		}
		switch d["decision"] {
		case "accepted":
			accepted++
		case "rejected":
			rejected++
		}
	}
	return accepted, rejected
}

func (s *stack) eventsFor(t *testing.T, key string) int {
	t.Helper()
	n := 0
	for _, rec := range s.Deliveries() {
		if rec.S3.Object.URLDecodedKey == key {
			n++
		}
	}
	return n
}

// referenceClients are the reference's four client programs.
var referenceClients = []struct {
	name         string
	uploads      int
	wait         time.Duration
	wantStatus   int
	wantAccepted int
	wantRejected int
}{
	{"upload", 1, 0, 204, 1, 0},
	{"upload2x", 2, 0, 204, 1, 1},
	{"upload3x", 3, 0, 204, 1, 2},
	{"upload_with_delay", 1, 40 * time.Second, 403, 0, 0},
}

// runReferenceClients runs each reference client against s, one subtest
// each, and checks statuses, decisions and (for the late one) no event.
func runReferenceClients(t *testing.T, s *stack) {
	ctx := context.Background()
	for _, tc := range referenceClients {
		t.Run(tc.name, func(t *testing.T) {
			g, err := s.client.Issue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s.clock.Advance(tc.wait)
			for i := range tc.uploads {
				res, err := s.client.Upload(ctx, g, []byte("reference file\n"))
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tc.wantStatus {
					t.Fatalf("upload %d: status %d %s, want %d", i+1, res.Status, res.Body, tc.wantStatus)
				}
				if tc.wantStatus == 403 && !strings.Contains(string(res.Body), "Invalid according to Policy: Policy expired.") {
					t.Fatalf("late upload body %s", res.Body)
				}
			}
			s.settle(t)
			acc, rej := s.decisionsFor(t, g.Key)
			if acc != tc.wantAccepted || rej != tc.wantRejected {
				for _, d := range s.Decisions() {
					if d.Key == g.Key {
						t.Logf("%+v", d)
					}
				}
				t.Fatalf("accepted %d, rejected %d; want %d, %d", acc, rej, tc.wantAccepted, tc.wantRejected)
			}
			if tc.wantStatus == 403 && s.eventsFor(t, g.Key) != 0 {
				t.Fatal("a refused upload produced an event")
			}
		})
	}
}

// TestReferenceClients reproduces the four reference clients, plus the
// tampered and keyless requests, on every memcached provider available.
func TestReferenceClients(t *testing.T) {
	eachProvider(t, func(t *testing.T, mc string) {
		s := start(t, mc, func(o *emulator.StartOptions) { o.Strategy = onetime.CAS })
		ctx := context.Background()
		runReferenceClients(t, s)
		t.Run("tampered signature", func(t *testing.T) {
			g, err := s.client.Issue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			g.Fields["x-amz-signature"] = strings.Repeat("a", 64)
			for k := range g.Fields {
				if strings.EqualFold(k, "x-amz-signature") {
					g.Fields[k] = strings.Repeat("a", 64)
				}
			}
			res, err := s.client.Upload(ctx, g, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 403 || !strings.Contains(string(res.Body), "<Code>SignatureDoesNotMatch</Code>") {
				t.Fatalf("tampered upload = %d %s", res.Status, res.Body)
			}
		})
		t.Run("no API key", func(t *testing.T) {
			for _, key := range []string{"", "wrong"} {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/Prod/getpresignedurl", nil)
				if key != "" {
					req.Header.Set("x-api-key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 403 || strings.TrimSpace(string(b)) != `{"message":"Forbidden"}` {
					t.Fatalf("key %q: %d %s", key, resp.StatusCode, b)
				}
			}
		})
	})
}

func TestPutModeTwice(t *testing.T) {
	eachProvider(t, func(t *testing.T, mc string) {
		s := start(t, mc, func(o *emulator.StartOptions) { o.Method = onetime.MethodPUT; o.Strategy = onetime.Delete })
		ctx := context.Background()
		g, err := s.client.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if g.Method != http.MethodPut {
			t.Fatalf("grant method %s", g.Method)
		}
		for i := range 2 {
			res, err := s.client.Upload(ctx, g, []byte("put body"))
			if err != nil || res.Status != 200 {
				t.Fatalf("PUT %d = %+v, %v", i+1, res, err)
			}
		}
		s.settle(t)
		if acc, rej := s.decisionsFor(t, g.Key); acc != 1 || rej != 1 {
			t.Fatalf("accepted %d, rejected %d; want 1, 1", acc, rej)
		}
	})
}

// TestGetDeleteRace fires concurrent duplicates at many URLs: the
// reference's get-delete lets some URLs be accepted twice; delete and cas
// never do.
func TestGetDeleteRace(t *testing.T) {
	const urls, dups = 300, 3
	results := map[string]int{}
	met := map[string]int{}
	for _, strategy := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		var rv *rendezvous.Cache
		s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
			o.Strategy = strategy
			o.Lambda.Concurrency = 64
			o.Concurrency = 64
			// The claims of 8 URLs are forced to meet after their gets, so
			// the race shows on every run, however idle the machine.
			o.WrapCache = func(c onetime.Cache) onetime.Cache { rv = rendezvous.New(c, dups, 8); return rv }
		})
		// A little memcached latency widens the window between get and delete,
		// as a network between Lambda and ElastiCache does.
		s.Memcached.Embedded().SetLatency(200 * time.Microsecond)
		ctx := context.Background()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for range urls {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				g, err := s.client.Issue(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				var uw sync.WaitGroup
				for range dups {
					uw.Add(1)
					go func() {
						defer uw.Done()
						if res, err := s.client.Upload(ctx, g, []byte("same bytes")); err != nil || res.Status != 204 {
							t.Errorf("upload = %+v, %v", res, err)
						}
					}()
				}
				uw.Wait()
			}()
		}
		wg.Wait()
		s.settle(t)
		perKey := map[string]int{}
		for _, d := range s.Decisions() {
			if d.Decision == onetime.Accepted && !d.Redelivery {
				perKey[d.Key]++
			}
		}
		double, once := 0, 0
		for _, n := range perKey {
			switch {
			case n > 1:
				double++
			case n == 1:
				once++
			}
		}
		results[strategy], met[strategy] = double, rv.Met()
		if rv.Met() == 0 {
			t.Errorf("%s: no URL's claims met; the schedule was not forced", strategy)
		}
		t.Logf("%s: %d of %d URLs accepted more than once", strategy, double, urls)
		// delete and cas owe every URL exactly one accept: no memcached
		// fault loses a token here, so none may end with none.
		if strategy != onetime.GetDelete && (once != urls || len(perKey) != urls) {
			t.Errorf("%s: %d of %d URLs accepted exactly once, %d accepted at all; want all %d once", strategy, once, urls, len(perKey), urls)
		}
	}
	if results[onetime.GetDelete] < met[onetime.GetDelete] {
		t.Errorf("get-delete double-accepted %d of %d URLs, fewer than the %d forced to race", results[onetime.GetDelete], urls, met[onetime.GetDelete])
	}
	if results[onetime.Delete] != 0 || results[onetime.CAS] != 0 {
		t.Errorf("double accepts: delete %d, cas %d; want 0", results[onetime.Delete], results[onetime.CAS])
	}
}
