package emulator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
)

// TestMetricsFollowPrometheusConventions: counters end in _total and are
// typed counter; the S3 request counts are the server's own.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	s := start(t, "embedded", nil)
	g, err := s.client.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Upload(context.Background(), g, []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.settle(t)
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		"# TYPE uploadonce_s3_requests_total counter",
		`uploadonce_s3_requests_total{op="post"} 1`,
		`uploadonce_s3_requests_total{op="copy"} 1`,
		"# TYPE uploadonce_urls_issued_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && f[3] == "counter" && !strings.HasSuffix(f[2], "_total") {
			t.Errorf("counter %s lacks _total", f[2])
		}
	}
}

// TestEveryDecisionLoggedAtInfo: the README says every decision is
// logged; at serve's default level rejections were not.
func TestEveryDecisionLoggedAtInfo(t *testing.T) {
	var logs syncWriter
	s := start(t, "embedded", func(o *emulator.StartOptions) {
		o.Logger = zerolog.New(&logs).Level(zerolog.InfoLevel)
	})
	g, err := s.client.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.client.Upload(context.Background(), g, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(t)
	out := logs.String()
	if !strings.Contains(out, `"decision":"accepted"`) || !strings.Contains(out, `"decision":"rejected"`) {
		t.Errorf("info log lacks a decision:\n%s", out)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
