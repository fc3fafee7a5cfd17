package emulator

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
)

// metrics are the emulator's Prometheus series, on its own registry.
type metrics struct {
	issued           prometheus.Counter
	issueErrors      prometheus.Counter
	issueSeconds     prometheus.Histogram
	eventsDelivered  prometheus.Counter
	invocations      prometheus.Counter
	invocationErrors prometheus.Counter
	decisions        *prometheus.CounterVec
	pending          prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		issued:           prometheus.NewCounter(prometheus.CounterOpts{Name: "uploadonce_urls_issued_total", Help: "One-time URLs issued."}),
		issueErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "uploadonce_issue_errors_total", Help: "Issue requests that failed after authentication."}),
		issueSeconds:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "uploadonce_issue_seconds", Help: "Time to issue a URL.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		eventsDelivered:  prometheus.NewCounter(prometheus.CounterOpts{Name: "uploadonce_events_delivered_total", Help: "S3 event deliveries to the verifier."}),
		invocations:      prometheus.NewCounter(prometheus.CounterOpts{Name: "uploadonce_lambda_invocations_total", Help: "Verifier invocations, retries included."}),
		invocationErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "uploadonce_lambda_errors_total", Help: "Verifier invocations that returned an error."}),
		decisions:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "uploadonce_decisions_total", Help: "Verifier decisions."}, []string{"decision", "reason"}),
		pending:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "uploadonce_pending_events", Help: "Events in delivery or in the invoker."}),
	}
	reg.MustRegister(m.issued, m.issueErrors, m.issueSeconds, m.eventsDelivered, m.invocations, m.invocationErrors, m.decisions, m.pending)
	// The process's own health, for an emulator left running for days:
	// go_goroutines, go_memstats_*, process_resident_memory_bytes,
	// process_open_fds, ...
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerLogs exposes the entries the inspection logs dropped, as the
// counter uploadonce_log_dropped_total{log}, read at scrape time.
func (e *Emulator) registerLogs() {
	for name, dropped := range map[string]func() uint64{
		"decisions": func() uint64 { return e.decisions.dropped },
		"events":    func() uint64 { return e.deliveries.dropped },
	} {
		e.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "uploadonce_log_dropped_total",
			Help:        "Entries the inspection logs dropped to stay within --keep-decisions and --keep-events.",
			ConstLabels: prometheus.Labels{"log": name}}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(dropped())
		}))
	}
}

// registerS3 exposes the fake S3's request counters, which it keeps
// itself, as the counter uploadonce_s3_requests_total{op}: read at scrape
// time, never copied.
func registerS3(reg *prometheus.Registry, st *fakes3.Stats) {
	for op, v := range map[string]*atomic.Int64{
		"put": &st.Put, "post": &st.Post, "copy": &st.Copy, "get": &st.Get, "head": &st.Head, "list": &st.List,
		"delete": &st.Delete, "other": &st.Other, "denied": &st.Denied,
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "uploadonce_s3_requests_total",
			Help:        "S3 requests served, by operation; denied ones are also counted under their operation.",
			ConstLabels: prometheus.Labels{"op": op}}, func() float64 { return float64(v.Load()) }))
	}
}

// refreshGauges copies gauges kept elsewhere before a scrape.
func (e *Emulator) refreshGauges() {
	e.metrics.pending.Set(float64(e.Queue.InFlight() + e.Invoker.Pending()))
}
