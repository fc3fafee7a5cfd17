package emulator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	s3Requests       *prometheus.GaugeVec
	pending          prometheus.Gauge
	logDropped       *prometheus.GaugeVec
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
		s3Requests:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "uploadonce_s3_requests", Help: "S3 requests served, by operation."}, []string{"op"}),
		pending:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "uploadonce_pending_events", Help: "Events in delivery or in the invoker."}),
		logDropped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "uploadonce_log_dropped",
			Help: "Entries the inspection logs dropped to stay within --keep-decisions and --keep-events."}, []string{"log"}),
	}
	reg.MustRegister(m.issued, m.issueErrors, m.issueSeconds, m.eventsDelivered, m.invocations, m.invocationErrors, m.decisions, m.s3Requests, m.pending, m.logDropped)
	// The process's own health, for an emulator left running for days:
	// go_goroutines, go_memstats_*, process_resident_memory_bytes,
	// process_open_fds, ...
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refreshGauges copies counters kept elsewhere into gauges before a scrape.
func (e *Emulator) refreshGauges() {
	st := e.S3.Stats()
	for op, v := range map[string]int64{
		"put": st.Put.Load(), "post": st.Post.Load(), "copy": st.Copy.Load(), "get": st.Get.Load(),
		"head": st.Head.Load(), "list": st.List.Load(), "delete": st.Delete.Load(), "other": st.Other.Load(), "denied": st.Denied.Load(),
	} {
		e.metrics.s3Requests.WithLabelValues(op).Set(float64(v))
	}
	e.metrics.pending.Set(float64(e.Queue.InFlight() + e.Invoker.Pending()))
	e.mu.Lock()
	decisions, events := e.decisions.dropped, e.deliveries.dropped
	e.mu.Unlock()
	e.metrics.logDropped.WithLabelValues("decisions").Set(float64(decisions))
	e.metrics.logDropped.WithLabelValues("events").Set(float64(events))
}
