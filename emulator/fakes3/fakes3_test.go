package fakes3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithy "github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

const bucket = "test-bucket"

type harness struct {
	srv    *fakes3.Server
	url    string
	clock  *clock.Virtual
	client *s3.Client
	mu     sync.Mutex
	writes []s3event.Write
}

func newHarness(t *testing.T, versioned bool) *harness {
	t.Helper()
	h := &harness{clock: clock.NewVirtual(time.Now().UTC().Truncate(time.Second))}
	h.srv = fakes3.New(fakes3.Config{Clock: h.clock, Logger: zerolog.New(zerolog.NewTestWriter(t)),
		Notify: func(w s3event.Write) { h.mu.Lock(); h.writes = append(h.writes, w); h.mu.Unlock() }})
	if err := h.srv.CreateBucket(bucket, versioned); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h.srv)
	t.Cleanup(ts.Close)
	h.url = ts.URL
	h.client = h.newClient(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey)
	return h
}

func (h *harness) newClient(id, secret string) *s3.Client {
	return s3.New(s3.Options{Region: fakes3.DefaultRegion, BaseEndpoint: aws.String(h.url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
}

func (h *harness) events() []s3event.Write {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]s3event.Write(nil), h.writes...)
}

func s3Code(t *testing.T, body []byte) string {
	t.Helper()
	s := string(body)
	i, j := strings.Index(s, "<Code>"), strings.Index(s, "</Code>")
	if i < 0 || j < i {
		t.Fatalf("not an S3 XML error: %q", s)
	}
	return s[i+6 : j]
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestPresignedPut(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	presign := func(key string, expires time.Duration) string {
		t.Helper()
		// Presign on the emulator's clock, as the issue API does: signed on
		// the wall clock, a second boundary between the harness's clock
		// start and the signature made +31 s land exactly on the expiry.
		out, err := onetime.NewSDKPresigner(h.client, h.clock).PresignPut(ctx, bucket, key, expires, false)
		if err != nil {
			t.Fatal(err)
		}
		return out.URL
	}
	put := func(u string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		return do(t, req)
	}

	t.Run("valid, twice, overwrites", func(t *testing.T) {
		u := presign("uploads/a b+c=ü", 30*time.Second)
		if st, b := put(u, []byte("one")); st != 200 {
			t.Fatalf("PUT = %d %s", st, b)
		}
		if st, b := put(u, []byte("two")); st != 200 {
			t.Fatalf("second PUT = %d %s; a presigned URL works until it expires", st, b)
		}
		got, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/a b+c=ü")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		if string(b) != "two" {
			t.Fatalf("object = %q, want the second upload", b)
		}
	})
	t.Run("tampered signature", func(t *testing.T) {
		u := presign("uploads/t", 30*time.Second)
		pu, _ := url.Parse(u)
		q := pu.Query()
		sig := []byte(q.Get("X-Amz-Signature"))
		sig[0] ^= 1
		if sig[0] == q.Get("X-Amz-Signature")[0] {
			sig[0] = 'f'
		}
		q.Set("X-Amz-Signature", string(sig))
		pu.RawQuery = q.Encode()
		st, b := put(pu.String(), []byte("x"))
		if st != 403 || s3Code(t, b) != "SignatureDoesNotMatch" {
			t.Fatalf("tampered = %d %s", st, b)
		}
	})
	t.Run("other key with the same signature", func(t *testing.T) {
		u := presign("uploads/mine", 30*time.Second)
		u = strings.Replace(u, "uploads/mine", "uploads/yours", 1)
		st, b := put(u, []byte("x"))
		if st != 403 || s3Code(t, b) != "SignatureDoesNotMatch" {
			t.Fatalf("wrong key = %d %s", st, b)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := h.newClient(fakes3.DefaultAccessKeyID, "not-the-secret")
		out, err := s3.NewPresignClient(bad).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/w")})
		if err != nil {
			t.Fatal(err)
		}
		st, b := put(out.URL, []byte("x"))
		if st != 403 || s3Code(t, b) != "SignatureDoesNotMatch" {
			t.Fatalf("wrong secret = %d %s", st, b)
		}
	})
	t.Run("expires above a week", func(t *testing.T) {
		u := presign("uploads/w2", 30*time.Second)
		u = strings.Replace(u, "X-Amz-Expires=30", "X-Amz-Expires=604801", 1)
		st, b := put(u, []byte("x"))
		if st != 400 || s3Code(t, b) != "AuthorizationQueryParametersError" {
			t.Fatalf("X-Amz-Expires=604801 = %d %s", st, b)
		}
	})
	t.Run("expired on the emulator clock", func(t *testing.T) {
		u := presign("uploads/e", 30*time.Second)
		// Signed at the emulator's now: 31 s later it has expired.
		h.clock.Advance(31 * time.Second)
		defer h.clock.Advance(0)
		st, b := put(u, []byte("x"))
		if st != 403 || s3Code(t, b) != "AccessDenied" || !strings.Contains(string(b), "Request has expired") {
			t.Fatalf("expired = %d %s", st, b)
		}
	})
	for _, w := range h.events() {
		if w.Key == "uploads/t" || w.Key == "uploads/yours" || w.Key == "uploads/w" || w.Key == "uploads/e" {
			t.Errorf("a refused request emitted an event: %+v", w)
		}
	}
}

func TestAnonymousWriteRefused(t *testing.T) {
	h := newHarness(t, false)
	req, _ := http.NewRequest(http.MethodPut, h.url+"/"+bucket+"/uploads/anon", strings.NewReader("x"))
	st, b := do(t, req)
	if st != 403 || s3Code(t, b) != "AccessDenied" {
		t.Fatalf("anonymous PUT = %d %s", st, b)
	}
	if n := len(h.events()); n != 0 {
		t.Fatalf("%d events after a refused write", n)
	}
}

func TestHeaderSignedRoundTripsAreByteExact(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	for _, size := range []int{0, 1, 1 << 10, 3<<20 + 17} {
		body := make([]byte, size)
		_, _ = rand.Read(body)
		key := "data/obj-" + strings.Repeat("x", size%7)
		// The SDK's default checksum settings: aws-chunked with a trailer.
		if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("PutObject %d bytes: %v", size, err)
		}
		out, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		if !bytes.Equal(got, body) {
			t.Fatalf("%d bytes in, %d out; bytes differ", size, len(got))
		}
		if ce := aws.ToString(out.ContentEncoding); strings.Contains(ce, "aws-chunked") {
			t.Fatalf("stored Content-Encoding %q leaks the transfer encoding", ce)
		}
	}
	bad := h.newClient(fakes3.DefaultAccessKeyID, "wrong")
	_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("data/x"), Body: strings.NewReader("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret PutObject error = %v, want SignatureDoesNotMatch", err)
	}
	bad = h.newClient("someone-else", fakes3.DefaultSecretAccessKey)
	_, err = bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("data/x"), Body: strings.NewReader("x")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidAccessKeyId" {
		t.Fatalf("unknown access key PutObject error = %v, want InvalidAccessKeyId", err)
	}
}

