package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/uploadpage"
)

// InspectPrefix is where the inspection API lives.
const InspectPrefix = "/_uploadonce/"

// Handler returns the one handler for every endpoint.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+InspectPrefix+"health", e.handleHealth)
	mux.HandleFunc("GET "+InspectPrefix+"decisions", e.handleDecisions)
	mux.HandleFunc("GET "+InspectPrefix+"events", e.handleEvents)
	mux.HandleFunc("POST "+InspectPrefix+"clock", e.handleClock)
	mux.HandleFunc("GET "+InspectPrefix+"clock", e.handleClockGet)
	mux.Handle("GET "+InspectPrefix+"{$}", uploadpage.Handler(uploadpage.Config{
		IssuePath: issueapi.Path(e.cfg.Stage), APIKey: e.cfg.APIKey, InspectPrefix: InspectPrefix, Bucket: e.cfg.Bucket}))
	metrics := promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{})
	apiPath := issueapi.Path(e.cfg.Stage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, InspectPrefix):
			if _, pattern := mux.Handler(r); pattern == "" {
				if allowed, ok := inspectMethods[strings.TrimPrefix(r.URL.Path, InspectPrefix)]; ok {
					w.Header().Set("Allow", allowed)
					writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": r.Method + " " + r.URL.Path + ": use " + allowed})
					return
				}
				writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such inspection endpoint: " + r.Method + " " + r.URL.Path})
				return
			}
			mux.ServeHTTP(w, r)
		case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
			e.refreshGauges()
			metrics.ServeHTTP(w, r)
		case r.URL.Path == apiPath || strings.HasPrefix(r.URL.Path, "/"+e.cfg.Stage+"/"):
			e.api.ServeHTTP(w, r.WithContext(onetime.WithEndpoint(r.Context(), e.endpointFor(r))))
		default:
			e.S3.ServeHTTP(w, r)
		}
	})
}

// endpointFor is the S3 endpoint the URLs issued to r name: PublicURL when
// set, else the host r called, so that a client elsewhere gets URLs it can
// reach; the listener's own address (never a wildcard) when r names none.
func (e *Emulator) endpointFor(r *http.Request) string {
	switch {
	case e.cfg.PublicURL != "":
		return e.cfg.PublicURL
	case r.Host == "":
		return e.cfg.Endpoint
	case r.TLS != nil:
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// CheckPublicURL reports whether u can be a PublicURL: http or https, a
// host that is not a wildcard address, and no path, query or fragment.
func CheckPublicURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" ||
		strings.TrimSuffix(p.Path, "/") != "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Errorf("public URL %q: want http(s)://HOST[:PORT] with no path", u)
	}
	if ip := net.ParseIP(p.Hostname()); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("public URL %q: %s is a wildcard address no client can call", u, p.Hostname())
	}
	return nil
}

// inspectMethods lists the inspection endpoints and their methods.
var inspectMethods = map[string]string{"health": "GET", "decisions": "GET", "events": "GET", "clock": "GET, POST", "": "GET"}

// Health is the body of GET /_uploadonce/health: status "ok" (200), or
// "degraded" (503) with the reason when memcached does not answer a probe
// within HealthProbeTimeout.
type Health struct {
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	Bucket    string        `json:"bucket"`
	Strategy  string        `json:"strategy"`
	Method    string        `json:"method"`
	Memcached MemcachedInfo `json:"memcached"`
	Clock     string        `json:"clock"`
	Now       time.Time     `json:"now"`
	Region    string        `json:"region"`
	Issued    int64         `json:"issued"`
	Pending   int           `json:"pending_events"`
	// Logs describes the inspection logs: entries kept, their bound, and
	// entries dropped so far.
	Logs map[string]LogState `json:"logs"`
}

// LogState is one inspection log's retention.
type LogState struct {
	Kept    int    `json:"kept"`
	Limit   int    `json:"limit"`
	Dropped uint64 `json:"dropped"`
	// Next is the cursor after the newest entry.
	Next uint64 `json:"next"`
}

