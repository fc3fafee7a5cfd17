package fakes3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// CompleteMultipartUpload as S3 documents it (checking object integrity):
// gofakes3 answers it with S3's ETag, md5 of the parts' binary MD5s and
// "-N", but stores the assembled body with PutObject, whose ETag would be
// the body's MD5, and keeps no checksum. The server reads the request's
// part list first, and the decorator stores what S3 stores.

// maxCompleteBody bounds a CompleteMultipartUpload request body: 10,000
// parts with every checksum take well under this.
const maxCompleteBody = 4 << 20

// internalPrefix starts the headers the server adds to a request for
// gofakes3 to carry to the backend; a client's own are dropped.
const internalPrefix = "X-Amz-Uploadonce-"

// multipartMarker is added to CreateMultipartUpload. gofakes3 keeps the
// create request's X-Amz-* headers as the upload's metadata and passes them
// to PutObject on completion, so the marker tells a completion from a PUT
// of the same key at the same moment.
const multipartMarker = internalPrefix + "Multipart"

// completion is one CompleteMultipartUpload in progress.
type completion struct {
	etag    string              // md5(part MD5s)-N without quotes; "" when a part ETag is not an MD5
	parts   int                 // N
	numbers []int               // the listed parts' numbers, in order
	sums    map[string][]string // checksum header name -> each part's base64 value, "" where missing
	// Set when the object is stored: the checksum S3 keeps, for the
	// response.
	checksumName, checksum, checksumType string
}

type completeRequest struct {
	Parts []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber        int
	ETag              string
	ChecksumCRC32     string
	ChecksumCRC32C    string
	ChecksumCRC64NVME string
	ChecksumSHA1      string
	ChecksumSHA256    string
}

// checksumElements names the XML element of each checksum algorithm.
var checksumElements = map[string]string{"crc32": "CRC32", "crc32c": "CRC32C", "crc64nvme": "CRC64NVME", "sha1": "SHA1", "sha256": "SHA256"}

func (p completePart) checksum(alg string) string {
	switch alg {
	case "crc32":
		return p.ChecksumCRC32
	case "crc32c":
		return p.ChecksumCRC32C
	case "crc64nvme":
		return p.ChecksumCRC64NVME
	case "sha1":
		return p.ChecksumSHA1
	case "sha256":
		return p.ChecksumSHA256
	}
	return ""
}