// postForm sends a browser-style form: every field, then "file".
func postForm(t *testing.T, u string, fields map[string]string, file []byte) (int, []byte, http.Header) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_ = mw.WriteField(k, fields[k])
	}
	fw, _ := mw.CreateFormFile("file", "f.txt")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, u, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestPresignedPost(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	presign := func(key string, conds []any) (string, map[string]string) {
		t.Helper()
		out, err := s3.NewPresignClient(h.client).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
			func(o *s3.PresignPostOptions) { o.Expires = 30 * time.Second; o.Conditions = conds })
		if err != nil {
			t.Fatal(err)
		}
		return out.URL, out.Values
	}
	t.Run("valid answers 204 and emits one Post event", func(t *testing.T) {
		u, f := presign("uploads/p1", nil)
		st, b, hdr := postForm(t, u, f, []byte("hello"))
		if st != 204 {
			t.Fatalf("POST = %d %s", st, b)
		}
		if hdr.Get("ETag") != `"5d41402abc4b2a76b9719d911017c592"` {
			t.Fatalf("ETag = %s", hdr.Get("ETag"))
		}
		var posts []s3event.Write
		for _, w := range h.events() {
			if w.Key == "uploads/p1" {
				posts = append(posts, w)
			}
		}
		if len(posts) != 1 || posts[0].EventName != s3event.ObjectCreatedPost || posts[0].Size != 5 ||
			posts[0].ETag != "5d41402abc4b2a76b9719d911017c592" {
			t.Fatalf("events = %+v", posts)
		}
		head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/p1")})
		if err != nil {
			t.Fatal(err)
		}
		for k := range head.Metadata {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "signature") || strings.Contains(lk, "policy") || strings.Contains(lk, "credential") {
				t.Fatalf("auth field stored as metadata: %v", head.Metadata)
			}
		}
	})
	t.Run("success_action_status 201", func(t *testing.T) {
		u, f := presign("uploads/p201", []any{map[string]string{"success_action_status": "201"}})
		f["success_action_status"] = "201"
		st, b, _ := postForm(t, u, f, []byte("x"))
		if st != 201 || !strings.Contains(string(b), "<Key>uploads/p201</Key>") {
			t.Fatalf("POST = %d %s", st, b)
		}
	})
	t.Run("tampered signature", func(t *testing.T) {
		u, f := presign("uploads/p3", nil)
		f["X-Amz-Signature"] = strings.Repeat("0", 64)
		st, b, _ := postForm(t, u, f, []byte("x"))
		if st != 403 || s3Code(t, b) != "SignatureDoesNotMatch" {
			t.Fatalf("tampered POST = %d %s", st, b)
		}
	})
	t.Run("key outside the policy", func(t *testing.T) {
		u, f := presign("uploads/p4", nil)
		f["key"] = "uploads/other"
		st, b, _ := postForm(t, u, f, []byte("x"))
		if st != 403 || s3Code(t, b) != "AccessDenied" || !strings.Contains(string(b), "Policy Condition failed") {
			t.Fatalf("wrong-key POST = %d %s", st, b)
		}
	})
	t.Run("over size", func(t *testing.T) {
		u, f := presign("uploads/p5", []any{[]any{"content-length-range", 1, 4}})
		st, b, _ := postForm(t, u, f, []byte("too large"))
		if st != 400 || s3Code(t, b) != "EntityTooLarge" {
			t.Fatalf("over-size POST = %d %s", st, b)
		}
		st, b, _ = postForm(t, u, f, nil)
		if st != 400 || s3Code(t, b) != "EntityTooSmall" {
			t.Fatalf("empty POST = %d %s", st, b)
		}
	})
	t.Run("expired policy", func(t *testing.T) {
		u, f := presign("uploads/p2", nil)
		h.clock.Advance(40 * time.Second)
		st, b, _ := postForm(t, u, f, []byte("x"))
		if st != 403 || s3Code(t, b) != "AccessDenied" || !strings.Contains(string(b), "Invalid according to Policy: Policy expired.") {
			t.Fatalf("late POST = %d %s", st, b)
		}
	})
	for _, w := range h.events() {
		switch w.Key {
		case "uploads/p2", "uploads/p3", "uploads/p4", "uploads/other", "uploads/p5":
			t.Errorf("a refused POST emitted an event: %+v", w)
		}
	}
}

