package fakes3

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// Body pacing defaults: S3 answers 400 RequestTimeout when a client stops
// sending a body for about 20 s, and closes the connection.
const (
	DefaultBodyTimeout = 20 * time.Second
	// DefaultMinBodyRate is the least a body must average over each
	// BodyTimeout window, in bytes per second: a trickle of a byte a
	// second is cut off, any real client is not.
	DefaultMinBodyRate = 1024
)

// pacedBody enforces S3's request timeout on a request body: the body must
// make progress at least every timeout (a read deadline on the connection
// moves with each read that brings bytes), and every full window of timeout
// must bring at least rate × timeout bytes. Either failure reads as
// s3auth.ErrRequestTimeout, which the handler renders as S3 does; net/http
// then closes the connection, whose read failed.
type pacedBody struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	min     int64 // bytes owed per window
	now     func() time.Time

	window time.Time // start of the current window
	got    int64     // bytes in the current window
	err    error
}

// pace wraps r's body when it has one and pacing is on (timeout > 0).
func pace(w http.ResponseWriter, r *http.Request, timeout time.Duration, rate int64) {
	if timeout <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	p := &pacedBody{r: r.Body, rc: http.NewResponseController(w), timeout: timeout,
		min: int64(float64(rate) * timeout.Seconds()), now: time.Now}
	p.window = p.now()
	p.deadline(p.window.Add(timeout))
	r.Body = p
}

// deadline sets the connection's read deadline; a writer without one (a
// test recorder) paces by the window check alone.
func (p *pacedBody) deadline(t time.Time) {
	_ = p.rc.SetReadDeadline(t)
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.r.Read(b)
	now := p.now()
	if err != nil && isTimeout(err) {
		p.err = s3auth.ErrRequestTimeout()
		return n, p.err
	}
	if errors.Is(err, io.EOF) {
		p.deadline(time.Time{}) // the body is done; waiting is the server's business
		return n, err
	}
	p.got += int64(n)
	if now.Sub(p.window) >= p.timeout {
		if p.got < p.min {
			p.err = s3auth.ErrRequestTimeout()
			return n, p.err
		}
		p.window, p.got = now, 0
	}
	if n > 0 {
		p.deadline(now.Add(p.timeout))
	}
	return n, err
}

func (p *pacedBody) Close() error { return p.r.Close() }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
