package fakes3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// CORSRule is one rule of a bucket's CORS configuration, as S3's
// PutBucketCors takes it. An origin or header may hold one "*" wildcard.
type CORSRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

// CORSConfiguration is a bucket's CORS configuration.
type CORSConfiguration struct {
	XMLName xml.Name `xml:"CORSConfiguration"`
	// Xmlns is S3's namespace on output; input may omit it.
	Xmlns string     `xml:"xmlns,attr,omitempty"`
	Rules []CORSRule `xml:"CORSRule"`
}

// DefaultCORS is the configuration every bucket starts with when
// Config.CORSOrigins is nil: any origin may use every method with any
// header, and read the headers SDKs and pages need. A local tool serves
// pages from any port; S3 itself starts with no configuration.
func DefaultCORS(origins []string) *CORSConfiguration {
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	maxAge := 3000
	return &CORSConfiguration{Rules: []CORSRule{{
		ID:             "uploadonce-default",
		AllowedOrigins: origins,
		AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
		AllowedHeaders: []string{"*"},
		ExposeHeaders: []string{"ETag", "x-amz-version-id", "x-amz-request-id", "Location",
			"x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-amz-delete-marker"},
		MaxAgeSeconds: &maxAge,
	}}}
}

var corsMethods = map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "HEAD": true}

// validate checks a configuration as PutBucketCors does.
func (c *CORSConfiguration) validate() error {
	if len(c.Rules) == 0 || len(c.Rules) > 100 {
		return errMalformedXML()
	}
	for _, r := range c.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return errMalformedXML()
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[m] {
				return s3auth.ErrInvalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is " + m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return s3auth.ErrInvalidRequest("AllowedOrigin \"" + o + "\" can not have more than one wildcard.")
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return s3auth.ErrInvalidRequest("AllowedHeader \"" + h + "\" can not have more than one wildcard.")
			}
		}
	}
	return nil
}

func errMalformedXML() *s3auth.Error {
	return &s3auth.Error{Code: "MalformedXML", Status: http.StatusBadRequest,
		Message: "The XML you provided was not well-formed or did not validate against our published schema"}
}

// match returns the first rule that allows origin, method and every
// requested header, as S3 evaluates rules in order.
func (c *CORSConfiguration) match(origin, method string, headers []string) *CORSRule {
	if c == nil {
		return nil
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if anyWildcard(r.AllowedOrigins, origin, false) && contains(r.AllowedMethods, method) && allHeaders(r.AllowedHeaders, headers) {
			return r
		}
	}
	return nil
}

func allHeaders(allowed, requested []string) bool {
	for _, h := range requested {
		if !anyWildcard(allowed, h, true) {
			return false
		}
	}
	return true
}

func anyWildcard(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		prefix, suffix, wild := strings.Cut(p, "*")
		if !wild && p == s || wild && len(s) >= len(prefix)+len(suffix) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// corsFor returns the bucket's configuration: the one set by PutBucketCors,
// none after DeleteBucketCors, else the server's default.
func (s *Server) corsFor(bucket string) *CORSConfiguration {
	s.corsMu.Lock()
	defer s.corsMu.Unlock()
	if c, ok := s.cors[bucket]; ok {
		return c
	}
	return s.defaultCORS
}

func (s *Server) setCORS(bucket string, c *CORSConfiguration) {
	s.corsMu.Lock()
	defer s.corsMu.Unlock()
	s.cors[bucket] = c
}

// setCORSHeaders adds the response headers of the rule that allows the
// request's origin and method, if any. A request that no rule allows is
// still served, without them, as S3 does; the browser then refuses it.
func (s *Server) setCORSHeaders(w http.ResponseWriter, r *http.Request, bucket string) {
	origin := r.Header.Get("Origin")
	if origin == "" || bucket == "" {
		return
	}
	rule := s.corsFor(bucket).match(origin, r.Method, nil)
	if rule == nil {
		return
	}
	writeCORSHeaders(w.Header(), rule, origin)
}

func writeCORSHeaders(h http.Header, rule *CORSRule, origin string) {
	if contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAgeSeconds))
	}
}

