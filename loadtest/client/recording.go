package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// Recording is the one place where a run's calls are recorded: it wraps a
// Client and writes every issue and upload into the token's history, with
// call and return times on the recorder's monotonic base, and the run
// clock's view (issue time, expiry, lateness) beside them.
type Recording struct {
	c   *Client
	rec *history.Recorder
	clk clock.Clock
	// expiry is assumed for a grant that does not say when it expires.
	expiry time.Duration

	uploads   atomic.Int64
	lateSends atomic.Int64
	firstSend atomic.Int64 // ns since base; 0 until the first upload
}

// LateSend is how late a send may start before it counts as late.
const LateSend = time.Millisecond

// NewRecording records c's calls in rec; clk is the run clock.
func NewRecording(c *Client, rec *history.Recorder, clk clock.Clock, expiry time.Duration) *Recording {
	return &Recording{c: c, rec: rec, clk: clk, expiry: expiry}
}

// Client returns the wrapped client.
func (r *Recording) Client() *Client { return r.c }

// Issue issues one URL for h; intended is when it was due (ns since the
// recorder's base). It returns the grant and whether the issue succeeded;
// either way h is added to the recorder.
func (r *Recording) Issue(ctx context.Context, h *history.Token, intended int64) (Grant, bool) {
	h.IssueIntended = intended
	h.IssueCall = r.rec.Now()
	if h.IssueCall-intended > int64(LateSend) {
		r.lateSends.Add(1)
	}
	g, err := r.c.Issue(ctx)
	h.IssueReturn = r.rec.Now()
	h.Issued = r.clk.Now()
	if err != nil {
		h.IssueErr = err.Error()
		var se *StatusError
		h.Throttled = errors.As(err, &se) && se.Status == http.StatusTooManyRequests
		r.rec.Add(h)
		return Grant{}, false
	}
	h.Key = g.Key
	h.Expires = g.Expires
	if h.Expires.IsZero() {
		h.Expires = h.Issued.Add(r.expiry)
	}
	r.rec.Add(h)
	return g, true
}

var s3CodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// Upload sends body with grant g as upload u of a token, recording it in
// *u. intended is when it was due (ns since base), or < 0 in the closed
// model, where an upload is due when it is sent. openModel counts sends
// that start late.
func (r *Recording) Upload(ctx context.Context, g Grant, expires time.Time, u *history.Upload, body []byte, intended int64, openModel bool) {
	r.firstSend.CompareAndSwap(0, max(r.rec.Now(), 1))
	sum := md5.Sum(body)
	u.BodyMD5, u.Intended = hex.EncodeToString(sum[:]), intended
	u.Late = !r.clk.Now().Before(expires)
	u.Sent = r.rec.Now()
	if intended < 0 {
		u.Intended, intended = u.Sent, u.Sent
	}
	if openModel && u.Sent-intended > int64(LateSend) {
		r.lateSends.Add(1)
	}
	res, err := r.c.Upload(ctx, g, body)
	u.Returned = r.rec.Now()
	r.uploads.Add(1)
	if err != nil {
		u.Err = err.Error()
		return
	}
	u.Status = res.Status
	if m := s3CodeRE.FindSubmatch(res.Body); m != nil {
		u.S3Code = string(m[1])
	}
}

// Uploads returns the uploads answered so far.
func (r *Recording) Uploads() int64 { return r.uploads.Load() }

// LateSends returns the sends that started more than LateSend after they
// were due.
func (r *Recording) LateSends() int64 { return r.lateSends.Load() }

// FirstSend returns when the first upload started (ns since base), 0
// before it.
func (r *Recording) FirstSend() int64 { return r.firstSend.Load() }
