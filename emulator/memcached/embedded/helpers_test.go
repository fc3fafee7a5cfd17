package embedded_test

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/rs/zerolog"
)

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// newClient is a gomemcache client configured as memcached.NewClient
// configures one (1 s timeout, an idle pool of at least 2).
func newClient(addrs []string, concurrency int) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = time.Second
	c.MaxIdleConns = max(concurrency, 2)
	return c
}

// probe sends `version` on a new connection and returns the version.
func probe(t testing.TB, addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return "", err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "VERSION ")
	if !ok {
		return "", errors.New("unexpected reply to version: " + l)
	}
	return v, nil
}

// --- raw protocol helper (as in the memcached conformance suite) ---

type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &raw{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("write %q: %v", s, err)
	}
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read reply: %v (partial %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		r.t.Fatalf("reply %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect sends cmd and asserts the reply lines.
func (r *raw) expect(cmd string, want ...string) {
	r.t.Helper()
	if cmd != "" {
		r.send(cmd)
	}
	for _, w := range want {
		if got := r.line(); got != w {
			r.t.Fatalf("after %q: got %q, want %q", trunc(cmd), got, w)
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
