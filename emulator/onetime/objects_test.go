package onetime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// sdkObjects serves the fake S3 over HTTP, with a bucket "b" and a
// versioned bucket "vb", and returns S3Objects on an SDK client for it.
// Requests for keys under "fail/<Code>/<status>/" are answered with that S3
// error instead, for the errors the fake S3 does not produce itself.
func sdkObjects(t *testing.T) (onetime.S3Objects, *s3.Client, *copySources) {
	t.Helper()
	srv := fakes3.New(fakes3.Config{Clock: clock.NewVirtual(time.Now().UTC().Truncate(time.Second))})
	for _, b := range []struct {
		name      string
		versioned bool
	}{{"b", false}, {"vb", true}} {
		if err := srv.CreateBucket(b.name, b.versioned); err != nil {
			t.Fatal(err)
		}
	}
	sources := &copySources{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
			sources.add(src)
		}
		// A copy names its source in a header; the error follows the source.
		path := r.URL.Path + " " + r.Header.Get("X-Amz-Copy-Source") + " " + r.URL.Query().Get("prefix")
		if i := strings.Index(path, "fail/"); i >= 0 {
			var code string
			var status int
			if _, err := fmt.Sscanf(strings.ReplaceAll(path[i+len("fail/"):], "/", " "), "%s %d", &code, &status); err != nil {
				t.Errorf("bad fail key %q: %v", path, err)
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey, "")})
	return onetime.S3Objects{Client: client}, client, sources
}

// copySources records the x-amz-copy-source headers sent.
type copySources struct {
	mu   sync.Mutex
	list []string
}

func (c *copySources) add(s string) { c.mu.Lock(); c.list = append(c.list, s); c.mu.Unlock() }

func (c *copySources) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.list) == 0 {
		return ""
	}
	return c.list[len(c.list)-1]
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body string) (etag, version string) {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), aws.ToString(out.VersionId)
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// TestS3ObjectsAgainstTheFakeS3: copy, conditional copy, delete, head and
// versions through the SDK over HTTP, with keys that need escaping.
func TestS3ObjectsAgainstTheFakeS3(t *testing.T) {
	o, c, sources := sdkObjects(t)
	ctx := context.Background()
	src, dst := "uploads/with space+plus=ü", "accepted/with space+plus=ü"
	etag, _ := putObject(t, c, "b", src, "first bytes")

	info, err := o.Head(ctx, "b", src)
	if err != nil || info.ETag != etag || info.Size != int64(len("first bytes")) || info.Key != src || strings.Contains(info.ETag, `"`) {
		t.Fatalf("Head = %+v, %v; want ETag %s without quotes, size 11", info, err, etag)
	}
	if err := o.Copy(ctx, onetime.CopyInput{Bucket: "b", SrcKey: src, DstKey: dst, IfMatch: etag}); err != nil {
		t.Fatalf("conditional copy with the current ETag: %v", err)
	}
	// S3 reads the header with query unescaping: "+" must be sent as %2B.
	if got, want := sources.last(), "b/uploads/with%20space%2Bplus%3D%C3%BC"; got != want {
		t.Fatalf("x-amz-copy-source %q, want %q", got, want)
	}
	if got, err := getObject(t, c, "b", dst); err != nil || got != "first bytes" {
		t.Fatalf("accepted copy = %q, %v", got, err)
	}
	// A quoted ETag is sent as is.
	if err := o.Copy(ctx, onetime.CopyInput{Bucket: "b", SrcKey: src, DstKey: dst, IfMatch: `"` + etag + `"`}); err != nil {
		t.Fatalf("conditional copy with a quoted ETag: %v", err)
	}
	if err := o.Delete(ctx, onetime.DeleteInput{Bucket: "b", Key: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Head(ctx, "b", src); !errors.Is(err, onetime.ErrNoSuchKey) {
		t.Fatalf("Head after delete: %v, want ErrNoSuchKey", err)
	}
	if err := o.Copy(ctx, onetime.CopyInput{Bucket: "b", SrcKey: src, DstKey: dst}); !errors.Is(err, onetime.ErrNoSuchKey) {
		t.Fatalf("copy of a missing source: %v, want ErrNoSuchKey", err)
	}
	// Deleting what is not there succeeds, as in S3.
	if err := o.Delete(ctx, onetime.DeleteInput{Bucket: "b", Key: src}); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}

	// Versions: oldest first, exactly the key (not uploads/v2, which shares
	// its prefix), and a copy of one version by versionId.
	var etags, versions []string
	for _, body := range []string{"one", "two", "three"} {
		e, v := putObject(t, c, "vb", "uploads/v", body)
		if v == "" {
			t.Fatal("no versionId from a versioned bucket")
		}
		etags, versions = append(etags, e), append(versions, v)
	}
	putObject(t, c, "vb", "uploads/v2", "other key")
	vs, err := o.Versions(ctx, "vb", "uploads/v")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%s %s %s %d", v.Key, v.VersionID, v.ETag, v.Size))
	}
	want := []string{
		fmt.Sprintf("uploads/v %s %s 3", versions[0], etags[0]),
		fmt.Sprintf("uploads/v %s %s 3", versions[1], etags[1]),
		fmt.Sprintf("uploads/v %s %s 5", versions[2], etags[2]),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Versions =\n%v\nwant\n%v", got, want)
	}
	if err := o.Copy(ctx, onetime.CopyInput{Bucket: "vb", SrcKey: "uploads/v", SrcVersionID: versions[1], DstKey: "accepted/v"}); err != nil {
		t.Fatal(err)
	}
	// gofakes3 v1.2.0 ignores versionId in a copy source over HTTP (it
	// copies the newest version), so only the request is checked here.
	if got, want := sources.last(), "vb/uploads/v?versionId="+url.QueryEscape(versions[1]); got != want {
		t.Fatalf("x-amz-copy-source %q, want %q", got, want)
	}
	if info, err := o.Head(ctx, "vb", "accepted/v"); err != nil || info.VersionID == "" || info.Size == 0 {
		t.Fatalf("Head of the copy = %+v, %v; want a versionId", info, err)
	}
	if err := o.Delete(ctx, onetime.DeleteInput{Bucket: "vb", Key: "uploads/v", VersionID: versions[0]}); err != nil {
		t.Fatal(err)
	}
	if vs, err := o.Versions(ctx, "vb", "uploads/v"); err != nil || len(vs) != 2 || vs[0].VersionID != versions[1] {
		t.Fatalf("after deleting the oldest version: %+v, %v; want two, %s first", vs, err, versions[1])
	}
	if vs, err := o.Versions(ctx, "vb", "uploads/none"); err != nil || len(vs) != 0 {
		t.Fatalf("versions of a missing key = %+v, %v", vs, err)
	}
}