func TestVersionedDecoratorKeepsVersioning(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	var ids []string
	for _, body := range []string{"first", "second"} {
		out, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/v"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Fatal("PutObject on a versioned bucket returned no version id: the decorator lost VersionedBackend")
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	got, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/v"), VersionId: aws.String(ids[0])})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	if string(b) != "first" {
		t.Fatalf("GET by the first versionId = %q", b)
	}
	for i, want := range []int64{5, 6} { // "first", "second"
		head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/v"), VersionId: aws.String(ids[i])})
		if err != nil || aws.ToInt64(head.ContentLength) != want || aws.ToString(head.VersionId) != ids[i] {
			t.Fatalf("HEAD by versionId %d = %+v, %v; want length %d", i, head, err, want)
		}
	}
	list, err := h.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("uploads/v")})
	if err != nil || len(list.Versions) != 2 || aws.ToString(list.Versions[0].VersionId) != ids[1] {
		t.Fatalf("ListObjectVersions = %+v, %v; want 2, newest first", list, err)
	}
	evs := h.events()
	if len(evs) != 2 || evs[0].VersionID != ids[0] || evs[1].VersionID != ids[1] {
		t.Fatalf("events = %+v; want one per version, carrying its versionId", evs)
	}

	// Deleting the current version by its id makes the previous one current,
	// as in S3.
	if _, err := h.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/v"), VersionId: aws.String(ids[1])}); err != nil {
		t.Fatal(err)
	}
	if got := getBody(t, h, "uploads/v"); got != "first" {
		t.Fatalf("GET after deleting the current version = %q, want the previous version", got)
	}
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/v"), Body: strings.NewReader("third")}); err != nil {
		t.Fatalf("PUT after deleting the current version: %v", err)
	}
	if got := getBody(t, h, "uploads/v"); got != "third" {
		t.Fatalf("GET = %q, want the newest upload", got)
	}
}

