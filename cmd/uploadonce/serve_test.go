package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/client"
)

// syncBuffer is a bytes.Buffer safe for the serve goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var endpointLine = regexp.MustCompile(`S3 endpoint\s+(http://\S+)`)

// serveForTest runs "uploadonce serve args..." until the test ends and
// returns its base URL.
func serveForTest(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn"}, args...), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := endpointLine.FindStringSubmatch(stdout.String()); m != nil {
			out := stdout.String()
			for _, want := range []string{"API key", "credentials", "AWS_ACCESS_KEY_ID=", "AWS_DEFAULT_REGION=", "memcached", "strategy", "bucket", "CORS  "} {
				if !strings.Contains(out, want) {
					t.Fatalf("banner lacks %q:\n%s", want, out)
				}
			}
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve printed no endpoint:\n%s\n%s", stdout.String(), stderr.String())
	return ""
}

func TestServeVirtualClockLateUpload(t *testing.T) {
	base := serveForTest(t, "--memcached", "embedded", "--clock", "virtual", "--api-key", "k")
	c := client.New(base+"/Prod/getpresignedurl", "k", 2)
	ctx := context.Background()
	g, err := c.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/_uploadonce/clock?advance=40s", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("advance: %v %v", resp, err)
	}
	resp.Body.Close()
	start := time.Now()
	res, err := c.Upload(ctx, g, []byte("late"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 403 || !strings.Contains(string(res.Body), "Invalid according to Policy: Policy expired.") {
		t.Fatalf("late upload = %d %s", res.Status, res.Body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the late upload took %v of real time", took)
	}
	var evs []json.RawMessage
	getJSON(t, base+"/_uploadonce/events", &evs)
	if len(evs) != 0 {
		t.Fatalf("%d events after a refused upload", len(evs))
	}
}

func TestServeDuplicateEventsWithCAS(t *testing.T) {
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--event-duplicates", "1", "--strategy", "cas")
	c := client.New(base+"/Prod/getpresignedurl", "k", 2)
	ctx := context.Background()
	const urls = 5
	for range urls {
		g, err := c.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := c.Upload(ctx, g, []byte("payload")); err != nil || res.Status != 204 {
			t.Fatalf("upload %+v %v", res, err)
		}
	}
	var decisions []struct {
		Key, Decision string
		Redelivery    bool
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		getJSON(t, base+"/_uploadonce/decisions", &decisions)
		if len(decisions) == 2*urls {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var evs []json.RawMessage
	getJSON(t, base+"/_uploadonce/events", &evs)
	if len(evs) != 2*urls {
		t.Fatalf("%d deliveries, want every event twice (%d)", len(evs), 2*urls)
	}
	accepted := map[string]int{}
	for _, d := range decisions {
		if d.Decision != "accepted" {
			t.Fatalf("a decision was %s: %+v", d.Decision, d)
		}
		if !d.Redelivery {
			accepted[d.Key]++
		}
	}
	if len(accepted) != urls {
		t.Fatalf("accepted uploads %v, want exactly one per URL", accepted)
	}
	for k, n := range accepted {
		if n != 1 {
			t.Fatalf("%s accepted %d times", k, n)
		}
	}
}

func TestServeBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--strategy", "maybe"},
		{"serve", "--clock", "sundial"},
		{"serve", "--event-duplicates", "2"},
		{"serve", "--lambda-retries", "3"},
		{"serve", "--upload-method", "get"},
		{"serve", "--log-format", "xml"},
		{"serve", "--cors", "localhost:3000"},
		{"serve", "--cors", "http://*.*.test"},
		{"serve", "extra"},
		{"bogus"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if code := exitCode(err, &errOut); code != exitBadUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func sleepBriefly() { time.Sleep(10 * time.Millisecond) }

// TestServeGrants: issued URLs name the host the client called (or
// --public-url), and POST grants carry --max-upload-size as their
// content-length-range.
func TestServeGrants(t *testing.T) {
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--max-upload-size", "1KiB")
	byName := strings.Replace(base, "127.0.0.1", "localhost", 1)
	c := client.New(byName+"/Prod/getpresignedurl", "k", 2)
	ctx := context.Background()
	g, err := c.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.URL != byName+"/uploadonce" {
		t.Fatalf("grant URL %s, want %s/uploadonce: the host the client called", g.URL, byName)
	}
	if res, err := c.Upload(ctx, g, make([]byte, 2048)); err != nil || res.Status != 400 || !strings.Contains(string(res.Body), "<Code>EntityTooLarge</Code>") {
		t.Fatalf("2 KiB upload against a 1 KiB grant = %+v, %v", res, err)
	}
	if res, err := c.Upload(ctx, g, make([]byte, 1024)); err != nil || res.Status != 204 {
		t.Fatalf("1 KiB upload = %+v, %v", res, err)
	}

	public := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--public-url", "http://192.0.2.7:4593/",
		"--upload-method", "put")
	g, err = client.New(public+"/Prod/getpresignedurl", "k", 2).Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.URL, "http://192.0.2.7:4593/uploadonce/uploads/") {
		t.Fatalf("grant URL %s does not name --public-url", g.URL)
	}
}

func TestServeBadLimitFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--public-url", "http://0.0.0.0:4566"},
		{"serve", "--public-url", "http://[::]:4566"},
		{"serve", "--public-url", "ftp://example.com"},
		{"serve", "--public-url", "http://example.com/path"},
		{"serve", "--max-upload-size", "-1"},
		{"serve", "--max-upload-size", "5 parsecs"},
		{"serve", "--idle-timeout", "0s"},
		{"serve", "--keep-decisions", "0"},
		{"serve", "--keep-events", "-5"},
		{"serve", "--gc-percent", "0"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if code := exitCode(err, &errOut); code != exitBadUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}
