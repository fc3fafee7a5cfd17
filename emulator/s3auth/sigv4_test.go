package s3auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestVerifyPresigned(t *testing.T) {
	v := testVerifier()
	// mutate edits the presigned URL or the request before it is verified.
	type mutate func(u *url.URL, h http.Header)
	setQ := func(k, val string) mutate {
		return func(u *url.URL, h http.Header) {
			q := u.Query()
			q.Set(k, val)
			u.RawQuery = q.Encode()
		}
	}
	tests := []struct {
		name   string
		key    string
		opts   presignOpts
		mut    mutate
		later  time.Duration // how long after signing the request arrives
		verify *Verifier
		want   string // S3 error code, "" for success
	}{
		{name: "valid", key: "uploads/file.txt"},
		{name: "valid just before expiry", key: "uploads/a", later: 29 * time.Second},
		{name: "key with space plus equals", key: "uploads/a b+c=d&e", later: time.Second},
		{name: "unicode key", key: "uploads/naïve/日本語.txt"},
		{name: "key with tilde, star, parens", key: "uploads/~x*(y)!'z"},
		{name: "if-none-match signed and sent", key: "uploads/once", opts: presignOpts{ifNoneMatch: true}},
		{name: "if-none-match signed but not sent", key: "uploads/once", opts: presignOpts{ifNoneMatch: true},
			mut: func(u *url.URL, h http.Header) { h.Del("If-None-Match") }, want: CodeSignatureDoesNotMatch},
		{name: "expired: arrives after X-Amz-Expires", key: "k", later: 31 * time.Second, want: CodeAccessDenied},
		{name: "not yet valid: dated 16 min in the future", key: "k", later: -16 * time.Minute, want: CodeAccessDenied},
		{name: "tampered signature", key: "k", mut: setQ("X-Amz-Signature", strings.Repeat("0", 64)), want: CodeSignatureDoesNotMatch},
		{name: "garbled signature", key: "k", mut: setQ("X-Amz-Signature", "zz"), want: CodeSignatureDoesNotMatch},
		{name: "tampered key", key: "uploads/a", mut: func(u *url.URL, h http.Header) {
			u.Path, u.RawPath = "/"+testBucket+"/uploads/b", ""
		}, want: CodeSignatureDoesNotMatch},
		{name: "extra query parameter", key: "k", mut: setQ("versionId", "1"), want: CodeSignatureDoesNotMatch},
		{name: "shorter expiry than signed", key: "k", mut: setQ("X-Amz-Expires", "10"), want: CodeSignatureDoesNotMatch},
		{name: "X-Amz-Expires above one week", key: "k", mut: setQ("X-Amz-Expires", "604801"), want: CodeAuthorizationQueryParametersError},
		{name: "X-Amz-Expires not a number", key: "k", mut: setQ("X-Amz-Expires", "soon"), want: CodeAuthorizationQueryParametersError},
		{name: "X-Amz-Expires negative", key: "k", mut: setQ("X-Amz-Expires", "-1"), want: CodeAuthorizationQueryParametersError},
		{name: "wrong algorithm", key: "k", mut: setQ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"), want: CodeAuthorizationQueryParametersError},
		{name: "garbled date", key: "k", mut: setQ("X-Amz-Date", "yesterday"), want: CodeAuthorizationQueryParametersError},
		{name: "missing credential", key: "k", mut: func(u *url.URL, h http.Header) {
			q := u.Query()
			q.Del("X-Amz-Credential")
			u.RawQuery = q.Encode()
		}, want: CodeAuthorizationQueryParametersError},
		{name: "garbled credential", key: "k", mut: setQ("X-Amz-Credential", "AKID/2026"), want: CodeAuthorizationQueryParametersError},
		{name: "wrong secret", key: "k", opts: presignOpts{secret: "not-the-secret"}, want: CodeSignatureDoesNotMatch},
		{name: "unknown access key", key: "k", opts: presignOpts{akid: "AKIDOTHER"}, want: CodeInvalidAccessKeyID},
		{name: "wrong region", key: "k", opts: presignOpts{region: "eu-west-1"}, want: CodeAuthorizationQueryParametersError},
		{name: "verifier in another region", key: "k", verify: &Verifier{Creds: v.Creds, Region: "eu-west-1"}, want: CodeAuthorizationQueryParametersError},
		{name: "Authorization header too", key: "k", mut: func(u *url.URL, h http.Header) { h.Set("Authorization", "AWS4-HMAC-SHA256 x") }, want: CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := time.Now()
			raw, hdr := presignPut(t, tt.key, tt.opts)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mut != nil {
				tt.mut(u, hdr)
			}
			r := serverRequest(http.MethodPut, u.String(), hdr, []byte("data"))
			vv := v
			if tt.verify != nil {
				vv = tt.verify
			}
			got := code(t, vv.VerifyPresigned(r, signed.Add(tt.later)))
			if got != tt.want {
				t.Fatalf("VerifyPresigned = %q, want %q (url %s)", got, tt.want, u)
			}
		})
	}
}