func getBody(t *testing.T, h *harness, key string) string {
	t.Helper()
	got, err := h.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer got.Body.Close()
	b, _ := io.ReadAll(got.Body)
	return string(b)
}

func TestIfNoneMatchIsAtomic(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	out, err := s3.NewPresignClient(h.client).PresignPutObject(ctx,
		&s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/inm"), IfNoneMatch: aws.String("*")})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, out.URL, strings.NewReader("x"))
			for k, v := range out.SignedHeader {
				if k != "Host" {
					req.Header[k] = v
				}
			}
			st, _ := do(t, req)
			statuses <- st
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[412]+count[409] != n-1 {
		t.Fatalf("statuses %v; want one 200 and the rest 412 (or 409)", count)
	}
}

func TestObjectsVersionsOldestFirst(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	var ids []string
	for _, body := range []string{"one", "two", "three"} {
		out, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/k"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	// A neighbour key must not show up.
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/k2"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Delete(fakes3.DeleteInput{Bucket: bucket, Key: "uploads/k", VersionID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/k")}); err != nil {
		t.Fatal(err) // a delete marker on top: not a version
	}
	vs, err := h.srv.Versions(bucket, "uploads/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].VersionID != ids[0] || vs[1].VersionID != ids[2] || vs[0].ETag != md5hex("one") {
		t.Fatalf("versions %+v; want [%s %s] with their ETags", vs, ids[0], ids[2])
	}
}

func md5hex(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }

// An SDK CopyObject goes through the decorator: the copy holds the source's
// bytes, answers the source's ETag and emits one ObjectCreated:Copy.
func TestCopyObjectKeepsBytesAndETag(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	body := bytes.Repeat([]byte("copy me "), 500)
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/a"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("accepted/a"), CopySource: aws.String(bucket + "/uploads/a")})
	if err != nil {
		t.Fatal(err)
	}
	want := md5hex(string(body))
	if got := strings.Trim(aws.ToString(out.CopyObjectResult.ETag), `"`); got != want {
		t.Fatalf("copy ETag %s, want the source's %s", got, want)
	}
	got, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("accepted/a")})
	if err != nil {
		t.Fatal(err)
	}
	copied, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(copied, body) {
		t.Fatalf("copy holds %d bytes, want the source's %d", len(copied), len(body))
	}
	var copies []s3event.Write
	for _, w := range h.events() {
		if w.EventName == s3event.ObjectCreatedCopy {
			copies = append(copies, w)
		}
	}
	if len(copies) != 1 || copies[0].Key != "accepted/a" || copies[0].ETag != want || copies[0].Size != int64(len(body)) {
		t.Fatalf("copy events %+v, want one for accepted/a with ETag %s and size %d", copies, want, len(body))
	}
}
