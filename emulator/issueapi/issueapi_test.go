package issueapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

type fakeIssuer struct {
	g   onetime.Grant
	err error
}

func (f fakeIssuer) Issue(context.Context) (onetime.Grant, error) { return f.g, f.err }

func call(t *testing.T, h http.Handler, method, path, key string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return rec.Code, strings.TrimSpace(string(b))
}

func TestErrorsLookLikeAPIGateway(t *testing.T) {
	ok := fakeIssuer{g: onetime.Grant{Key: "uploads/k", Method: onetime.MethodPOST, URL: "http://x/b", Fields: map[string]string{"key": "uploads/k"}}}
	h := issueapi.New(ok, "Prod", "secret-key", zerolog.Nop())
	for _, tc := range []struct {
		name, method, path, key string
		wantStatus              int
		wantBody                string
	}{
		{"no key", "GET", "/Prod/getpresignedurl", "", 403, `{"message":"Forbidden"}`},
		{"wrong key", "GET", "/Prod/getpresignedurl", "secret-kez", 403, `{"message":"Forbidden"}`},
		{"key prefix", "GET", "/Prod/getpresignedurl", "secret", 403, `{"message":"Forbidden"}`},
		{"unknown route", "GET", "/Prod/other", "secret-key", 403, `{"message":"Missing Authentication Token"}`},
		{"wrong stage", "GET", "/Dev/getpresignedurl", "secret-key", 403, `{"message":"Missing Authentication Token"}`},
		{"wrong method", "POST", "/Prod/getpresignedurl", "secret-key", 403, `{"message":"Missing Authentication Token"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := call(t, h, tc.method, tc.path, tc.key)
			if st != tc.wantStatus || body != tc.wantBody {
				t.Fatalf("%d %s, want %d %s", st, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	failing := issueapi.New(fakeIssuer{err: errors.New("memcached down")}, "Prod", "k", zerolog.Nop())
	if st, body := call(t, failing, "GET", "/Prod/getpresignedurl", "k"); st != 502 || body != `{"message":"Internal server error"}` {
		t.Fatalf("failed issue = %d %s", st, body)
	}
}

func TestResponseShapes(t *testing.T) {
	exp := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	post := fakeIssuer{g: onetime.Grant{Key: "uploads/k", Method: onetime.MethodPOST, URL: "http://127.0.0.1:4566/b", Expires: exp,
		Fields: map[string]string{"key": "uploads/k", "X-Amz-Signature": "s", "policy": "p"}}}
	_, body := call(t, issueapi.New(post, "Prod", "k", zerolog.Nop()), "GET", "/Prod/getpresignedurl", "k")
	var got struct {
		URL struct {
			URL    string            `json:"url"`
			Fields map[string]string `json:"fields"`
		} `json:"url"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.URL.URL != "http://127.0.0.1:4566/b" || got.URL.Fields["x-amz-signature"] != "s" || got.URL.Fields["key"] != "uploads/k" {
		t.Fatalf("POST response %s: want {url: {url, fields}} with boto3's lower-case field names", body)
	}

	put := fakeIssuer{g: onetime.Grant{Key: "uploads/k", Method: onetime.MethodPUT, URL: "http://127.0.0.1:4566/b/uploads/k?X-Amz-Date=d&X-Amz-Signature=s",
		Headers: http.Header{"If-None-Match": {"*"}}, Expires: exp}}
	_, body = call(t, issueapi.New(put, "Prod", "k", zerolog.Nop()), "GET", "/Prod/getpresignedurl", "k")
	var gotPut struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &gotPut); err != nil {
		t.Fatal(err)
	}
	if gotPut.Method != "PUT" || !strings.Contains(gotPut.URL, "X-Amz-Signature") || gotPut.Headers["If-None-Match"] != "*" {
		t.Fatalf("PUT response %s", body)
	}
	// As json.dumps writes it: the query's & as is, not \u0026.
	if !strings.Contains(body, `X-Amz-Date=d&X-Amz-Signature=s"`) {
		t.Fatalf("PUT response %s: want the URL's & unescaped", body)
	}
}
