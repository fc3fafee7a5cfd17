package client

import (
	"bytes"
	"context"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGrant(t *testing.T) {
	tests := []struct {
		name, body       string
		method, url, key string
		expires          string // RFC 3339; "" wants the zero time
		fields, headers  int
		wantErr          string
	}{
		{name: "post", body: `{"url":{"url":"http://127.0.0.1:4566/uploadonce","fields":{"key":"uploads/a","policy":"p"}},"method":"POST"}`,
			method: http.MethodPost, url: "http://127.0.0.1:4566/uploadonce", key: "uploads/a", fields: 2},
		{name: "put", body: `{"url":"http://h/b/uploads/a?X-Amz-Date=1&X-Amz-Signature=2","method":"PUT","key":"uploads/a","headers":{"If-None-Match":"*"}}`,
			method: http.MethodPut, url: "http://h/b/uploads/a?X-Amz-Date=1&X-Amz-Signature=2", key: "uploads/a", headers: 1},
		{name: "put with escaped ampersands", body: `{"url": "http://h/b/k?a=1\u0026b=2"}`,
			method: http.MethodPut, url: "http://h/b/k?a=1&b=2"},
		{name: "whitespace before the url value", body: "{\"url\":\n\t {\"url\":\"http://h/b\",\"fields\":{}}}",
			method: http.MethodPost, url: "http://h/b"},
		{name: "not JSON", body: `<html>`, wantErr: "not JSON"},
		{name: "no url", body: `{"key":"k"}`, wantErr: `no "url"`},
		{name: "null url", body: `{"url":null}`, wantErr: `no "url"`},
		{name: "empty url", body: `{"url":""}`, wantErr: `no "url"`},
		{name: "number url", body: `{"url":3}`, wantErr: `no "url"`},
		{name: "post without its url", body: `{"url":{"fields":{"key":"k"}}}`, wantErr: `no "url"`},
		{name: "post with a bad field", body: `{"url":{"url":"http://h","fields":{"key":3}}}`, wantErr: `"fields" has "key", which is not a string`},
		{name: "put with a bad header", body: `{"url":"http://h","headers":{"If-None-Match":1}}`, wantErr: `"headers" has "If-None-Match"`},
		{name: "expires", body: `{"url":"http://h","expires":"2026-11-30T10:00:00Z"}`, method: http.MethodPut, url: "http://h",
			expires: "2026-11-30T10:00:00Z"},
		{name: "bad expires", body: `{"url":"http://h","expires":"tomorrow"}`, wantErr: `"expires" is not an RFC 3339 time`},
		{name: "not an object", body: `["http://h"]`, wantErr: "not a JSON object"},
		{name: "trailing garbage", body: `{"url":"http://h"} x`, wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGrant([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q (grant %+v)", err, tt.wantErr, g)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var exp time.Time
			if tt.expires != "" {
				exp, _ = time.Parse(time.RFC3339, tt.expires)
			}
			if !g.Expires.Equal(exp) {
				t.Fatalf("expires %v, want %v", g.Expires, exp)
			}
			if g.Method != tt.method || g.URL != tt.url || g.Key != tt.key || len(g.Fields) != tt.fields || len(g.Headers) != tt.headers {
				t.Fatalf("grant %+v, want method %s url %s key %q, %d fields, %d headers", g, tt.method, tt.url, tt.key, tt.fields, tt.headers)
			}
		})
	}
}

// FuzzParseGrant: any issue response either fails with an error or yields a
// grant a client can send: a method and a URL.
func FuzzParseGrant(f *testing.F) {
	f.Add([]byte(`{"url":{"url":"http://h/b","fields":{"key":"k"}}}`))
	f.Add([]byte(`{"url":"http://h/b/k?a=1\u0026b=2","headers":{"x":"y"}}`))
	f.Add([]byte(`{"url":  {}}`))
	f.Add([]byte(`{"url":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := ParseGrant(body)
		if err != nil {
			return
		}
		if g.URL == "" || (g.Method != http.MethodPost && g.Method != http.MethodPut) {
			t.Fatalf("grant without a URL or method: %+v", g)
		}
	})
}

// TestUploadFormMatchesMultipartWriter: the POST body Upload sends is byte
// for byte what mime/multipart.Writer writes for the same fields, file and
// boundary, names with quotes and backslashes included.
func TestUploadFormMatchesMultipartWriter(t *testing.T) {
	var got []byte
	var contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		contentType = r.Header.Get("Content-Type")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	fields := map[string]string{"key": "uploads/a b", "policy": "eyJ9", `x"q\uote`: "v\r\nw", "x-amz-signature": ""}
	g := Grant{Method: http.MethodPost, URL: srv.URL, Fields: fields}
	if _, err := New(srv.URL, "", 2).Upload(context.Background(), g, []byte("file bytes")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	mw := multipart.NewWriter(&want)
	if err := mw.SetBoundary(params["boundary"]); err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		_ = mw.WriteField(k, fields[k])
	}
	fw, _ := mw.CreateFormFile("file", "upload.bin")
	_, _ = fw.Write([]byte("file bytes"))
	_ = mw.Close()
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("body\n%q\nwant\n%q", got, want.Bytes())
	}
}