// TestS3ObjectsErrorMapping: every S3 error the verifier tells apart maps
// to its sentinel, on every operation; others pass through unmapped.
func TestS3ObjectsErrorMapping(t *testing.T) {
	o, _, _ := sdkObjects(t)
	ctx := context.Background()
	ops := map[string]func(key string) error{
		"copy": func(key string) error {
			return o.Copy(ctx, onetime.CopyInput{Bucket: "b", SrcKey: key, DstKey: "accepted/x", IfMatch: "e"})
		},
		"delete": func(key string) error {
			return o.Delete(ctx, onetime.DeleteInput{Bucket: "b", Key: key, IfMatch: "e", VersionID: "v1"})
		},
		"head": func(key string) error { _, err := o.Head(ctx, "b", key); return err },
		"versions": func(key string) error {
			_, err := o.Versions(ctx, "b", key)
			return err
		},
	}
	for _, tc := range []struct {
		code   string
		status int
		want   error            // nil: no sentinel
		except map[string]error // per operation, when it differs
	}{
		{"NoSuchKey", 404, onetime.ErrNoSuchKey, map[string]error{"delete": nil}},
		{"NoSuchVersion", 404, onetime.ErrNoSuchKey, map[string]error{"delete": nil}},
		// HEAD has no body: the SDK names a 404 NotFound.
		{"NotFound", 404, onetime.ErrNoSuchKey, map[string]error{"delete": nil}},
		{"PreconditionFailed", 412, onetime.ErrPreconditionFailed, nil},
		{"AccessDenied", 403, nil, nil},
		{"NoSuchBucket", 404, nil, nil},
		{"InternalError", 500, nil, nil},
	} {
		for op, call := range ops {
			t.Run(tc.code+"/"+op, func(t *testing.T) {
				want, ok := tc.except[op]
				if !ok {
					want = tc.want
				}
				if op == "head" && tc.status == 404 && tc.code != "NotFound" {
					// A HEAD 404 is NotFound whatever the (unsent) body says.
					want = onetime.ErrNoSuchKey
				}
				err := call(fmt.Sprintf("fail/%s/%d/k", tc.code, tc.status))
				switch {
				case op == "delete" && want == nil && (tc.code == "NoSuchKey" || tc.code == "NoSuchVersion" || tc.code == "NotFound"):
					if err != nil {
						t.Fatalf("delete of a missing key = %v, want success", err)
					}
				case want == nil:
					if err == nil || errors.Is(err, onetime.ErrNoSuchKey) || errors.Is(err, onetime.ErrPreconditionFailed) {
						t.Fatalf("%s: %v; want the error unmapped", tc.code, err)
					}
				default:
					if !errors.Is(err, want) {
						t.Fatalf("%s: %v; want %v", tc.code, err, want)
					}
					if tc.code != "NotFound" && op != "head" && !strings.Contains(err.Error(), tc.code) {
						t.Fatalf("%s: %v; the S3 error is lost", tc.code, err)
					}
				}
			})
		}
	}
}