func TestVerifyPresignedExpiredElements(t *testing.T) {
	raw, hdr := presignPut(t, "k", presignOpts{expires: 30 * time.Second})
	q, _ := url.Parse(raw)
	date, _ := time.Parse(amzDateFormat, q.Query().Get("X-Amz-Date"))
	now := date.Add(40 * time.Second)
	err := testVerifier().VerifyPresigned(serverRequest(http.MethodPut, raw, hdr, nil), now)
	var e *Error
	if !errors.As(err, &e) || e.Message != "Request has expired" || e.Status != http.StatusForbidden {
		t.Fatalf("got %v", err)
	}
	for name, want := range map[string]string{
		"X-Amz-Expires": "30",
		"Expires":       date.Add(30 * time.Second).Format(serverTimeFormat),
		"ServerTime":    now.UTC().Format(serverTimeFormat),
	} {
		if got := e.Field(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestPresignedOverHTTP sends SDK presigned PUTs through a real server.
func TestPresignedOverHTTP(t *testing.T) {
	v := testVerifier()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.VerifyPresigned(r, time.Now()); err != nil {
			WriteError(w, err, "req-1")
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := sdkClient(srv.URL, testAKID, testSecret, DefaultRegion, nil)
	for _, key := range []string{"plain", "a b+c=d", "ü/é?#%", "x//y"} {
		req, err := s3.NewPresignClient(c).PresignPutObject(context.Background(),
			&s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), IfNoneMatch: aws.String("*")})
		if err != nil {
			t.Fatal(err)
		}
		hr, _ := http.NewRequest(http.MethodPut, req.URL, strings.NewReader("hello"))
		hr.Header = req.SignedHeader.Clone()
		hr.Header.Del("Host")
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("key %q: %d %s", key, resp.StatusCode, body)
		}
	}
}

// captureHeaderSigned runs the SDK's PutObject against a server that
// verifies it with v at the moment it arrives.
func TestVerifyHeaderSDK(t *testing.T) {
	v := testVerifier()
	// The handler only records the verifier's errors: t.Fatal must not run
	// on a server goroutine, and the test reads them once the call is over.
	var mu sync.Mutex
	var errs []error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := v.VerifyHeader(r, time.Now())
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		if err != nil {
			WriteError(w, err, "r")
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tests := []struct {
		name, akid, secret, region, key string
		want                            string
	}{
		{"valid", testAKID, testSecret, DefaultRegion, "uploads/a b+c=é", ""},
		{"wrong secret", testAKID, "nope", DefaultRegion, "k", CodeSignatureDoesNotMatch},
		{"unknown access key", "AKIDOTHER", testSecret, DefaultRegion, "k", CodeInvalidAccessKeyID},
		{"wrong region", testAKID, testSecret, "eu-west-1", "k", CodeAuthorizationHeaderMalformed},
	}
	for _, tt := range tests {
		mu.Lock()
		errs = nil
		mu.Unlock()
		c := s3.New(s3.Options{
			Region: tt.region, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: tt.akid, SecretAccessKey: tt.secret}, nil
			}),
			RetryMaxAttempts: 1,
		})
		_, _ = c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(tt.key), Body: strings.NewReader("hi")})
		mu.Lock()
		var got []string
		for _, err := range errs {
			got = append(got, code(t, err))
		}
		mu.Unlock()
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: verifier saw %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestVerifyHeaderRejects(t *testing.T) {
	v := testVerifier()
	// A request signed by the SDK, captured once, then mutated per row.
	captured := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case captured <- r.Clone(context.Background()):
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := sdkClient(srv.URL, testAKID, testSecret, DefaultRegion, nil)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), Body: strings.NewReader("hi")}); err != nil {
		t.Fatal(err)
	}
	base := <-captured
	signedAt, _ := time.Parse(amzDateFormat, base.Header.Get("X-Amz-Date"))
	tests := []struct {
		name  string
		mut   func(r *http.Request)
		later time.Duration
		want  string
	}{
		{"valid", func(r *http.Request) {}, 0, ""},
		{"valid 14 min late", func(r *http.Request) {}, 14 * time.Minute, ""},
		{"skewed 16 min late", func(r *http.Request) {}, 16 * time.Minute, CodeRequestTimeTooSkewed},
		{"skewed 16 min early", func(r *http.Request) {}, -16 * time.Minute, CodeRequestTimeTooSkewed},
		{"unsigned header added is fine", func(r *http.Request) { r.Header.Set("X-Forwarded-For", "1.2.3.4") }, 0, ""},
		{"signed header changed", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, 0, CodeSignatureDoesNotMatch},
		{"path changed", func(r *http.Request) { r.URL.Path = "/" + testBucket + "/other" }, 0, CodeSignatureDoesNotMatch},
		{"no content sha", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, 0, CodeInvalidRequest},
		{"bad content sha", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abc") }, 0, CodeInvalidArgument},
		{"no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, 0, CodeAccessDenied},
		{"sigv2", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKID:c2ln") }, 0, CodeInvalidRequest},
		{"garbled", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential") }, 0, CodeAuthorizationHeaderMalformed},
		{"missing signature", func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
		}, 0, CodeAuthorizationHeaderMalformed},
		{"query auth too", func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, 0, CodeInvalidArgument},
		{"no authorization", func(r *http.Request) { r.Header.Del("Authorization") }, 0, CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base.Clone(context.Background())
			tt.mut(r)
			if got := code(t, v.VerifyHeader(r, signedAt.Add(tt.later))); got != tt.want {
				t.Fatalf("VerifyHeader = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		method string
		url    string
		header map[string]string
		want   AuthKind
	}{
		{"anonymous GET", "GET", "/b/k", nil, AuthNone},
		{"header auth", "PUT", "/b/k", map[string]string{"Authorization": "AWS4-HMAC-SHA256 x"}, AuthHeader},
		{"presigned", "PUT", "/b/k?X-Amz-Signature=1", nil, AuthQuery},
		{"browser POST", "POST", "/b", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, AuthPost},
		{"non-form POST", "POST", "/b?delete", map[string]string{"Content-Type": "application/xml"}, AuthNone},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		if got := Classify(r); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSigningKey(t *testing.T) {
	// From the AWS SigV4 documentation's key-derivation example.
	got := SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if h := hexString(got); h != want {
		t.Fatalf("SigningKey = %s, want %s", h, want)
	}
}
