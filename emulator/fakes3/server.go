// Package fakes3 is the emulator's S3: gofakes3 with s3store behind a front
// that closes gofakes3's gaps. It enforces SigV4 (presigned query and header
// auth) and POST policies as AWS does, decodes aws-chunked bodies, answers
// browser POSTs with 204, and emits one S3 event per committed write or
// delete through a backend decorator that keeps versioning.
//
// Requests are path-style: /<bucket>/<key>, and POST /<bucket> for forms.
package fakes3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// Defaults.
const (
	DefaultRegion          = "us-east-1"
	DefaultAccessKeyID     = "uploadonce"
	DefaultSecretAccessKey = "uploadonce-secret"
	// DefaultMaxObjectBytes bounds one upload held in memory (S3 allows 5 GB
	// in one PUT; an emulator on a laptop does not need that).
	DefaultMaxObjectBytes = 256 << 20
	maxPostFieldBytes     = 20 << 10
)

// Config configures a Server. The zero Config works: real clock, default
// region and credentials, no event sink.
type Config struct {
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Clock           clock.Clock
	Logger          zerolog.Logger
	// Notify receives every committed write and delete.
	Notify         func(s3event.Write)
	MaxObjectBytes int64
	// SigV2 accepts (the zero value) or refuses SigV2 presigned URLs and
	// POSTs; see s3auth.SigV2Mode.
	SigV2 s3auth.SigV2Mode
	// BodyTimeout is the longest a request body may make no progress, and
	// the window over which MinBodyRate (bytes/s) is averaged; either
	// failure answers 400 RequestTimeout and closes the connection, as S3
	// does. Zero means DefaultBodyTimeout and DefaultMinBodyRate; negative
	// turns the check off (a negative rate only the rate).
	BodyTimeout time.Duration
	MinBodyRate int64
	// CORSOrigins are the origins of the CORS configuration every bucket
	// starts with (DefaultCORS); nil means any origin. NoCORS starts buckets
	// with no configuration, as S3 does, so that preflights are refused
	// until PutBucketCors.
	CORSOrigins []string
	NoCORS      bool
}

// Server is the fake S3 HTTP handler.
type Server struct {
	cfg     Config
	store   *s3store.Store
	hooked  *hooked
	backend gofakes3.Backend
	faker   http.Handler
	auth    *s3auth.Verifier
	log     zerolog.Logger
	reqID   atomic.Uint64
	stats   Stats

	parts partSums // multipart uploads' checksums

	corsMu      sync.Mutex
	cors        map[string]*CORSConfiguration // nil value: deleted
	defaultCORS *CORSConfiguration
}

// Stats counts S3 requests by operation, for cost accounting.
type Stats struct {
	Put, Post, Copy, Get, Head, List, Delete, Other, Denied atomic.Int64
}

// New returns a Server with an empty store.
func New(cfg Config) *Server {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = DefaultAccessKeyID
	}
	if cfg.SecretAccessKey == "" {
		cfg.SecretAccessKey = DefaultSecretAccessKey
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.MinBodyRate == 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	ts := timeSource{cfg.Clock}
	s := &Server{cfg: cfg, log: cfg.Logger, cors: map[string]*CORSConfiguration{},
		auth: &s3auth.Verifier{Creds: s3auth.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}, Region: cfg.Region, Service: "s3", SigV2: cfg.SigV2}}
	if !cfg.NoCORS {
		s.defaultCORS = DefaultCORS(cfg.CORSOrigins)
	}
	s.store = s3store.New(s3store.WithTimeSource(ts))
	s.hooked, s.backend = wrapBackend(s.store, cfg.Notify, cfg.Clock.Now)
	s.faker = gofakes3.New(s.backend,
		gofakes3.WithTimeSource(ts),
		// Skew is judged by s3auth on header-signed requests only.
		gofakes3.WithTimeSkewLimit(0),
		gofakes3.WithLogger(gofakes3.DiscardLog()),
	).Server()
	return s
}

// Region returns the region the server signs and verifies for.
func (s *Server) Region() string { return s.cfg.Region }

// Credentials returns the only credentials the server accepts.
func (s *Server) Credentials() (accessKeyID, secretAccessKey string) {
	return s.cfg.AccessKeyID, s.cfg.SecretAccessKey
}

