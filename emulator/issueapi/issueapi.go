// Package issueapi is the API Gateway-like endpoint that hands out one-time
// upload URLs: GET /<stage>/getpresignedurl with an x-api-key header.
//
// Errors look like API Gateway's: a missing or wrong key gets
// 403 {"message":"Forbidden"}, an unknown route or method 403
// {"message":"Missing Authentication Token"}, and a failed integration
// 502 {"message":"Internal server error"}.
package issueapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Issuer is what the endpoint needs from the one-time logic.
type Issuer interface {
	Issue(ctx context.Context) (onetime.Grant, error)
}

var _ Issuer = (*onetime.Issuer)(nil)

// DefaultStage is the reference's stage.
const DefaultStage = "Prod"

// Handler serves the issue endpoint.
type Handler struct {
	issuer Issuer
	apiKey []byte
	path   string
	log    zerolog.Logger
	// OnIssue, when set, observes each issued grant and how long it took.
	OnIssue func(onetime.Grant, time.Duration, error)
}

// New returns a handler for /<stage>/getpresignedurl that requires apiKey.
func New(issuer Issuer, stage, apiKey string, log zerolog.Logger) *Handler {
	if stage == "" {
		stage = DefaultStage
	}
	return &Handler{issuer: issuer, apiKey: []byte(apiKey), path: Path(stage), log: log}
}

// Path is the endpoint path for stage.
func Path(stage string) string { return "/" + stage + "/getpresignedurl" }

// NewAPIKey returns a random 40-character key, like API Gateway's.
func NewAPIKey() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// PostResponse is the reference's POST shape: {"url": {"url", "fields"}}.
type PostResponse struct {
	URL     PostURL   `json:"url"`
	Key     string    `json:"key"`
	Method  string    `json:"method"`
	Expires time.Time `json:"expires"`
}

// PostURL is the inner object of PostResponse.
type PostURL struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

// PutResponse is the PUT shape: {"url": "<presigned URL>", "method": "PUT"}.
type PutResponse struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Key     string            `json:"key"`
	Expires time.Time         `json:"expires"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := requestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	if !authorize(w, r, h.path, h.apiKey) {
		return
	}
	start := time.Now()
	g, err := h.issuer.Issue(r.Context())
	if h.OnIssue != nil {
		h.OnIssue(g, time.Since(start), err)
	}
	if err != nil {
		h.log.Error().Err(err).Str("request_id", reqID).Msg("issue failed")
		writeJSON(w, http.StatusBadGateway, message{"Internal server error"})
		return
	}
	writeJSON(w, http.StatusOK, ResponseBody(g))
}

// ResponseBody is the 200 body for g: PutResponse in PUT mode, else
// PostResponse. cmd/lambda's issue handler answers the same body.
func ResponseBody(g onetime.Grant) any {
	if g.Method == onetime.MethodPUT {
		hdr := make(map[string]string, len(g.Headers))
		for k := range g.Headers {
			hdr[k] = g.Headers.Get(k)
		}
		return PutResponse{URL: g.URL, Method: "PUT", Headers: hdr, Key: g.Key, Expires: g.Expires.UTC()}
	}
	// Field names as boto3's generate_presigned_post spells them (the
	// reference's Lambda); S3 reads form field names case-insensitively.
	fields := make(map[string]string, len(g.Fields))
	for k, v := range g.Fields {
		fields[strings.ToLower(k)] = v
	}
	return PostResponse{URL: PostURL{URL: g.URL, Fields: fields}, Key: g.Key, Method: "POST", Expires: g.Expires.UTC()}
}

// MarshalBody encodes v as the endpoint does: URLs are written as they are,
// as Python's json.dumps in the reference Lambda writes them, with no
// \u0026 for every & of a presigned query.
func MarshalBody(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

// authorize answers API Gateway's 403s for a wrong route or key; it
// reports whether the request may go on to the integration.
func authorize(w http.ResponseWriter, r *http.Request, path string, apiKey []byte) bool {
	if r.URL.Path != path || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		writeJSON(w, http.StatusForbidden, message{"Missing Authentication Token"})
		return false
	}
	got := []byte(r.Header.Get("x-api-key"))
	if len(apiKey) == 0 || subtle.ConstantTimeCompare(got, apiKey) != 1 {
		writeJSON(w, http.StatusForbidden, message{"Forbidden"})
		return false
	}
	return true
}

type message struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(MarshalBody(v))
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
