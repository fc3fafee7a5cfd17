package fakes3_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestCopyObjectVersionsAndDirectives(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	put := func(body string, in *s3.PutObjectInput) string {
		t.Helper()
		in.Bucket, in.Key, in.Body = aws.String(bucket), aws.String("src"), strings.NewReader(body)
		out, err := h.client.PutObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	v1 := put("one", &s3.PutObjectInput{ContentDisposition: aws.String("inline"), Metadata: map[string]string{"a": "1"}})
	put("two", &s3.PutObjectInput{})
	read := func(key string) (string, *s3.GetObjectOutput) {
		t.Helper()
		out, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		return string(b), out
	}

	// A source versionId copies that version, not the current one.
	cp, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst"),
		CopySource: aws.String(bucket + "/src?versionId=" + v1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cp.CopySourceVersionId) != v1 || aws.ToString(cp.VersionId) == v1 || cp.VersionId == nil ||
		cp.CopyObjectResult.LastModified == nil {
		t.Errorf("copy answered source %v, version %v, result %+v", aws.ToString(cp.CopySourceVersionId), aws.ToString(cp.VersionId), cp.CopyObjectResult)
	}
	body, got := read("dst")
	if body != "one" || got.Metadata["a"] != "1" || aws.ToString(got.ContentDisposition) != "inline" || got.LastModified == nil {
		t.Errorf("COPY of v1 = %q meta %v disposition %v", body, got.Metadata, aws.ToString(got.ContentDisposition))
	}

	// REPLACE replaces all metadata, Content-Disposition included.
	if _, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst2"),
		CopySource: aws.String(bucket + "/src?versionId=" + v1), MetadataDirective: types.MetadataDirectiveReplace,
		Metadata: map[string]string{"b": "2"}}); err != nil {
		t.Fatal(err)
	}
	body, got = read("dst2")
	if body != "one" || got.Metadata["b"] != "2" || got.Metadata["a"] != "" || got.ContentDisposition != nil {
		t.Errorf("REPLACE = %q meta %v disposition %v", body, got.Metadata, aws.ToString(got.ContentDisposition))
	}

	// A copy onto itself without REPLACE is refused, as S3 does.
	_, err = h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("src"), CopySource: aws.String(bucket + "/src")})
	if apiCode(err) != "InvalidRequest" {
		t.Errorf("copy onto itself: %v", err)
	}

	// Deleting the current version by its id makes the previous one
	// current; no delete marker is added.
	v3 := put("three", &s3.PutObjectInput{})
	if out, err := h.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("src"), VersionId: aws.String(v3)}); err != nil || aws.ToBool(out.DeleteMarker) {
		t.Fatalf("delete version %s = %+v, %v", v3, out, err)
	}
	if body, _ := read("src"); body != "two" {
		t.Errorf("after deleting the current version: %q, want the previous one", body)
	}

	// A current delete marker: 404 with x-amz-delete-marker; by its id, 405.
	del, err := h.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("src")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	for _, c := range []struct {
		version string
		status  int
	}{{"", 404}, {aws.ToString(del.VersionId), 405}} {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("src")}
		if c.version != "" {
			in.VersionId = aws.String(c.version)
		}
		_, err := h.client.GetObject(ctx, in)
		var re *smithyhttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != c.status || re.Response.Header.Get("x-amz-delete-marker") != "true" ||
			re.Response.Header.Get("x-amz-version-id") != aws.ToString(del.VersionId) {
			t.Errorf("GET marker (version %q): %v, want %d with x-amz-delete-marker", c.version, err, c.status)
		}
	}
	_, err = h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst3"),
		CopySource: aws.String(bucket + "/src?versionId=" + aws.ToString(del.VersionId))})
	if apiCode(err) != "InvalidRequest" {
		t.Errorf("copy of a delete marker by id: %v", err)
	}
	_, err = h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst3"), CopySource: aws.String(bucket + "/src")})
	if apiCode(err) != "NoSuchKey" {
		t.Errorf("copy of a deleted key: %v", err)
	}
}

// TestCopyObjectChecksumAlgorithm: a CopyObject that asks for a checksum
// algorithm gets that checksum of the copied bytes, in its answer and on
// the copy, in place of the source's; an unknown algorithm is 400
// InvalidRequest.
func TestCopyObjectChecksumAlgorithm(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	body := "copy me with another checksum"
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("src"),
		Body: strings.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for _, directive := range []types.MetadataDirective{types.MetadataDirectiveCopy, types.MetadataDirectiveReplace} {
		dst := "dst-" + string(directive)
		out, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(dst),
			CopySource: aws.String(bucket + "/src"), MetadataDirective: directive, ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.CopyObjectResult.ChecksumSHA256); got != want {
			t.Errorf("%s: CopyObjectResult ChecksumSHA256 %q, want %q", directive, got, want)
		}
		head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(dst), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(head.ChecksumSHA256) != want || head.ChecksumCRC32 != nil || head.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("%s: copy's checksums SHA256 %q CRC32 %q type %q, want only SHA256 %q FULL_OBJECT", directive,
				aws.ToString(head.ChecksumSHA256), aws.ToString(head.ChecksumCRC32), head.ChecksumType, want)
		}
	}
	_, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst-bad"),
		CopySource: aws.String(bucket + "/src"), ChecksumAlgorithm: "MD6"})
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || !strings.Contains(err.Error(), "InvalidRequest") {
		t.Fatalf("copy with algorithm MD6: %v, want 400 InvalidRequest", err)
	}
}
