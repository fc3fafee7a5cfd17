package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// TestIssueThrottled: a 429 from the issue API (a usage plan's limit) is
// recorded as throttled, any other refusal as an issue error only.
func TestIssueThrottled(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"message":"refused"}`, status)
		}))
		rec := NewRecording(New(srv.URL, "k", 1), history.NewRecorder(), clock.Real{}, time.Minute)
		var h history.Token
		if _, ok := rec.Issue(context.Background(), &h, 0); ok || h.IssueErr == "" {
			t.Fatalf("HTTP %d: issued %v, err %q", status, ok, h.IssueErr)
		}
		if h.Throttled != (status == http.StatusTooManyRequests) {
			t.Errorf("HTTP %d: throttled %v", status, h.Throttled)
		}
		srv.Close()
	}
}
