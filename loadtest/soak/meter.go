package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sample is the server's state at one moment of the run.
type Sample struct {
	At         time.Duration `json:"at"`
	RSS        int64         `json:"rss_bytes"`  // process_resident_memory_bytes
	Heap       int64         `json:"heap_bytes"` // go_memstats_heap_inuse_bytes
	Goroutines int64         `json:"goroutines"`
	OpenFDs    int64         `json:"open_fds"`
	// Accepted counts the verifier's accept decisions so far.
	Accepted int64 `json:"accepted"`
}

// meter reads the target's /metrics.
type meter struct {
	target string
	http   *http.Client
}

// scrape reads one Sample; it needs the Go and process collectors that
// serve registers.
func (m *meter) scrape(at time.Duration) (Sample, error) {
	resp, err := m.http.Get(m.target + "/metrics")
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("/metrics answered %d", resp.StatusCode)
	}
	s := Sample{At: at, RSS: -1}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "process_resident_memory_bytes":
			s.RSS = int64(v)
		case name == "go_memstats_heap_inuse_bytes":
			s.Heap = int64(v)
		case name == "go_goroutines":
			s.Goroutines = int64(v)
		case name == "process_open_fds":
			s.OpenFDs = int64(v)
		case strings.HasPrefix(name, `uploadonce_decisions_total{decision="accepted"`):
			s.Accepted += int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if s.RSS < 0 {
		return s, fmt.Errorf("%s/metrics has no process_resident_memory_bytes: is it an uploadonce serve with runtime metrics?", m.target)
	}
	return s, nil
}

// pending reads the events the target still has in delivery or invocation.
func (m *meter) pending() (int, error) {
	resp, err := m.http.Get(m.target + "/_uploadonce/health")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h struct {
		Pending int `json:"pending_events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, err
	}
	return h.Pending, nil
}

// sample scrapes every Sample period until ctx ends, and once at the end;
// the sample closest after the baseline becomes it.
func (d *driver) sample(ctx context.Context, m *meter, began time.Time) error {
	t := time.NewTicker(d.o.Sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s, err := m.scrape(time.Since(began))
			if err != nil {
				return err
			}
			d.record(s)
			d.res.End = s
			return nil
		case <-t.C:
		}
		s, err := m.scrape(time.Since(began))
		if err != nil {
			return err
		}
		d.record(s)
	}
}

func (d *driver) record(s Sample) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.res.Samples = append(d.res.Samples, s)
	if d.res.Baseline.At == 0 && s.At >= d.o.Baseline {
		d.res.Baseline = s
	}
	if d.o.Progress != nil {
		fmt.Fprintf(d.o.Progress, "soak %6.0fs  rss %6.1f MiB  heap %6.1f MiB  goroutines %5d  fds %4d  accepted %7d  urls %7d  failed %d\n",
			s.At.Seconds(), mib(s.RSS), mib(s.Heap), s.Goroutines, s.OpenFDs, s.Accepted, d.n.urls.Load(), d.n.failed.Load())
	}
}

// finish waits for the target's last events, and judges the run.
func (d *driver) finish(ctx context.Context, m *meter, began time.Time) error {
	r := d.res
	r.URLs, r.OKURLs, r.Uploads = d.n.urls.Load(), d.n.okURLs.Load(), d.n.uploads.Load()
	r.OK, r.Failed, r.Late = d.n.ok.Load(), d.n.failed.Load(), d.n.late.Load()
	deadline := time.Now().Add(settleTimeout)
	for {
		n, err := m.pending()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the target still had %d events pending %v after the run", n, settleTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	s, err := m.scrape(time.Since(began))
	if err != nil {
		return err
	}
	r.Settled = s
	r.Growth = r.End.RSS - r.Baseline.RSS
	r.Budget = (r.End.Accepted-r.Baseline.Accepted)*int64(d.o.Size) + d.o.Allowance
	r.LostURLs = max(0, r.OKURLs-(s.Accepted-r.Samples[0].Accepted))
	r.Within = r.Baseline.At > 0 && r.Growth <= r.Budget
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// Summary is the result in a few lines.
func (r *Result) Summary() []string {
	verdict := "WITHIN BUDGET"
	if !r.Within {
		verdict = "OVER BUDGET"
	}
	return []string{
		fmt.Sprintf("soak %v at %.0f URLs/s, %d-byte bodies, %.0f%% uploaded twice: %d URLs, %d uploads (%d 2xx, %d failed, %d late starts)",
			r.Options.Duration, r.Options.Rate, r.Options.Size, r.Options.Double*100, r.URLs, r.Uploads, r.OK, r.Failed, r.Late),
		fmt.Sprintf("rss %.1f MiB at %v, %.1f MiB at %v: growth %.1f MiB; budget %.1f MiB (%d accepted x %d bytes + %.0f MiB): %s",
			mib(r.Baseline.RSS), r.Baseline.At.Round(time.Second), mib(r.End.RSS), r.End.At.Round(time.Second), mib(r.Growth),
			mib(r.Budget), r.End.Accepted-r.Baseline.Accepted, r.Options.Size, mib(r.Options.Allowance), verdict),
		fmt.Sprintf("heap %.1f -> %.1f MiB, goroutines %d -> %d, fds %d -> %d; settled: rss %.1f MiB, %d accepted, %d lost URLs",
			mib(r.Baseline.Heap), mib(r.End.Heap), r.Baseline.Goroutines, r.End.Goroutines, r.Baseline.OpenFDs, r.End.OpenFDs,
			mib(r.Settled.RSS), r.Settled.Accepted-r.Samples[0].Accepted, r.LostURLs),
	}
}