// CreateBucket creates a bucket, versioned when asked.
func (s *Server) CreateBucket(name string, versioned bool) error {
	if err := s.backend.CreateBucket(name); err != nil && !gofakes3.IsAlreadyExists(err) {
		return err
	}
	if !versioned {
		return nil
	}
	vb, ok := s.backend.(gofakes3.VersionedBackend)
	if !ok {
		return errors.New("backend does not support versioning")
	}
	return vb.SetVersioningConfiguration(name, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled})
}

// ServeHTTP authenticates the request and hands it to gofakes3, except
// browser POST uploads, which it serves itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strconv.FormatUint(s.reqID.Add(1), 16)
	w.Header().Set("x-amz-request-id", id)
	s.count(r)
	pace(w, r, s.cfg.BodyTimeout, max(s.cfg.MinBodyRate, 0))
	bucket, key := splitPath(r.URL.Path)
	if r.Method == http.MethodOptions && bucket != "" {
		// Browsers send preflights unsigned.
		if err := s.preflight(w, r, bucket, key); err != nil {
			s.fail(w, r, err, id)
		}
		return
	}
	s.setCORSHeaders(w, r, bucket)
	if r.Method == http.MethodHead && key == "" && bucket != "" {
		// HeadBucket tells SDKs the bucket's region (they redirect on it).
		w.Header().Set("x-amz-bucket-region", s.cfg.Region)
	}

	if r.Method == http.MethodPost && key == "" && bucket != "" && isMultipart(r) {
		if err := s.browserUpload(w, r, bucket, id); err != nil {
			s.fail(w, r, err, id)
		}
		return
	}

	var err error
	switch s3auth.Classify(r) {
	case s3auth.AuthQuery:
		// Presigned URLs were signed on the emulator's clock.
		err = s.auth.VerifyPresigned(r, s.cfg.Clock.Now())
	case s3auth.AuthHeader:
		// Header-signed requests carry the client's wall-clock time.
		err = s.auth.VerifyHeader(r, time.Now())
	default:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			err = &s3auth.Error{Code: "AccessDenied", Message: "Anonymous users cannot write to this bucket; sign the request or use a presigned URL.", Status: http.StatusForbidden}
		}
	}
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	s.serveAuthorized(w, r, bucket, key, id)
}

// serveAuthorized serves an authenticated request: what gofakes3 gets
// wrong itself, the rest through gofakes3.
func (s *Server) serveAuthorized(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	for name := range r.Header {
		if strings.HasPrefix(name, internalPrefix) {
			delete(r.Header, name) // only the server sets these
		}
	}
	if key == "" && bucket != "" && r.URL.Query().Has("cors") {
		if err := s.bucketCORS(w, r, bucket); err != nil {
			s.fail(w, r, err, id)
		}
		return
	}
	if r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") != "" && !r.URL.Query().Has("uploadId") {
		if err := s.copyObject(w, r, bucket, key); err != nil {
			s.fail(w, r, err, id)
		}
		return
	}
	var sums *checksumTee
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" {
		carryHeaders(r.Header)
		var ok bool
		if w, ok = s.preparePut(w, r, id); !ok {
			return
		}
		if sums = teeChecksums(r); sums == nil && !queryHas(r.URL.RawQuery, "uploadId") {
			sums = &checksumTee{}
			r.Header.Set(putIDHeader, id)
			s.hooked.pending.Store(id, sums)
			defer s.hooked.pending.Delete(id)
		}
	}
	if r.Method == http.MethodPost && key != "" {
		switch q := r.URL.Query(); {
		case q.Has("uploadId"):
			s.completeMultipart(w, r, bucket, key, id)
			return
		case q.Has("uploads"):
			r.Header.Set(multipartMarker, "1")
		}
	}
	if key != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.fixRange(r, bucket, key)
	}
	if err := s.checkIfMatch(r, bucket, key); err != nil {
		s.fail(w, r, err, id)
		return
	}
	if r.Method == http.MethodHead && r.URL.Query().Get("versionId") != "" {
		// gofakes3 answers HEAD with the current version whatever versionId
		// says; its GET honours versionId, and net/http drops the body of a
		// HEAD response.
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		s.serveFaker(w, get, id, nil)
		return
	}
	s.serveTracked(w, r, key, id, sums)
}