// preflight answers OPTIONS /<bucket>[/<key>], which browsers send unsigned.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return &s3auth.Error{Code: "BadRequest", Status: http.StatusBadRequest, Message: "Insufficient information. Origin request header needed."}
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if method == "" {
		return &s3auth.Error{Code: "BadRequest", Status: http.StatusBadRequest, Message: "Invalid Access-Control-Request-Method: null"}
	}
	if ok, err := s.backend.BucketExists(bucket); err != nil || !ok {
		return errNoSuchBucket(bucket)
	}
	resourceType := "OBJECT"
	if key == "" {
		resourceType = "BUCKET"
	}
	extra := []s3auth.Field{{Name: "Method", Value: method}, {Name: "ResourceType", Value: resourceType}}
	cfg := s.corsFor(bucket)
	if cfg == nil {
		return &s3auth.Error{Code: "AccessForbidden", Status: http.StatusForbidden, Extra: extra,
			Message: "CORSResponse: CORS is not enabled for this bucket."}
	}
	var headers []string
	for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			headers = append(headers, h)
		}
	}
	rule := cfg.match(origin, method, headers)
	if rule == nil {
		return &s3auth.Error{Code: "AccessForbidden", Status: http.StatusForbidden, Extra: extra,
			Message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."}
	}
	writeCORSHeaders(w.Header(), rule, origin)
	if len(headers) > 0 {
		w.Header().Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func errNoSuchBucket(bucket string) *s3auth.Error {
	return &s3auth.Error{Code: "NoSuchBucket", Message: "The specified bucket does not exist", Status: http.StatusNotFound,
		Extra: []s3auth.Field{{Name: "BucketName", Value: bucket}}}
}

// bucketCORS serves PutBucketCors, GetBucketCors and DeleteBucketCors on an
// authenticated request to /<bucket>?cors.
func (s *Server) bucketCORS(w http.ResponseWriter, r *http.Request, bucket string) error {
	if ok, err := s.backend.BucketExists(bucket); err != nil || !ok {
		return errNoSuchBucket(bucket)
	}
	switch r.Method {
	case http.MethodPut:
		raw, err := s.readCORSBody(r)
		if err != nil {
			return err
		}
		var c CORSConfiguration
		if err := xml.Unmarshal(raw, &c); err != nil || c.XMLName.Local != "CORSConfiguration" {
			return errMalformedXML()
		}
		if err := c.validate(); err != nil {
			return err
		}
		s.setCORS(bucket, &c)
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		c := s.corsFor(bucket)
		if c == nil {
			return &s3auth.Error{Code: "NoSuchCORSConfiguration", Status: http.StatusNotFound,
				Message: "The CORS configuration does not exist", Extra: []s3auth.Field{{Name: "BucketName", Value: bucket}}}
		}
		out, err := xml.Marshal(CORSConfiguration{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/", Rules: c.Rules})
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(xml.Header))
		_, _ = w.Write(out)
	case http.MethodDelete:
		s.setCORS(bucket, nil)
		w.WriteHeader(http.StatusNoContent)
	default:
		return &s3auth.Error{Code: "MethodNotAllowed", Status: http.StatusMethodNotAllowed,
			Message: "The specified method is not allowed against this resource."}
	}
	return nil
}

// readCORSBody reads a PutBucketCors body, which S3 takes only with an
// integrity check: Content-MD5 or a checksum, sent as a header or as an
// aws-chunked trailer. It is read through s3auth, which decodes the
// framing and answers a malformed Content-MD5 with InvalidDigest and one
// that does not match with BadDigest.
func (s *Server) readCORSBody(r *http.Request) ([]byte, error) {
	if !hasIntegrityHeader(r.Header) {
		return nil, s3auth.ErrInvalidRequest("Missing required header for this request: Content-MD5")
	}
	body, n, err := s.auth.PrepareBody(r)
	if err != nil {
		return nil, err
	}
	if n > 64<<10 {
		return nil, errMalformedXML()
	}
	raw, err := io.ReadAll(body)
	var se *s3auth.Error
	if errors.As(err, &se) {
		return nil, se
	}
	if err != nil {
		return nil, errMalformedXML()
	}
	return raw, nil
}

// hasIntegrityHeader tells whether a request carries Content-MD5 or a
// checksum: an x-amz-checksum-ALGORITHM header, or one x-amz-trailer names.
func hasIntegrityHeader(h http.Header) bool {
	if h.Get("Content-Md5") != "" {
		return true
	}
	names := strings.Split(strings.ToLower(h.Get("X-Amz-Trailer")), ",")
	for name := range h {
		names = append(names, strings.ToLower(name))
	}
	for _, name := range names {
		if alg, ok := strings.CutPrefix(strings.TrimSpace(name), "x-amz-checksum-"); ok && slices.Contains(checksumAlgorithms, alg) {
			return true
		}
	}
	return false
}

// fixedResponse edits what gofakes3 answers just before the header goes
// out. It undoes gofakes3's own CORS wrapper, which sets
// Access-Control-Allow-Origin: * on every response and cannot be turned
// off, so the header is what the bucket's rules decided; and it applies
// fixObjectHeaders to object reads and writes.
//
// Error bodies are held back and rewritten by finish as S3 writes them,
// with the request id of the x-amz-request-id header.
type fixedResponse struct {
	http.ResponseWriter
	r         *http.Request
	id        string
	origin    []string // nil: no header
	written   bool
	errStatus int // > 0: an error body is being held in errBody
	errBody   bytes.Buffer
	// sums, when set, are a PUT body's checksums, echoed on success.
	sums *checksumTee
	// onError, when set, may amend an error before it is written.
	onError func(r *http.Request, e *s3auth.Error, h http.Header)
}

func newFixedResponse(w http.ResponseWriter, r *http.Request, id string) *fixedResponse {
	return &fixedResponse{ResponseWriter: w, r: r, id: id, origin: w.Header().Values("Access-Control-Allow-Origin")}
}

// finish writes a held error body, or the header of a response that
// wrote nothing (net/http's implicit 200).
func (k *fixedResponse) finish() {
	if k.errStatus > 0 {
		e := s3Error(k.errBody.Bytes(), k.errStatus, k.r)
		if k.onError != nil {
			k.onError(k.r, e, k.Header())
		}
		s3auth.WriteError(k.ResponseWriter, e, k.id)
		return
	}
	k.fix(http.StatusOK)
}

func (k *fixedResponse) fix(status int) {
	if k.written {
		return
	}
	k.written = true
	h := k.Header()
	// gofakes3 sets its own x-amz-request-id; the one in error bodies and
	// logs is the server's.
	h.Set("X-Amz-Request-Id", k.id)
	if k.origin == nil {
		h.Del("Access-Control-Allow-Origin")
	} else {
		h["Access-Control-Allow-Origin"] = k.origin
	}
	if _, key := splitPath(k.r.URL.Path); key != "" {
		fixObjectResponse(h, k.r, status, k.sums)
	}
}

func (k *fixedResponse) WriteHeader(code int) {
	if k.written {
		return
	}
	k.fix(code)
	if code >= 400 {
		k.errStatus = code
		return
	}
	k.ResponseWriter.WriteHeader(code)
}

func (k *fixedResponse) Write(p []byte) (int, error) {
	k.fix(http.StatusOK)
	if k.errStatus > 0 {
		if k.errBody.Len() < 64<<10 {
			k.errBody.Write(p)
		}
		return len(p), nil
	}
	return k.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (k *fixedResponse) Unwrap() http.ResponseWriter { return k.ResponseWriter }
