// Package metrics turns a run's history and the emulator's counters into
// numbers: HDR latency histograms per phase, status and reason counts, and
// the memcached and S3 operations the run cost.
//
// Latencies are recorded in microseconds with 3 significant digits and
// reported in milliseconds. The phases:
//
//   - issue: issue request intended start → response;
//   - upload: each upload's intended send → answer (from the intended time,
//     so an open-model run shows queueing: no coordinated omission);
//   - verify: an event's delivery to the verifier → its decision;
//   - end_to_end: a URL's first upload send → its first accept decision.
package metrics

import (
	"maps"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// Histogram bounds: 1 µs to one hour, 3 significant digits.
const (
	lowestMicros  = 1
	highestMicros = int64(time.Hour / time.Microsecond)
	sigFigs       = 3
)

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Histogram is an HDR histogram of durations; not safe for concurrent use.
type Histogram struct{ h *hdrhistogram.Histogram }

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(lowestMicros, highestMicros, sigFigs)}
}

// Record adds d; values outside the bounds are clamped to them.
func (h *Histogram) Record(d time.Duration) {
	us := min(max(d.Microseconds(), lowestMicros), highestMicros)
	_ = h.h.RecordValue(us) // cannot fail: us is within the bounds
}

// Summary returns the percentiles in milliseconds.
func (h *Histogram) Summary() Summary {
	if h.h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{Count: h.h.TotalCount(), P50: ms(h.h.ValueAtQuantile(50)), P90: ms(h.h.ValueAtQuantile(90)),
		P99: ms(h.h.ValueAtQuantile(99)), P999: ms(h.h.ValueAtQuantile(99.9)), Max: ms(h.h.Max())}
}

// Phases, in report order.
const (
	PhaseIssue    = "issue"
	PhaseUpload   = "upload"
	PhaseVerify   = "verify"
	PhaseEndToEnd = "end_to_end"
)

// Phases lists the latency phases in report order.
var Phases = []string{PhaseIssue, PhaseUpload, PhaseVerify, PhaseEndToEnd}

// Collector accumulates a run's latencies, statuses, reasons and upload
// phase token by token, in constant memory, so that tokens can be dropped
// once added. It is not safe for concurrent use.
//
// A run that goes in windows calls EndWindow after each: the upload phase is
// then the sum of the windows' upload phases, leaving out the issues and
// settles between them.
type Collector struct {
	hists       map[string]*Histogram
	statuses    map[string]int
	reasons     map[string]int
	first, last int64 // this window's upload phase, ns since base; -1 before any upload
	phase       time.Duration
	uploads     int
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	c := &Collector{hists: map[string]*Histogram{}, statuses: map[string]int{}, reasons: map[string]int{}, first: -1, last: -1}
	for _, p := range Phases {
		c.hists[p] = NewHistogram()
	}
	return c
}

// Add adds one token's history.
func (c *Collector) Add(t *history.Token) {
	if t.IssueErr == "" && t.IssueReturn > 0 {
		c.hists[PhaseIssue].Record(time.Duration(t.IssueReturn - t.IssueIntended))
	}
	firstSent := int64(-1)
	for _, u := range t.Uploads {
		switch {
		case u.Err != "":
			c.statuses["error"]++
		case u.Status != 0:
			c.statuses[strconv.Itoa(u.Status)]++
		}
		if u.Sent != 0 || u.Returned != 0 {
			c.uploads++
			if c.first < 0 || u.Sent < c.first {
				c.first = u.Sent
			}
			c.last = max(c.last, u.Returned)
		}
		if u.Returned == 0 || u.Err != "" {
			continue
		}
		c.hists[PhaseUpload].Record(time.Duration(u.Returned - u.Intended))
		if firstSent < 0 || u.Sent < firstSent {
			firstSent = u.Sent
		}
	}
	// Pair each decision with the latest delivery of the same upload
	// before it: a retry's decision then measures from its delivery.
	accepted := false
	for _, d := range t.Decisions {
		c.reasons[d.Decision+"/"+string(d.Reason)]++
		var at int64 = -1
		for _, dl := range t.Deliveries {
			if dl.ID() == d.ID() && dl.At <= d.At {
				at = dl.At
			}
		}
		if at >= 0 {
			c.hists[PhaseVerify].Record(time.Duration(d.At - at))
		}
		if firstSent >= 0 && !accepted && d.Accepted() {
			accepted = true
			c.hists[PhaseEndToEnd].Record(time.Duration(d.At - firstSent))
		}
	}
}

// EndWindow closes the current window's upload phase.
func (c *Collector) EndWindow() {
	c.phase += c.window()
	c.first, c.last = -1, -1
}

func (c *Collector) window() time.Duration {
	if c.first < 0 || c.last <= c.first {
		return 0
	}
	return time.Duration(c.last - c.first)
}

