package s3auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testBucket = "uploads-bucket"
	testHost   = "127.0.0.1:4566"
)

func testVerifier() *Verifier {
	return &Verifier{Creds: Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}}
}

// sdkClient is a path-style S3 client for endpoint signing with the given
// credentials and region.
func sdkClient(endpoint, akid, secret, region string, hc *http.Client) *s3.Client {
	o := s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	return s3.New(o)
}

type presignOpts struct {
	akid, secret, region string
	expires              time.Duration
	ifNoneMatch          bool
}

// presignPut returns the URL and headers the SDK produces for a PUT of key.
func presignPut(t testing.TB, key string, o presignOpts) (string, http.Header) {
	t.Helper()
	if o.akid == "" {
		o.akid = testAKID
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	if o.region == "" {
		o.region = DefaultRegion
	}
	if o.expires == 0 {
		o.expires = 30 * time.Second
	}
	c := sdkClient("http://"+testHost, o.akid, o.secret, o.region, nil)
	in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)}
	if o.ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	req, err := s3.NewPresignClient(c).PresignPutObject(context.Background(), in, func(po *s3.PresignOptions) {
		po.Expires = o.expires
	})
	if err != nil {
		t.Fatal(err)
	}
	return req.URL, req.SignedHeader
}

// serverRequest turns a URL and headers into the request a server sees.
func serverRequest(method, rawURL string, h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest(method, rawURL, bytes.NewReader(body))
	for k, vs := range h {
		if strings.EqualFold(k, "Host") {
			continue
		}
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

// code returns the S3 error code of err, "" for nil, or fails the test when
// err is not an *Error.
func code(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	return e.Code
}

// presignPost returns the URL and fields the SDK produces for a POST of key.
func presignPost(t testing.TB, key string, conds []interface{}, expires time.Duration) (string, map[string]string) {
	t.Helper()
	c := sdkClient("http://"+testHost, testAKID, testSecret, DefaultRegion, nil)
	pp, err := s3.NewPresignClient(c).PresignPostObject(context.Background(),
		&s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			o.Conditions = conds
		})
	if err != nil {
		t.Fatal(err)
	}
	return pp.URL, pp.Values
}

type formPart struct{ name, value string }

// multipartBody writes fields in order, then (if file != nil) the file part,
// then trailing fields.
func multipartBody(t testing.TB, fields []formPart, fileName string, file []byte, after []formPart) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	write := func(ps []formPart) {
		for _, p := range ps {
			if err := w.WriteField(p.name, p.value); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(fields)
	if file != nil {
		fw, err := w.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	write(after)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

func postRequest(ct string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+testHost+"/"+testBucket, bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return r
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

func putInput(key, body string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: strings.NewReader(body)}
}
