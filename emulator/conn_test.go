package emulator_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Timeouts of TestConnectionTimeouts, short so that the test is.
const (
	testIdle        = 300 * time.Millisecond
	testBodyTimeout = 400 * time.Millisecond
	testMinRate     = 2000 // bytes/s: 800 bytes per window
	// slack covers scheduling on two busy cores.
	slack = 1500 * time.Millisecond
)

// closedWithin reads from c until the server closes it, and reports how
// long that took; it fails the test after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

// putHead sends a presigned PUT's request line and headers, announcing
// length body bytes, and nothing of the body.
func putHead(t *testing.T, s *stack, length int) net.Conn {
	t.Helper()
	g, err := s.client.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, length)
	return c
}

// requestTimeout reads the answer on c and checks it is S3's RequestTimeout.
func requestTimeout(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>RequestTimeout</Code>") ||
		!strings.Contains(string(body), "Idle connections will be closed.") || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("answer %d %s %q, want 400 RequestTimeout in S3's XML", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestConnectionTimeouts(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Method = onetime.MethodPUT
		o.IdleTimeout = testIdle
		o.BodyTimeout, o.MinBodyRate = testBodyTimeout, testMinRate
	})
	host := strings.TrimPrefix(s.URL, "http://")

	t.Run("idle keep-alive connection closed", func(t *testing.T) {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /_uploadonce/clock HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("keep-alive request: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if took := closedWithin(t, c, testIdle+slack); took < testIdle/2 {
			t.Fatalf("closed after %v, before the idle timeout %v", took, testIdle)
		}
	})
	t.Run("connection that never sends a request closed", func(t *testing.T) {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		closedWithin(t, c, testIdle+slack)
	})
	t.Run("stalled body", func(t *testing.T) {
		c := putHead(t, s, 1000)
		_, _ = c.Write([]byte("only ten.."))
		start := time.Now()
		requestTimeout(t, c, testBodyTimeout+slack)
		if took := time.Since(start); took < testBodyTimeout/2 {
			t.Fatalf("RequestTimeout after %v, before the body timeout %v", took, testBodyTimeout)
		}
		closedWithin(t, c, slack)
	})
	t.Run("trickling body", func(t *testing.T) {
		c := putHead(t, s, 10_000)
		// 10 bytes every 50 ms is 200 bytes/s, a tenth of the minimum rate,
		// and never quiet for a whole body timeout.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 60 {
				if _, err := c.Write([]byte("0123456789")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		requestTimeout(t, c, testBodyTimeout+slack)
		closedWithin(t, c, slack)
		<-done
	})
	t.Run("a body at speed is accepted", func(t *testing.T) {
		g, err := s.client.Issue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.client.Upload(context.Background(), g, make([]byte, 1<<20))
		if err != nil || res.Status != http.StatusOK {
			t.Fatalf("upload = %+v, %v", res, err)
		}
	})
}