// AddOrphans counts decisions that belong to no token.
func (c *Collector) AddOrphans(ds []history.Decision) {
	for _, d := range ds {
		c.reasons[d.Decision+"/"+string(d.Reason)]++
	}
}

// Latencies returns every phase's distribution.
func (c *Collector) Latencies() map[string]Summary {
	out := map[string]Summary{}
	for p, hist := range c.hists {
		out[p] = hist.Summary()
	}
	return out
}

// Statuses counts upload answers by HTTP status; "error" for no answer.
func (c *Collector) Statuses() map[string]int { return maps.Clone(c.statuses) }

// Reasons counts decisions by "decision/reason".
func (c *Collector) Reasons() map[string]int { return maps.Clone(c.reasons) }

// UploadPhase returns the wall time from the first upload send to the last
// upload answer (summed over the windows), and the uploads answered in it.
func (c *Collector) UploadPhase() (time.Duration, int) { return c.phase + c.window(), c.uploads }

// collect adds a whole history.
func collect(h *history.Run) *Collector {
	c := NewCollector()
	for _, t := range h.Tokens {
		c.Add(t)
	}
	c.AddOrphans(h.OrphanDecision)
	return c
}

// Latencies computes every phase's distribution from a history.
func Latencies(h *history.Run) map[string]Summary { return collect(h).Latencies() }

// Statuses counts upload answers by HTTP status; "error" for no answer.
func Statuses(h *history.Run) map[string]int { return collect(h).Statuses() }

// Reasons counts decisions by "decision/reason".
func Reasons(h *history.Run) map[string]int { return collect(h).Reasons() }

// UploadPhase returns the wall time from the first upload send to the last
// upload answer, and the uploads answered in it.
func UploadPhase(h *history.Run) (time.Duration, int) { return collect(h).UploadPhase() }

// S3Requests is a snapshot of the fake S3's request counters.
type S3Requests struct {
	Put    int64 `json:"put"`
	Post   int64 `json:"post"`
	Copy   int64 `json:"copy"`
	Get    int64 `json:"get"`
	Head   int64 `json:"head"`
	List   int64 `json:"list"`
	Delete int64 `json:"delete"`
	Other  int64 `json:"other"`
	// Denied requests are counted above too; this says how many were refused.
	Denied int64 `json:"denied"`
}

// Add returns a + b.
func (a S3Requests) Add(b S3Requests) S3Requests {
	return S3Requests{a.Put + b.Put, a.Post + b.Post, a.Copy + b.Copy, a.Get + b.Get, a.Head + b.Head,
		a.List + b.List, a.Delete + b.Delete, a.Other + b.Other, a.Denied + b.Denied}
}

// Sub returns a - b.
func (a S3Requests) Sub(b S3Requests) S3Requests {
	return S3Requests{a.Put - b.Put, a.Post - b.Post, a.Copy - b.Copy, a.Get - b.Get, a.Head - b.Head,
		a.List - b.List, a.Delete - b.Delete, a.Other - b.Other, a.Denied - b.Denied}
}

// Total returns every request (Denied ones are already in the others).
func (a S3Requests) Total() int64 {
	return a.Put + a.Post + a.Copy + a.Get + a.Head + a.List + a.Delete + a.Other
}

// MemcachedOps are command counters read with memcached's `stats` command,
// summed over the nodes. They are exact for the run when nothing restarted
// memcached in between (a restart resets them).
type MemcachedOps struct {
	Get    int64 `json:"get"`    // cmd_get: keys read by get/gets
	Set    int64 `json:"set"`    // cmd_set: storage commands (set, add, cas, ...)
	Delete int64 `json:"delete"` // delete_hits + delete_misses
	Touch  int64 `json:"touch"`
	Incr   int64 `json:"incr_decr"`
	// CAS is the part of Set that were cas commands (hits, misses, badval).
	CAS int64 `json:"cas"`
}

// Total returns the commands a Lambda would send to ElastiCache.
func (m MemcachedOps) Total() int64 { return m.Get + m.Set + m.Delete + m.Touch + m.Incr }

// Sub returns m - b.
func (m MemcachedOps) Sub(b MemcachedOps) MemcachedOps {
	return MemcachedOps{m.Get - b.Get, m.Set - b.Set, m.Delete - b.Delete, m.Touch - b.Touch, m.Incr - b.Incr, m.CAS - b.CAS}
}

// MemcachedOpsFrom picks the command counters out of memcached's stats.
func MemcachedOpsFrom(st memcached.ServerStats) MemcachedOps {
	return MemcachedOps{
		Get:    st["cmd_get"],
		Set:    st["cmd_set"],
		Delete: st["delete_hits"] + st["delete_misses"],
		Touch:  st["cmd_touch"],
		Incr:   st["incr_hits"] + st["incr_misses"] + st["decr_hits"] + st["decr_misses"],
		CAS:    st["cas_hits"] + st["cas_misses"] + st["cas_badval"],
	}
}
