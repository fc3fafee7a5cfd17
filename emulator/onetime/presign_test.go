package onetime_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// TestSDKPresignerAgainstTheFakeS3 checks both upload methods end to end,
// on the presigner's clock: valid now, expired 31 s later.
func TestSDKPresignerAgainstTheFakeS3(t *testing.T) {
	v := clock.NewVirtual(time.Now().UTC().Truncate(time.Second))
	srv := fakes3.New(fakes3.Config{Clock: v})
	if err := srv.CreateBucket("b", false); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey, "")})
	p := onetime.NewSDKPresigner(client, v)
	ctx := context.Background()

	put := func(key string, ifNoneMatch bool) (int, string) {
		t.Helper()
		pp, err := p.PresignPut(ctx, "b", key, 30*time.Second, ifNoneMatch)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, pp.URL, strings.NewReader("body"))
		for k := range pp.Headers {
			req.Header.Set(k, pp.Headers.Get(k))
		}
		return status(t, req)
	}
	post := func(key string) (int, string) {
		t.Helper()
		pp, err := p.PresignPost(ctx, "b", key, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, val := range pp.Fields {
			_ = mw.WriteField(k, val)
		}
		fw, _ := mw.CreateFormFile("file", "f")
		_, _ = fw.Write([]byte("body"))
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, pp.URL, &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return status(t, req)
	}

	for _, key := range []string{"uploads/plain", "uploads/with space+plus=ü"} {
		if st, b := put(key, false); st != 200 {
			t.Fatalf("PUT %q = %d %s", key, st, b)
		}
		if st, b := post(key); st != 204 {
			t.Fatalf("POST %q = %d %s", key, st, b)
		}
	}
	if st, _ := put("uploads/inm", true); st != 200 {
		t.Fatalf("first If-None-Match PUT = %d", st)
	}
	if st, b := put("uploads/inm", true); st != 412 {
		t.Fatalf("second If-None-Match PUT = %d %s", st, b)
	}

	pp, _ := p.PresignPut(ctx, "b", "uploads/late", 30*time.Second, false)
	pf, _ := p.PresignPost(ctx, "b", "uploads/late", 30*time.Second)
	v.Advance(31 * time.Second)
	req, _ := http.NewRequest(http.MethodPut, pp.URL, strings.NewReader("x"))
	if st, b := status(t, req); st != 403 || !strings.Contains(b, "Request has expired") {
		t.Fatalf("late PUT = %d %s", st, b)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, val := range pf.Fields {
		_ = mw.WriteField(k, val)
	}
	fw, _ := mw.CreateFormFile("file", "f")
	_, _ = fw.Write([]byte("x"))
	_ = mw.Close()
	req, _ = http.NewRequest(http.MethodPost, pf.URL, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if st, b := status(t, req); st != 403 || !strings.Contains(b, "Policy expired") {
		t.Fatalf("late POST = %d %s", st, b)
	}
}

func status(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSDKPresignerForAWS: without a path-style endpoint the presigner uses
// the SDK's presign client, as in a real Lambda, and still signs on its
// clock: the URL's date is the clock's, not the wall's.
func TestSDKPresignerForAWS(t *testing.T) {
	at := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	client := s3.New(s3.Options{Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	p := onetime.NewSDKPresigner(client, &testClock{now: at})
	ctx := context.Background()

	put, err := p.PresignPut(ctx, "bucket", "uploads/a b", 30*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(put.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "bucket.s3.eu-west-1.amazonaws.com" || u.EscapedPath() != "/uploads/a%20b" || q.Get("X-Amz-Date") != "20210304T050607Z" ||
		q.Get("X-Amz-Expires") != "30" || !strings.Contains(q.Get("X-Amz-SignedHeaders"), "if-none-match") {
		t.Fatalf("PUT URL %s", put.URL)
	}
	if put.Headers.Get("If-None-Match") != "*" || put.Headers.Get("Host") != "" {
		t.Fatalf("PUT headers %v: want If-None-Match and no Host", put.Headers)
	}

	post, err := p.PresignPost(ctx, "bucket", "uploads/a b", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if post.URL != "https://bucket.s3.eu-west-1.amazonaws.com" || post.Fields["key"] != "uploads/a b" || post.Fields["X-Amz-Date"] != "20210304T050607Z" {
		t.Fatalf("POST %s %v", post.URL, post.Fields)
	}
	policy, err := base64.StdEncoding.DecodeString(post.Fields["policy"])
	if err != nil || !strings.Contains(string(policy), `"expiration":"2021-03-04T05:06:37`) {
		t.Fatalf("policy %s, %v: want it to expire 30 s after the clock", policy, err)
	}
}

// TestSDKPresignerGrantBounds: MaxUploadSize puts a content-length-range in
// every POST policy (none when zero, as the reference), and WithEndpoint
// makes the URLs name the host the client called.
func TestSDKPresignerGrantBounds(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:4566"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey, "")})
	p := onetime.NewSDKPresigner(client, clk)
	ctx := context.Background()
	for _, tc := range []struct {
		max     int64
		ctx     context.Context
		wantURL string
	}{
		{5 << 30, ctx, "http://127.0.0.1:4566/b"},
		{1024, onetime.WithEndpoint(ctx, "http://192.0.2.7:4593/"), "http://192.0.2.7:4593/b"},
		{0, ctx, "http://127.0.0.1:4566/b"},
	} {
		p.MaxUploadSize = tc.max
		pp, err := p.PresignPost(tc.ctx, "b", "uploads/k", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pol, err := s3auth.DecodePolicy(pp.Fields["policy"])
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, ok := pol.LengthRange()
		if ok != (tc.max > 0) || lo != 0 || (ok && hi != tc.max) || pp.URL != tc.wantURL {
			t.Fatalf("max %d: range %d..%d (%v), URL %s; want 0..%d, %s", tc.max, lo, hi, ok, pp.URL, tc.max, tc.wantURL)
		}
		put, err := p.PresignPut(tc.ctx, "b", "uploads/k", 30*time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(put.URL, tc.wantURL+"/uploads/k?") {
			t.Fatalf("PUT URL %s, want it under %s", put.URL, tc.wantURL)
		}
	}
}