// serveTracked hands r to gofakes3 and keeps the multipart checksum state
// its uploader does not: the algorithm a CreateMultipartUpload named, each
// part's checksum, and the end of an aborted upload.
func (s *Server) serveTracked(w http.ResponseWriter, r *http.Request, key, id string, sums *checksumTee) {
	raw := r.URL.RawQuery
	switch {
	case key == "" || !strings.Contains(raw, "upload"):
	case r.Method == http.MethodPost && queryHas(raw, "uploads"):
		sw := &statusWriter{ResponseWriter: w, keep: true}
		s.serveFaker(sw, r, id, sums)
		if sw.succeeded() {
			s.parts.created(r, sw.body.Bytes())
		}
		return
	case r.Method == http.MethodPut && queryHas(raw, "uploadId"):
		sw := &statusWriter{ResponseWriter: w}
		s.serveFaker(sw, r, id, sums)
		if q := r.URL.Query(); sw.succeeded() {
			s.parts.uploaded(q.Get("uploadId"), q.Get("partNumber"), sums)
		}
		return
	case r.Method == http.MethodDelete && queryHas(raw, "uploadId"):
		sw := &statusWriter{ResponseWriter: w}
		s.serveFaker(sw, r, id, sums)
		if sw.succeeded() {
			s.parts.ended(r.URL.Query().Get("uploadId"))
		}
		return
	}
	s.serveFaker(w, r, id, sums)
}

func (s *Server) serveFaker(w http.ResponseWriter, r *http.Request, id string, sums *checksumTee) {
	k := newFixedResponse(w, r, id)
	k.sums = sums
	k.onError = s.amendError
	s.faker.ServeHTTP(k, r)
	k.finish()
}

// amendError adds to an error gofakes3 answered what S3 sends with it.
func (s *Server) amendError(r *http.Request, e *s3auth.Error, h http.Header) {
	s.deleteMarkerError(r, e, h)
	s.invalidRangeError(r, e)
}

func (s *Server) count(r *http.Request) {
	_, key := splitPath(r.URL.Path)
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			s.stats.Copy.Add(1)
		} else {
			s.stats.Put.Add(1)
		}
	case http.MethodPost:
		s.stats.Post.Add(1)
	case http.MethodGet:
		if key == "" {
			s.stats.List.Add(1)
		} else {
			s.stats.Get.Add(1)
		}
	case http.MethodHead:
		s.stats.Head.Add(1)
	case http.MethodDelete:
		s.stats.Delete.Add(1)
	default:
		s.stats.Other.Add(1)
	}
}

// Stats returns the request counters.
func (s *Server) Stats() *Stats { return &s.stats }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, id string) {
	var se *s3auth.Error
	if errors.As(err, &se) && se.Status == http.StatusForbidden {
		s.stats.Denied.Add(1)
	}
	if se != nil && se.Field("Region") != "" {
		// A request signed for another region: S3 names the bucket's, and
		// SDKs and the AWS CLI retry with it.
		w.Header().Set("x-amz-bucket-region", s.cfg.Region)
	}
	if !errors.As(err, &se) {
		var ge gofakes3.Error
		if errors.As(err, &ge) {
			code := ge.ErrorCode()
			err = &s3auth.Error{Code: string(code), Message: code.Message(), Status: code.Status()}
		} else {
			s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("s3 request failed")
		}
	}
	s.log.Debug().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("s3 request refused")
	if r.Body != nil {
		// Drain a little so the client sees the answer rather than a reset.
		_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
	}
	s3auth.WriteError(w, err, id)
}

// browserUpload serves POST /<bucket> with multipart/form-data.
func (s *Server) browserUpload(w http.ResponseWriter, r *http.Request, bucket, id string) error {
	if ok, err := s.backend.BucketExists(bucket); err != nil || !ok {
		return &s3auth.Error{Code: "NoSuchBucket", Message: "The specified bucket does not exist", Status: http.StatusNotFound, Resource: bucket}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxObjectBytes+1<<20)
	form, err := s3auth.ParsePostForm(r, maxPostFieldBytes)
	if err != nil {
		return err
	}
	policy, err := s.auth.VerifyPost(form, bucket, s.cfg.Clock.Now())
	if err != nil {
		return err
	}
	key := form.Key()
	if len(key) > gofakes3.KeySizeLimit {
		return &s3auth.Error{Code: "KeyTooLongError", Message: "Your key is too long", Status: http.StatusBadRequest}
	}
	// The file is checked as it arrives, against the policy's range and the
	// store's limit: a body over either is cut off there, not read whole.
	body, err := readFile(form.LimitFile(policy, s.cfg.MaxObjectBytes), r.ContentLength, s.cfg.MaxObjectBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return s3auth.ErrEntityTooLarge(mbe.Limit, s.cfg.MaxObjectBytes)
		}
		var se *s3auth.Error
		if errors.As(err, &se) {
			return se
		}
		return s3auth.ErrMalformedPOSTRequest(err.Error())
	}
	sums, md5sum, err := s3auth.PostChecksums(form, body)
	if err != nil {
		return err
	}
	meta := s3auth.Metadata(form)
	maps.Copy(meta, sums)
	res, err := s.hooked.putBytes(write{eventName: s3event.ObjectCreatedPost, bucket: bucket, key: key,
		meta: meta, body: body, hash: md5sum, requestID: id})
	if err != nil {
		return err
	}
	if res.VersionID != "" {
		w.Header().Set("x-amz-version-id", string(res.VersionID))
	}
	postSuccess(w, r, form, bucket, key, `"`+res.ETag()+`"`)
	return nil
}

