package fakes3

import (
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// What S3 keeps of a write, and what it sends back.
//
// gofakes3 stores every X-Amz-* request header as object metadata (x-amz-date,
// x-amz-sdk-checksum-algorithm, ...), drops Cache-Control, Content-Language
// and Expires, keeps user metadata under canonical names (X-Amz-Meta-Owner,
// which botocore reads back as "Owner") and stores no Content-Type when none
// was sent. S3 stores binary/octet-stream then, lowercases metadata names,
// keeps the full-object checksum, and sends that checksum only when the
// client asks (x-amz-checksum-mode: ENABLED) for the whole object.

// DefaultContentType is what S3 stores for an object written without one.
const DefaultContentType = "binary/octet-stream"

// carried are standard headers gofakes3 does not store; they travel to the
// backend under this prefix and get their names back there.
const carriedPrefix = "X-Amz-Uploadonce-Carried-"

var carried = []string{"Cache-Control", "Content-Language", "Expires", "Content-Md5"}

var checksumAlgorithms = []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}

// carryHeaders prepares a PUT (or a CopyObject that replaces metadata) so
// that gofakes3 passes what S3 stores to the backend.
func carryHeaders(h http.Header) {
	for _, name := range carried {
		if v := h.Get(name); v != "" && name != "Content-Md5" {
			h.Set(carriedPrefix+name, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", DefaultContentType)
	}
}

// declaredChecksums are the checksum header names a write declares: sent
// as headers, announced as trailers (x-amz-trailer), or named by
// x-amz-sdk-checksum-algorithm. get reads a header of the request or a key
// of the metadata gofakes3 made of it.
func declaredChecksums(get func(string) string, names []string) []string {
	want := map[string]bool{}
	for _, name := range names {
		want[strings.ToLower(name)] = true
	}
	for _, name := range strings.Split(get("X-Amz-Trailer"), ",") {
		want[strings.ToLower(strings.TrimSpace(name))] = true
	}
	if alg := strings.ToLower(get("X-Amz-Sdk-Checksum-Algorithm")); alg != "" {
		want["x-amz-checksum-"+alg] = true
	}
	var out []string
	for _, alg := range checksumAlgorithms {
		if want["x-amz-checksum-"+alg] {
			out = append(out, "x-amz-checksum-"+alg)
		}
	}
	return out
}

// withChecksums adds to a PUT's metadata the full-object checksums it
// declared, computed over the body s3auth has verified: a checksum sent as
// a trailer is not in the headers gofakes3 stored.
func withChecksums(meta map[string]string, body []byte) map[string]string {
	names := make([]string, 0, len(meta))
	for k := range meta {
		names = append(names, k)
	}
	declared := declaredChecksums(func(k string) string { return meta[k] }, names)
	if len(declared) == 0 {
		return meta
	}
	out := make(map[string]string, len(meta)+len(declared)+1)
	for k, v := range meta {
		out[k] = v
	}
	for _, name := range declared {
		if h, ok := s3auth.NewChecksum(name); ok {
			_, _ = h.Write(body)
			out[name] = base64.StdEncoding.EncodeToString(h.Sum(nil))
			out["x-amz-checksum-type"] = "FULL_OBJECT"
		}
	}
	return out
}

// defaultChecksum is the checksum S3 computes and keeps for an object
// written without one (a PUT, a POST, a multipart upload created with no
// algorithm): a full-object CRC64NVME.
const defaultChecksum = "x-amz-checksum-crc64nvme"

// checksumMetaKeys are the metadata keys of an object's checksum.
var checksumMetaKeys = []string{"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
	"x-amz-checksum-sha1", "x-amz-checksum-sha256", "x-amz-checksum-type"}

// putIDHeader names a PUT that declared no checksum to the backend, which
// finds its checksumTee in hooked.pending and leaves there the default
// checksum it stored, for the response to echo.
const putIDHeader = internalPrefix + "Put"

// withDefaultChecksum adds S3's default checksum, computed once over the
// body in memory, to stored metadata (storedMetadata's, which the caller
// owns) that has none. sum is the value added, "" when there was one.
func withDefaultChecksum(meta map[string]string, body []byte) (_ map[string]string, sum string) {
	for _, k := range checksumMetaKeys[:5] {
		if meta[k] != "" {
			return meta, ""
		}
	}
	sum = crc64NVMEBase64(body)
	if meta == nil {
		meta = make(map[string]string, 2)
	}
	meta[defaultChecksum], meta["x-amz-checksum-type"] = sum, "FULL_OBJECT"
	return meta, sum
}

// checksumTee computes, as gofakes3 reads a PUT body, the checksums the
// request declared, for the response to echo. A PUT that declared none has
// one without hashes, in which the backend leaves the default checksum.
type checksumTee struct {
	io.ReadCloser
	names  []string
	hashes []hash.Hash
	stored string // the default checksum the backend stored
}

func teeChecksums(r *http.Request) *checksumTee {
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	t := &checksumTee{ReadCloser: r.Body}
	for _, name := range declaredChecksums(r.Header.Get, names) {
		if h, ok := s3auth.NewChecksum(name); ok {
			t.names, t.hashes = append(t.names, name), append(t.hashes, h)
		}
	}
	if len(t.names) == 0 {
		return nil
	}
	r.Body = t
	return t
}

func (t *checksumTee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	for _, h := range t.hashes {
		_, _ = h.Write(p[:n])
	}
	return n, err
}

// echo sets the sums on a successful PUT's response; an UploadPart's
// (part) has no checksum type.
func (t *checksumTee) echo(h http.Header, part bool) {
	if t == nil {
		return
	}
	if t.stored != "" {
		h.Set(defaultChecksum, t.stored)
	}
	for i, name := range t.names {
		h.Set(name, base64.StdEncoding.EncodeToString(t.hashes[i].Sum(nil)))
	}
	if !part && (t.stored != "" || len(t.names) > 0) {
		h.Set("x-amz-checksum-type", "FULL_OBJECT")
	}
}

// storedMetadata is what S3 keeps of a write's headers: content headers,
// user metadata under lower-case names, and the checksum.
func storedMetadata(meta map[string]string) map[string]string {
	if meta == nil {
		return nil
	}
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(k, carriedPrefix):
			out[strings.TrimPrefix(k, carriedPrefix)] = v
		case lk == "content-type" || lk == "content-disposition" || lk == "content-encoding" || lk == "content-language" ||
			lk == "cache-control" || lk == "expires" || lk == "last-modified":
			out[http.CanonicalHeaderKey(k)] = v
		case strings.HasPrefix(lk, "x-amz-meta-") && len(lk) > len("x-amz-meta-"):
			out[lk] = v
		case strings.HasPrefix(lk, "x-amz-checksum-") && lk != "x-amz-checksum-algorithm" && lk != "x-amz-checksum-mode",
			lk == "x-amz-website-redirect-location", lk == "x-amz-storage-class", lk == "x-amz-tagging-count":
			out[lk] = v
		}
	}
	if out["Content-Type"] == "" {
		out["Content-Type"] = DefaultContentType
	}
	return out
}