func (e *Emulator) handleHealth(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	issued := e.issued
	logs := map[string]LogState{"decisions": stateOf(e.decisions), "events": stateOf(e.deliveries)}
	e.mu.Unlock()
	kind := "real"
	if _, ok := e.clock.(*clock.Virtual); ok {
		kind = "virtual"
	}
	mc := e.cfg.Memcache
	if mc.Kind == "" {
		mc.Kind = "none"
	}
	if mc.Nodes != nil {
		mc.Addrs = mc.Nodes()
	}
	h := Health{Status: "ok", Bucket: e.cfg.Bucket, Strategy: e.cfg.Strategy, Method: string(e.cfg.Method),
		Memcached: mc, Clock: kind, Now: e.clock.Now().UTC(), Region: e.cfg.Region, Issued: issued,
		Pending: e.Queue.InFlight() + e.Invoker.Pending(), Logs: logs}
	status := http.StatusOK
	if err := e.probeMemcached(); err != nil {
		h.Status, h.Reason, status = "degraded", "memcached unreachable: "+err.Error(), http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

func stateOf[T any](r *ring[T]) LogState {
	return LogState{Kept: len(r.buf), Limit: r.limit, Dropped: r.dropped, Next: r.seq + 1}
}

// HealthProbeTimeout bounds the health check's probe of memcached.
const HealthProbeTimeout = time.Second

// pinger is the optional capability of a Cache that checks every server
// (gomemcache's Ping sends each a version command).
type pinger interface{ Ping() error }

var _ pinger = (*memcache.Client)(nil)

// probeMemcached asks memcached for a sign of life within
// HealthProbeTimeout; nil when the strategy keeps no tokens. A Cache
// without Ping is probed with a get of a key nobody writes.
func (e *Emulator) probeMemcached() error {
	c := e.cfg.Cache
	if c == nil || !onetime.UsesMemcached(e.cfg.Strategy) {
		return nil
	}
	done := make(chan error, 1) // the probe may outlive the deadline; it ends by the client's timeout
	go func() {
		if p, ok := c.(pinger); ok {
			done <- p.Ping()
			return
		}
		_, err := c.Get("uploadonce-health-probe")
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = nil
		}
		done <- err
	}()
	t := time.NewTimer(HealthProbeTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer within %v", HealthProbeTimeout)
	}
}

// Inspection log headers. The body stays a JSON array of the entries; a
// client that pages reads the cursor of the next page from NextHeader.
const (
	// NextHeader is the cursor to pass as ?since= for the entries after
	// those returned.
	NextHeader = "X-Uploadonce-Next"
	// DroppedHeader counts the entries the log has dropped so far (its
	// oldest, beyond --keep-decisions or --keep-events).
	DroppedHeader = "X-Uploadonce-Dropped"
	// MissedHeader, when present, counts the entries from ?since= on that
	// were dropped before this read: a reader that fell that far behind.
	MissedHeader = "X-Uploadonce-Missed"
)

// logQuery is an inspection log request: ?key= (one object key, as in
// uploads/...), ?since= (a cursor from NextHeader, 0 for the oldest kept)
// and ?limit= (at most that many entries).
type logQuery struct {
	key   string
	since uint64
	limit int
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	v := r.URL.Query()
	q := logQuery{key: v.Get("key")}
	if s := v.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, fmt.Errorf("since must be a cursor from the %s header (a non-negative integer), got %s", NextHeader, quote(s))
		}
		q.since = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit must be a positive integer, got %s", quote(s))
		}
		q.limit = n
	}
	return q, nil
}

// serveLog answers a query of one inspection log; keyOf names an entry's
// object key.
func serveLog[T any](w http.ResponseWriter, r *http.Request, mu *sync.Mutex, log *ring[T], keyOf func(T) string) {
	q, err := parseLogQuery(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	var match func(T) bool
	if q.key != "" {
		match = func(v T) bool { return keyOf(v) == q.key }
	}
	mu.Lock()
	items, next := log.query(q.since, q.limit, match)
	dropped, oldest := log.dropped, log.oldest()
	mu.Unlock()
	if items == nil {
		items = []T{} // an array, never null
	}
	w.Header().Set(NextHeader, strconv.FormatUint(next, 10))
	w.Header().Set(DroppedHeader, strconv.FormatUint(dropped, 10))
	if q.since > 0 && q.since < oldest {
		w.Header().Set(MissedHeader, strconv.FormatUint(oldest-q.since, 10))
	}
	writeJSON(w, http.StatusOK, items)
}

func (e *Emulator) handleDecisions(w http.ResponseWriter, r *http.Request) {
	serveLog(w, r, &e.mu, e.decisions, func(d onetime.Decision) string { return d.Key })
}

func (e *Emulator) handleEvents(w http.ResponseWriter, r *http.Request) {
	serveLog(w, r, &e.mu, e.deliveries, func(rec events.S3EventRecord) string { return rec.S3.Object.URLDecodedKey })
}

type clockState struct {
	Clock string    `json:"clock"`
	Now   time.Time `json:"now"`
	Fired int       `json:"fired,omitempty"`
}

func (e *Emulator) handleClockGet(w http.ResponseWriter, _ *http.Request) {
	kind := "real"
	if _, ok := e.clock.(*clock.Virtual); ok {
		kind = "virtual"
	}
	writeJSON(w, http.StatusOK, clockState{Clock: kind, Now: e.clock.Now().UTC()})
}

func (e *Emulator) handleClock(w http.ResponseWriter, r *http.Request) {
	v, ok := e.clock.(*clock.Virtual)
	if !ok {
		writeJSON(w, http.StatusConflict, map[string]string{"message": "the clock is real; start with --clock virtual to move it"})
		return
	}
	raw := r.URL.Query().Get("advance")
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "advance must be a non-negative Go duration such as 40s or 2m, got " + quote(raw)})
		return
	}
	fired := v.Advance(d)
	writeJSON(w, http.StatusOK, clockState{Clock: "virtual", Now: v.Now().UTC(), Fired: fired})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
