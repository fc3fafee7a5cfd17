package issueapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
)

func TestProxy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key        string
		out        string
		err        error
		wantStatus int
		wantBody   string
		wantHeader string // X-Fn
		wantCalled bool
	}{
		{"passes the proxy response through", "k", `{"statusCode":201,"headers":{"X-Fn":"yes"},"body":"{\"url\":\"u\"}"}`, nil,
			201, `{"url":"u"}`, "yes", true},
		{"base64 body", "k", `{"statusCode":200,"body":"aGVsbG8=","isBase64Encoded":true}`, nil, 200, "hello", "", true},
		{"function error is 502", "k", "", errors.New("boom"), 502, `{"message":"Internal server error"}` + "\n", "", true},
		{"not a proxy response is 502", "k", `"just a string"`, nil, 502, `{"message":"Internal server error"}` + "\n", "", true},
		{"statusCode as a string is 502", "k", `{"statusCode":"200","body":"x"}`, nil, 502, `{"message":"Internal server error"}` + "\n", "", true},
		{"no statusCode is 502", "k", `{"body":"x"}`, nil, 502, `{"message":"Internal server error"}` + "\n", "", true},
		{"wrong key never reaches the function", "wrong", "", nil, 403, `{"message":"Forbidden"}` + "\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got events.APIGatewayProxyRequest
			called := false
			invoke := func(_ context.Context, ev []byte) ([]byte, error) {
				called = true
				if err := json.Unmarshal(ev, &got); err != nil {
					t.Fatal(err)
				}
				return []byte(tc.out), tc.err
			}
			h := NewProxy(invoke, "Prod", "k", zerolog.New(zerolog.NewTestWriter(t)))
			req := httptest.NewRequest(http.MethodGet, "/Prod/getpresignedurl?x=1", nil)
			req.Header.Set("x-api-key", tc.key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantStatus || string(body) != tc.wantBody || rec.Header().Get("X-Fn") != tc.wantHeader {
				t.Fatalf("got %d %q (X-Fn %q), want %d %q", rec.Code, body, rec.Header().Get("X-Fn"), tc.wantStatus, tc.wantBody)
			}
			if called != tc.wantCalled {
				t.Fatalf("function called: %v", called)
			}
			if called && (got.HTTPMethod != "GET" || got.Path != "/getpresignedurl" || got.RequestContext.Stage != "Prod" ||
				got.Headers["X-Api-Key"] != "k" || got.QueryStringParameters["x"] != "1" || got.RequestContext.Identity.APIKey != "k") {
				t.Fatalf("event %+v", got)
			}
		})
	}
}
