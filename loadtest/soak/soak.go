// Package soak drives a running `uploadonce serve` at a steady rate for
// minutes and watches what it costs: the server's resident set, heap,
// goroutines and file descriptors from its /metrics, against the bytes it
// accepted. It answers issue 16's question, whether serve stays bounded:
// between the baseline (1 min in) and the end, the resident set may grow by
// the accepted objects' bytes (serve keeps them, as S3 would) plus a fixed
// allowance, and no more.
//
// It speaks only HTTP to the server, so its own memory never mixes with the
// figures, and it keeps counters, not per-URL state.
package soak

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/client"
)

// Defaults: issue 16's soak.
const (
	DefaultRate        = 100
	DefaultDuration    = 5 * time.Minute
	DefaultSize        = 1 << 10
	DefaultDouble      = 0.2
	DefaultConcurrency = 64
	DefaultBaseline    = time.Minute
	DefaultSample      = 10 * time.Second
	// DefaultAllowance is what the resident set may grow beyond the bytes
	// accepted between the baseline and the end.
	DefaultAllowance = 32 << 20
	// settleTimeout bounds the wait for the server's last events, and
	// startTimeout the wait for a server that is starting.
	settleTimeout = time.Minute
	startTimeout  = 30 * time.Second
)

// Options configure Run. Target and APIKey are required; zero values of the
// others take the defaults above.
type Options struct {
	Target      string // serve's base URL, e.g. http://127.0.0.1:4566
	APIKey      string
	Stage       string  // "Prod" when empty
	Rate        float64 // URLs started per second
	Duration    time.Duration
	Size        int     // body bytes of each upload
	Double      float64 // fraction of URLs uploaded twice, one after the other, with other bytes
	Concurrency int     // URLs in flight at most
	Baseline    time.Duration
	Sample      time.Duration
	Allowance   int64
	// Progress, when set, gets a line per sample.
	Progress io.Writer
}

func (o *Options) fill() error {
	if o.Target == "" || o.APIKey == "" {
		return errors.New("soak needs the target's base URL and its API key")
	}
	if o.Stage == "" {
		o.Stage = "Prod"
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	o.Duration = orDuration(o.Duration, DefaultDuration)
	o.Baseline = orDuration(o.Baseline, DefaultBaseline)
	o.Sample = orDuration(o.Sample, DefaultSample)
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Allowance == 0 {
		o.Allowance = DefaultAllowance
	}
	switch {
	case o.Rate < 0 || o.Rate > 10_000:
		return errors.New("rate must be between 0 and 10000 URLs/s")
	case o.Double < 0 || o.Double > 1:
		return errors.New("double must be a fraction between 0 and 1")
	case o.Size < 0 || o.Size > 64<<20:
		return errors.New("size must be between 0 and 64 MiB")
	case o.Baseline >= o.Duration:
		return errors.New("the baseline must come before the end of the run")
	case o.Concurrency < 1 || o.Concurrency > 4096:
		return errors.New("concurrency must be between 1 and 4096")
	}
	return nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Result is what a soak measured.
type Result struct {
	Options  Options  `json:"-"`
	URLs     int64    `json:"urls"`
	OKURLs   int64    `json:"urls_with_2xx"`
	Uploads  int64    `json:"uploads"`
	OK       int64    `json:"uploads_2xx"`
	Failed   int64    `json:"uploads_failed"` // non-2xx answers and transport errors
	Late     int64    `json:"late_starts"`    // URLs started late: concurrency was exhausted
	Samples  []Sample `json:"samples"`
	Baseline Sample   `json:"baseline"`
	End      Sample   `json:"end"`
	Settled  Sample   `json:"settled"`
	// Growth is End.RSS - Baseline.RSS; Budget the accepted bytes between
	// them plus the allowance.
	Growth int64 `json:"rss_growth_bytes"`
	Budget int64 `json:"rss_budget_bytes"`
	// LostURLs are URLs with a 2xx upload and no accept once the server
	// settled.
	LostURLs int64 `json:"lost_urls"`
	Within   bool  `json:"within_budget"`
}

// Run soaks the target and returns what it measured. The error is for a run
// that could not start or judge; a run that exceeded its budget returns a
// Result with Within false.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	m := &meter{target: o.Target, http: &http.Client{Timeout: 10 * time.Second}}
	start, err := m.scrape(0)
	for wait := time.Now().Add(startTimeout); err != nil && time.Now().Before(wait) && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond) // a serve started just before may still be starting
		start, err = m.scrape(0)
	}
	if err != nil {
		return nil, fmt.Errorf("read the target's /metrics: %w", err)
	}
	res := &Result{Options: o, Samples: []Sample{start}}
	d := &driver{o: o, c: client.New(o.Target+"/"+o.Stage+"/getpresignedurl", o.APIKey, o.Concurrency), res: res}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	sampled := make(chan error, 1)
	began := time.Now()
	go func() { sampled <- d.sample(runCtx, m, began) }()
	d.drive(runCtx)
	if err := <-sampled; err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, d.finish(ctx, m, began)
}

// driver starts URLs at the rate and counts what happened.
type driver struct {
	o   Options
	c   *client.Client
	res *Result
	mu  sync.Mutex // guards res.Samples
	n   struct{ urls, okURLs, uploads, ok, failed, late atomic.Int64 }
}

// drive starts one URL every 1/rate until ctx ends, at most Concurrency in
// flight, and waits for those in flight.
func (d *driver) drive(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / d.o.Rate)
	slots := make(chan struct{}, d.o.Concurrency)
	var wg sync.WaitGroup
	next := time.Now()
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			wg.Wait()
			return
		}
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-time.After(wait):
			}
		}
		next = next.Add(interval)
		select {
		case slots <- struct{}{}:
		default:
			d.n.late.Add(1)
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
		}
		// Every URL at which the running share of doubles steps up: an even
		// spread of exactly Double, no randomness needed.
		twice := int(float64(i+1)*d.o.Double) > int(float64(i)*d.o.Double)
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			d.one(ctx, twice)
		}()
	}
}

// one issues a URL and uploads to it once, or twice one after the other
// with other bytes, as the holder of a URL who changed the file would.
func (d *driver) one(ctx context.Context, twice bool) {
	g, err := d.c.Issue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.n.failed.Add(1)
		}
		return
	}
	d.n.urls.Add(1)
	uploads := 1
	if twice {
		uploads = 2
	}
	anyOK := false
	for range uploads {
		body := make([]byte, d.o.Size)
		_, _ = rand.Read(body)
		d.n.uploads.Add(1)
		res, err := d.c.Upload(context.WithoutCancel(ctx), g, body)
		if err != nil || res.Status/100 != 2 {
			d.n.failed.Add(1)
			continue
		}
		d.n.ok.Add(1)
		anyOK = true
	}
	if anyOK {
		d.n.okURLs.Add(1)
	}
}
