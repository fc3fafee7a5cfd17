package fakes3_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// TestPutEchoesChecksums: PutObject answers the checksum it stored, which
// SDKs read back (ChecksumCRC32, ...).
func TestPutEchoesChecksums(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	for _, c := range []struct {
		alg  types.ChecksumAlgorithm
		want func(*s3.PutObjectOutput) *string
		sum  string // of "hello"
	}{
		{types.ChecksumAlgorithmCrc32, func(o *s3.PutObjectOutput) *string { return o.ChecksumCRC32 }, "NhCmhg=="},
		{types.ChecksumAlgorithmSha256, func(o *s3.PutObjectOutput) *string { return o.ChecksumSHA256 }, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="},
		{types.ChecksumAlgorithmCrc64nvme, func(o *s3.PutObjectOutput) *string { return o.ChecksumCRC64NVME }, ""},
	} {
		out, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sum/" + string(c.alg)),
			Body: strings.NewReader("hello"), ChecksumAlgorithm: c.alg})
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		got := aws.ToString(c.want(out))
		if got == "" || c.sum != "" && got != c.sum {
			t.Errorf("%s: checksum echoed %q, want %q", c.alg, got, c.sum)
		}
		if out.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("%s: checksum type %q", c.alg, out.ChecksumType)
		}
	}
}

// serveRaw runs one request through the handler and keeps the header names
// as written (an HTTP client canonicalises them).
func serveRaw(h *harness, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, req)
	return w
}

func TestObjectMetadataAsS3StoresIt(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	_, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("m"), Body: strings.NewReader("hello"),
		Metadata: map[string]string{"Owner": "me"}, CacheControl: aws.String("max-age=5"), ContentLanguage: aws.String("en"),
		ContentDisposition: aws.String("attachment")})
	if err != nil {
		t.Fatal(err)
	}
	head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.CacheControl) != "max-age=5" || aws.ToString(head.ContentLanguage) != "en" || head.Metadata["owner"] != "me" {
		t.Errorf("HEAD = cache %q lang %q type %q meta %v", aws.ToString(head.CacheControl), aws.ToString(head.ContentLanguage),
			aws.ToString(head.ContentType), head.Metadata)
	}
	// On the wire the metadata name is lower case, as botocore needs it.
	req := httptest.NewRequest(http.MethodGet, "/"+bucket+"/m", nil)
	raw := serveRaw(h, req)
	if _, ok := raw.Header()["x-amz-meta-owner"]; !ok {
		t.Errorf("GET headers %v, want x-amz-meta-owner", raw.Header())
	}
	for name := range raw.Header() {
		if l := strings.ToLower(name); l == "x-amz-date" || strings.HasPrefix(l, "x-amz-sdk") || strings.HasPrefix(l, "x-amz-uploadonce") {
			t.Errorf("request header %s stored and sent back", name)
		}
	}

	// Written with no Content-Type (the Go SDK always sends one; curl and
	// boto3 do not), an object is binary/octet-stream on HEAD and GET alike.
	u, err := onetime.NewSDKPresigner(h.client, h.clock).PresignPut(ctx, bucket, "untyped", time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	putReq, _ := http.NewRequest(http.MethodPut, u.URL, strings.NewReader("x"))
	if st, b := do(t, putReq); st != 200 {
		t.Fatalf("PUT %d %s", st, b)
	}
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		if got := serveRaw(h, httptest.NewRequest(m, "/"+bucket+"/untyped", nil)).Header().Get("Content-Type"); got != "binary/octet-stream" {
			t.Errorf("%s Content-Type %q, want binary/octet-stream", m, got)
		}
	}

	// An overwrite replaces everything.
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("m"), Body: strings.NewReader("two"),
		ContentType: aws.String("text/plain")}); err != nil {
		t.Fatal(err)
	}
	head, err = h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Metadata) != 0 || head.ContentDisposition != nil || head.CacheControl != nil || aws.ToString(head.ContentType) != "text/plain" {
		t.Errorf("after overwrite: meta %v disposition %v cache %v type %v", head.Metadata, head.ContentDisposition, head.CacheControl, aws.ToString(head.ContentType))
	}
}

func TestConditionalAndRangedReads(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	put, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("c"), Body: strings.NewReader(strings.Repeat("0123456789", 100)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	get := func(hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/"+bucket+"/c", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return serveRaw(h, req)
	}
	full := get(map[string]string{"X-Amz-Checksum-Mode": "ENABLED"})
	if full.Code != 200 || full.Header().Get("X-Amz-Checksum-Crc32") != aws.ToString(put.ChecksumCRC32) {
		t.Errorf("full GET with checksum mode: %d %v", full.Code, full.Header())
	}
	ranged := get(map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "Range": "bytes=0-9"})
	if ranged.Code != 206 || ranged.Header().Get("X-Amz-Checksum-Crc32") != "" || ranged.Body.String() != "0123456789" {
		t.Errorf("ranged GET: %d %v %q; S3 sends no full-object checksum on a range", ranged.Code, ranged.Header(), ranged.Body.String())
	}
	nm := get(map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "If-None-Match": aws.ToString(put.ETag)})
	if nm.Code != 304 || nm.Header().Get("X-Amz-Checksum-Crc32") != "" {
		t.Errorf("If-None-Match: %d %v; a 304 carries no checksum", nm.Code, nm.Header())
	}
	if got := get(map[string]string{"If-Match": `"0123"`}); got.Code != 412 || !strings.Contains(got.Body.String(), "<Code>PreconditionFailed</Code>") {
		t.Errorf("If-Match wrong ETag: %d %s, want 412", got.Code, got.Body.String())
	}
	if got := get(map[string]string{"If-Match": aws.ToString(put.ETag)}); got.Code != 200 {
		t.Errorf("If-Match right ETag: %d", got.Code)
	}
	// The SDK agrees: a ranged GetObject validates nothing it should not.
	out, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("c"), Range: aws.String("bytes=10-19"),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(b) != "0123456789" {
		t.Errorf("SDK ranged GET = %q, %v", b, err)
	}
	_, err = h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("c"), IfMatch: aws.String(`"nope"`)})
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 412 {
		t.Errorf("SDK If-Match wrong: %v", err)
	}
}

// TestErrorBodies: S3's XML, with S3's message, the key, and the request id
// of the x-amz-request-id header.
func TestErrorBodies(t *testing.T) {
	h := newHarness(t, false)
	for _, c := range []struct {
		path, code, elem, value string
	}{
		{"/" + bucket + "/no/such key", "NoSuchKey", "Key", "no/such key"},
		{"/no-such-bucket/k", "NoSuchBucket", "BucketName", "no-such-bucket"},
	} {
		resp, err := http.Get(h.url + strings.ReplaceAll(c.path, " ", "%20"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Code, Message, Key, BucketName, RequestId string
		}
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %v: %s", c.path, err, body)
		}
		got := map[string]string{"Key": e.Key, "BucketName": e.BucketName}[c.elem]
		if e.Code != c.code || e.Message == "" || e.Message == "Unknown" || got != c.value ||
			e.RequestId == "" || e.RequestId != resp.Header.Get("x-amz-request-id") || resp.Header.Get("Content-Type") != "application/xml" {
			t.Errorf("%s: %+v header id %q type %q", c.path, e, resp.Header.Get("x-amz-request-id"), resp.Header.Get("Content-Type"))
		}
	}
}