// postSuccess answers a stored POST as S3 does: 303 to
// success_action_redirect with bucket, key and etag added to its query, or
// success_action_status (204 by default; 201 with a PostResponse body),
// with an absolute Location.
func postSuccess(w http.ResponseWriter, r *http.Request, form *s3auth.PostForm, bucket, key, etag string) {
	w.Header().Set("ETag", etag)
	if to, ok := s3auth.SuccessRedirect(form); ok {
		q := to.Query()
		q.Set("bucket", bucket)
		q.Set("key", key)
		q.Set("etag", etag)
		to.RawQuery = q.Encode()
		w.Header().Set("Location", to.String())
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	location := objectURL(r, bucket, key)
	w.Header().Set("Location", location)
	status := s3auth.SuccessStatus(form)
	if status == http.StatusCreated {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_ = xml.NewEncoder(w).Encode(postResponse{Location: location, Bucket: bucket, Key: key, ETag: etag})
		return
	}
	w.WriteHeader(status)
}

// objectURL is the absolute path-style URL of an object on this server,
// as the client addressed it.
func objectURL(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: "/" + bucket + "/" + key}
	return u.String()
}

// readFile reads a POST's file whole. The request's length bounds the file,
// so when it is known (and within limit) the buffer is made once at that
// size instead of doubling as it fills. The store keeps the slice, so one
// that would pin much more memory than it holds (the form's fields took
// that room, or growth overshot) is cut to size.
func readFile(r io.Reader, requestLength, limit int64) ([]byte, error) {
	if requestLength > 0 && requestLength <= smallForm {
		// A small form is read into reused room and copied out at its size:
		// one allocation, where a buffer of the request's length would be
		// cut to size with a second.
		scratch := smallForms.Get().(*[]byte)
		defer smallForms.Put(scratch)
		buf, err := readInto(r, (*scratch)[:0])
		if cap(buf) <= smallForm {
			*scratch = buf[:0]
		}
		return bytes.Clone(buf), err
	}
	var buf []byte
	var err error
	if requestLength <= 0 || requestLength > limit+1 {
		buf, err = io.ReadAll(r)
	} else {
		buf, err = readInto(r, make([]byte, 0, requestLength))
	}
	if err == nil && cap(buf)-len(buf) > len(buf)/8 {
		buf = slices.Clip(bytes.Clone(buf))
	}
	return buf, err
}

// smallForm is the largest POST whose file is read through smallForms.
const smallForm = 64 << 10

var smallForms = sync.Pool{New: func() any { b := make([]byte, 0, smallForm); return &b }}

// readInto reads r to its end into buf's spare room, growing it only if r
// holds more than that.
func readInto(r io.Reader, buf []byte) ([]byte, error) {
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return buf, err
		case len(buf) == cap(buf):
			rest, err := io.ReadAll(r) // cannot happen with an honest length
			return append(buf, rest...), err
		}
	}
}

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// queryHas tells whether a raw query has the parameter name, which must
// need no escaping, without parsing it (a presigned PUT's has eight).
func queryHas(raw, name string) bool {
	for raw != "" {
		var param string
		param, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(param, "="); k == name {
			return true
		}
	}
	return false
}

func splitPath(p string) (bucket, key string) {
	p = strings.TrimPrefix(p, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
}

// timeSource adapts a clock.Clock to gofakes3.TimeSource, reporting GMT as
// S3 does.
type timeSource struct{ c clock.Clock }

func (t timeSource) Now() time.Time                  { return t.c.Now().UTC() }
func (t timeSource) Since(x time.Time) time.Duration { return t.c.Now().Sub(x) }

var _ gofakes3.TimeSource = timeSource{}

func (s *Server) String() string {
	return fmt.Sprintf("fake S3 (region %s, access key %s)", s.cfg.Region, s.cfg.AccessKeyID)
}
