package fakes3

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// What S3 checks of a multipart upload's checksums, which gofakes3's
// uploader does not keep: the algorithm CreateMultipartUpload named, each
// part's checksum as UploadPart computed it, and on completion that the
// list names every part's checksum (COMPOSITE) and names the ones the
// parts had.

// uploadSums is one multipart upload's checksum state.
type uploadSums struct {
	name      string // x-amz-checksum-<alg> the create named; "" for none
	composite bool
	mu        sync.Mutex
	parts     map[int]map[string]string // part number -> checksum name -> base64
}

// partSums holds the multipart uploads in progress by upload id.
type partSums struct{ uploads sync.Map }

func (p *partSums) get(uploadID string) *uploadSums {
	v, _ := p.uploads.Load(uploadID)
	u, _ := v.(*uploadSums)
	return u
}

// created records an upload created with r's checksum headers, once w has
// held gofakes3's 200 answer, which names the upload id.
func (p *partSums) created(r *http.Request, body []byte) {
	var res struct {
		UploadID string `xml:"UploadId"`
	}
	if xml.Unmarshal(body, &res) != nil || res.UploadID == "" {
		return
	}
	u := &uploadSums{parts: map[int]map[string]string{}}
	if alg := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Checksum-Algorithm"))); alg != "" {
		u.name = "x-amz-checksum-" + alg
		u.composite = alg != "crc64nvme" && !strings.EqualFold(r.Header.Get("X-Amz-Checksum-Type"), "FULL_OBJECT")
	}
	p.uploads.Store(res.UploadID, u)
}

// uploaded records the checksums an UploadPart was checked against.
func (p *partSums) uploaded(uploadID, partNumber string, t *checksumTee) {
	u := p.get(uploadID)
	n, err := strconv.Atoi(partNumber)
	if u == nil || t == nil || err != nil || len(t.names) == 0 {
		return
	}
	sums := make(map[string]string, len(t.names))
	for i, name := range t.names {
		sums[name] = base64.StdEncoding.EncodeToString(t.hashes[i].Sum(nil))
	}
	u.mu.Lock()
	u.parts[n] = sums
	u.mu.Unlock()
}

// check judges a completion's part list as S3 does: 400 InvalidRequest when
// a COMPOSITE upload's list leaves out a part's checksum, 400 InvalidPart
// when it names a checksum other than the one the part was uploaded with.
func (p *partSums) check(uploadID string, c *completion) error {
	u := p.get(uploadID)
	if u == nil {
		return nil
	}
	if u.composite {
		vals := c.sums[u.name]
		for i, n := range c.numbers {
			if i >= len(vals) || vals[i] == "" {
				return s3auth.ErrInvalidRequest("The upload was created using a " + strings.TrimPrefix(u.name, "x-amz-checksum-") +
					" checksum. The complete request must include the checksum for each part. It was missing for part " + strconv.Itoa(n) + " in the request.")
			}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for name, vals := range c.sums {
		for i, v := range vals {
			if had, ok := u.parts[c.numbers[i]][name]; ok && v != "" && v != had {
				return &s3auth.Error{Code: "InvalidPart", Status: http.StatusBadRequest,
					Message: "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."}
			}
		}
	}
	return nil
}

// ended forgets an upload once it is completed or aborted.
func (p *partSums) ended(uploadID string) { p.uploads.Delete(uploadID) }

// statusWriter notes the status of an answer and, for a 200, keeps its
// body as it passes.
type statusWriter struct {
	http.ResponseWriter
	status int
	keep   bool
	body   bytes.Buffer
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.keep && w.status == http.StatusOK {
		w.body.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// succeeded reports a 2xx answer; a handler that wrote nothing answered
// 200.
func (w *statusWriter) succeeded() bool { return w.status == 0 || w.status/100 == 2 }

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