// fixObjectResponse edits gofakes3's answer to an object request: a PUT
// or UploadPart echoes the checksums S3 computed, a GET or HEAD goes
// through fixObjectHeaders.
func fixObjectResponse(h http.Header, r *http.Request, status int, sums *checksumTee) {
	switch r.Method {
	case http.MethodPut:
		if status == http.StatusOK {
			sums.echo(h, queryHas(r.URL.RawQuery, "uploadId"))
		}
	case http.MethodGet, http.MethodHead:
		fixObjectHeaders(h, r, status)
	}
}

// fixObjectHeaders edits a GET or HEAD response as S3 sends it: user
// metadata under lower-case names, and the stored full-object checksum only
// when the client enabled checksum mode and gets the whole object (a range
// or a 304 has none; botocore fails on both otherwise).
func fixObjectHeaders(h http.Header, r *http.Request, status int) {
	// gofakes3 sends the hex MD5 as the ETag, and s3store's metadata as
	// headers: a multipart object's ETag is under ETagMetaKey.
	if etag := h.Get(s3store.ETagMetaKey); etag != "" {
		h.Set("ETag", `"`+etag+`"`)
	}
	h.Del(s3store.ETagMetaKey)
	for name, vals := range h {
		lk := strings.ToLower(name)
		if strings.HasPrefix(lk, "x-amz-meta-") && name != lk {
			delete(h, name)
			h[lk] = vals
		}
	}
	whole := status == http.StatusOK && r.Header.Get("Range") == ""
	enabled := strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED")
	if whole && enabled {
		return
	}
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") {
			delete(h, name)
		}
	}
}

// checkIfMatch answers If-Match on GET and HEAD, which gofakes3 ignores: an
// object whose ETag is none of the listed ones gets 412 PreconditionFailed.
// It also readies If-None-Match for gofakes3, which answers 304 only when
// the header is exactly the quoted hex MD5: it becomes that when the
// object's ETag (a multipart upload's md5-N) is listed, and goes, with
// If-Modified-Since (which RFC 9110 ignores beside it), when it is not.
// A missing object is left to gofakes3's 404.
func (s *Server) checkIfMatch(r *http.Request, bucket, key string) error {
	want, noneOf := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if want == "" && noneOf == "" || key == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return nil
	}
	var obj *gofakes3.Object
	var err error
	if v := r.URL.Query().Get("versionId"); v != "" {
		obj, err = s.store.HeadObjectVersion(bucket, key, gofakes3.VersionID(v))
	} else {
		obj, err = s.store.HeadObject(bucket, key)
	}
	if err != nil || obj == nil || obj.IsDeleteMarker {
		return nil
	}
	if obj.Contents != nil {
		obj.Contents.Close()
	}
	etag := s3store.ObjectETag(obj)
	if noneOf != "" {
		if listsETag(noneOf, etag) {
			r.Header.Set("If-None-Match", `"`+hex.EncodeToString(obj.Hash)+`"`)
		} else {
			r.Header.Del("If-None-Match")
			r.Header.Del("If-Modified-Since")
		}
	}
	if want == "" || listsETag(want, etag) {
		return nil
	}
	return &s3auth.Error{Code: "PreconditionFailed", Status: http.StatusPreconditionFailed,
		Message: "At least one of the pre-conditions you specified did not hold", Extra: []s3auth.Field{{Name: "Condition", Value: "If-Match"}}}
}

// listsETag tells whether a conditional header's list of ETags (or "*")
// names etag.
func listsETag(list, etag string) bool {
	for _, tag := range strings.Split(list, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || strings.Trim(tag, `"`) == etag {
			return true
		}
	}
	return false
}
