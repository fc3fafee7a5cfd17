package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
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
			e.api.ServeHTTP(w, r)
		default:
			e.S3.ServeHTTP(w, r)
		}
	})
}

// inspectMethods lists the inspection endpoints and their methods.
var inspectMethods = map[string]string{"health": "GET", "decisions": "GET", "events": "GET", "clock": "GET, POST", "": "GET"}

// Health is the body of GET /_uploadonce/health.
type Health struct {
	Status    string        `json:"status"`
	Bucket    string        `json:"bucket"`
	Strategy  string        `json:"strategy"`
	Method    string        `json:"method"`
	Memcached MemcachedInfo `json:"memcached"`
	Clock     string        `json:"clock"`
	Now       time.Time     `json:"now"`
	Region    string        `json:"region"`
	Issued    int64         `json:"issued"`
	Pending   int           `json:"pending_events"`
}

func (e *Emulator) handleHealth(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	issued := e.issued
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
	writeJSON(w, http.StatusOK, Health{Status: "ok", Bucket: e.cfg.Bucket, Strategy: e.cfg.Strategy, Method: string(e.cfg.Method),
		Memcached: mc, Clock: kind, Now: e.clock.Now().UTC(), Region: e.cfg.Region, Issued: issued,
		Pending: e.Queue.InFlight() + e.Invoker.Pending()})
}

func (e *Emulator) handleDecisions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, e.Decisions())
}

func (e *Emulator) handleEvents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, e.Deliveries())
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