// readCompletion reads a CompleteMultipartUpload's part list and puts the
// body back for gofakes3, which then checks the listed parts against the
// uploaded ones: when it succeeds, the ETags read here are the parts'.
func readCompletion(r *http.Request) (*completion, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxCompleteBody {
		return nil, errMalformedXML()
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var in completeRequest
	if err := xml.Unmarshal(raw, &in); err != nil || len(in.Parts) == 0 {
		return nil, errMalformedXML()
	}
	c := &completion{parts: len(in.Parts), sums: map[string][]string{}}
	for _, p := range in.Parts {
		c.numbers = append(c.numbers, p.PartNumber)
	}
	h := md5.New()
	for _, p := range in.Parts {
		sum, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(sum) != md5.Size {
			h = nil
			break
		}
		_, _ = h.Write(sum)
	}
	if h != nil {
		c.etag = fmt.Sprintf("%x-%d", h.Sum(nil), c.parts)
	}
	for _, alg := range checksumAlgorithms {
		vals := make([]string, len(in.Parts))
		for i, p := range in.Parts {
			vals[i] = strings.TrimSpace(p.checksum(alg))
		}
		if slices.ContainsFunc(vals, func(v string) bool { return v != "" }) {
			c.sums["x-amz-checksum-"+alg] = vals
		}
	}
	return c, nil
}

// metadata is what S3 keeps of a completed upload whose create request's
// metadata is meta: that, without the create's checksum headers, plus the
// object's checksum, of the create's algorithm or else S3's default
// (a full-object CRC64NVME). A COMPOSITE
// checksum (the default for CRC32, CRC32C, SHA1 and SHA256) is the
// algorithm over the parts' raw checksums, in base64, with "-N"; a
// FULL_OBJECT one (asked for with x-amz-checksum-type, and the only type of
// CRC64NVME) is the whole body's.
func (c *completion) metadata(meta map[string]string, body []byte) map[string]string {
	out := make(map[string]string, len(meta)+2)
	var alg, typ string
	for k, v := range meta {
		switch lk := strings.ToLower(k); {
		case lk == "x-amz-checksum-algorithm":
			alg = strings.ToLower(strings.TrimSpace(v))
		case lk == "x-amz-checksum-type":
			typ = strings.ToUpper(strings.TrimSpace(v))
		case strings.HasPrefix(lk, "x-amz-checksum-"), lk == "x-amz-sdk-checksum-algorithm", lk == "x-amz-trailer":
		default:
			out[k] = v
		}
	}
	if alg == "" {
		alg = "crc64nvme" // S3's default; the decorator would add it anyway
	}
	name := "x-amz-checksum-" + alg
	h, ok := s3auth.NewChecksum(name)
	if !ok || !slices.Contains(checksumAlgorithms, alg) {
		return out
	}
	if alg == "crc64nvme" || typ == "FULL_OBJECT" {
		typ = "FULL_OBJECT"
	} else {
		typ = "COMPOSITE"
	}
	var sum string
	if typ == "FULL_OBJECT" {
		_, _ = h.Write(body)
		sum = base64.StdEncoding.EncodeToString(h.Sum(nil))
	} else if sum = c.composite(name, h); sum == "" {
		return out // a part's checksum is missing: S3 refuses such a request
	}
	out[name], out["x-amz-checksum-type"] = sum, typ
	c.checksumName, c.checksum, c.checksumType = name, sum, typ
	return out
}

// composite is h over the parts' decoded checksums, base64, with "-N"; ""
// when a part's is missing or not base64.
func (c *completion) composite(name string, h hash.Hash) string {
	vals := c.sums[name]
	if len(vals) != c.parts {
		return ""
	}
	for _, v := range vals {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || v == "" {
			return ""
		}
		_, _ = h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(c.parts)
}

// completeMultipart serves CompleteMultipartUpload: completions of one key
// are serialised, so that each stores its own ETag and checksum.
func (s *Server) completeMultipart(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	c, err := readCompletion(r)
	if err == nil {
		err = s.parts.check(r.URL.Query().Get("uploadId"), c)
	}
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	done := s.hooked.beginCompletion(bucket, key, c)
	defer done()
	cw := &completeWriter{ResponseWriter: w, c: c}
	s.serveFaker(cw, r, id, nil)
	cw.flush()
	if cw.status == http.StatusOK {
		s.parts.ended(r.URL.Query().Get("uploadId"))
	}
}

// completeWriter holds gofakes3's 200 answer to CompleteMultipartUpload to
// add the checksum elements S3 sends after the ETag.
type completeWriter struct {
	http.ResponseWriter
	c      *completion
	status int
	buf    bytes.Buffer
}

func (w *completeWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code != http.StatusOK {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *completeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status == http.StatusOK {
		return w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// flush writes a held 200 answer, with ChecksumXXX and ChecksumType when
// the object has a checksum.
func (w *completeWriter) flush() {
	if w.status != http.StatusOK {
		return
	}
	body := w.buf.Bytes()
	const end = "</CompleteMultipartUploadResult>"
	if i := bytes.LastIndex(body, []byte(end)); i >= 0 && w.c.checksum != "" {
		elem := "Checksum" + checksumElements[strings.TrimPrefix(w.c.checksumName, "x-amz-checksum-")]
		extra := fmt.Sprintf("<%s>%s</%s><ChecksumType>%s</ChecksumType>", elem, w.c.checksum, elem, w.c.checksumType)
		body = slices.Concat(body[:i], []byte(extra), body[i:])
	}
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(http.StatusOK)
	_, _ = w.ResponseWriter.Write(body)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *completeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
