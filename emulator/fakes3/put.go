package fakes3

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// preparePut readies a PUT's body for gofakes3, which reads it once into a
// buffer of its exact size: aws-chunked framing is decoded and every check
// (length, Content-MD5, x-amz-checksum-*, payload hash, chunk signatures)
// runs as it is read, failing the read at its end, before the store keeps
// anything. The returned writer answers such a failure with its S3 error in
// place of the 500 gofakes3 would send. ok is false when the request has
// been answered already.
func (s *Server) preparePut(w http.ResponseWriter, r *http.Request, id string) (_ http.ResponseWriter, ok bool) {
	body, n, err := s.auth.PrepareBody(r)
	if err != nil {
		s.fail(w, r, err, id)
		return w, false
	}
	if n > s.cfg.MaxObjectBytes {
		s.fail(w, r, s3auth.ErrEntityTooLarge(n, s.cfg.MaxObjectBytes), id)
		return w, false
	}
	cb := &checkedBody{r: body, closer: r.Body}
	r.Body = cb
	r.ContentLength = n
	r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	// The body is decoded as it is read; gofakes3 must not decode it
	// again, nor store the transfer encoding as object metadata.
	r.Header.Del("X-Amz-Content-Sha256")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	if ce := r.Header.Get("Content-Encoding"); strings.Contains(ce, "aws-chunked") {
		rest := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(ce), "aws-chunked"), ",")
		if rest = strings.TrimSpace(rest); rest == "" {
			r.Header.Del("Content-Encoding")
		} else {
			r.Header.Set("Content-Encoding", rest)
		}
	}
	return &bodyErrorWriter{ResponseWriter: w, body: cb, id: id}, true
}

// checkedBody is a PUT body whose reader fails with an *s3auth.Error when a
// check does; it keeps the first such error for bodyErrorWriter.
type checkedBody struct {
	r      io.Reader
	closer io.Closer
	err    *s3auth.Error
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	var se *s3auth.Error
	if c.err == nil && errors.As(err, &se) {
		c.err = se
	}
	return n, err
}

func (c *checkedBody) Close() error { return c.closer.Close() }

// bodyErrorWriter answers with the body's S3 error when reading the body
// failed one of its checks: gofakes3 sees only a failed read, and would
// answer 500 InternalError. Whatever gofakes3 writes then is dropped.
type bodyErrorWriter struct {
	http.ResponseWriter
	body     *checkedBody
	id       string
	answered bool // the header was written, by gofakes3 or with the body's error
	replaced bool
}

func (b *bodyErrorWriter) WriteHeader(code int) {
	if b.answered {
		return
	}
	b.answered = true
	if b.body.err != nil && code >= 400 {
		b.replaced = true
		s3auth.WriteError(b.ResponseWriter, b.body.err, b.id)
		return
	}
	b.ResponseWriter.WriteHeader(code)
}

func (b *bodyErrorWriter) Write(p []byte) (int, error) {
	if !b.answered {
		b.WriteHeader(http.StatusOK)
	}
	if b.replaced {
		return len(p), nil
	}
	return b.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (b *bodyErrorWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
