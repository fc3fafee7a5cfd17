package fakes3_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
)

// crc64NVMEOf is body's CRC64NVME as S3 sends it, computed here apart from
// the emulator.
func crc64NVMEOf(body []byte) string {
	h := crc64NVME()
	_, _ = h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// headChecksums is HEAD with checksum mode on.
func headChecksums(t *testing.T, h *harness, key string) *s3.HeadObjectOutput {
	t.Helper()
	head, err := h.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	return head
}

func checkDefaultChecksum(t *testing.T, what string, head *s3.HeadObjectOutput, body []byte) {
	t.Helper()
	if got, want := aws.ToString(head.ChecksumCRC64NVME), crc64NVMEOf(body); got != want || head.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("%s: HEAD ChecksumCRC64NVME %q type %q, want %q FULL_OBJECT (S3's default checksum)", what, got, head.ChecksumType, want)
	}
	if head.ChecksumCRC32 != nil || head.ChecksumCRC32C != nil || head.ChecksumSHA1 != nil || head.ChecksumSHA256 != nil {
		t.Errorf("%s: HEAD has another checksum too: %+v", what, head)
	}
}

// TestDefaultChecksum: S3 keeps a full-object CRC64NVME of every object
// written without a checksum (PUT, POST, a multipart upload created with no
// algorithm), answers it to the PUT, and sends it on a HEAD or GET with
// checksum mode on; an object written with a checksum keeps only that one,
// and a copy, even one that replaces the metadata, keeps the source's.
func TestDefaultChecksum(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	plain := s3.New(s3.Options{Region: fakes3.DefaultRegion, BaseEndpoint: aws.String(h.url), UsePathStyle: true,
		Credentials: h.client.Options().Credentials, RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	body := []byte("hello, default checksum")

	put, err := plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("d/put"), Body: strings.NewReader(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(put.ChecksumCRC64NVME); got != crc64NVMEOf(body) || put.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("PutObject without checksum answered CRC64NVME %q type %q, want %q FULL_OBJECT", got, put.ChecksumType, crc64NVMEOf(body))
	}
	checkDefaultChecksum(t, "PUT", headChecksums(t, h, "d/put"), body)
	req := httptest.NewRequest(http.MethodGet, "/"+bucket+"/d/put", nil)
	req.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	if got := serveRaw(h, req); got.Code != 200 || got.Header().Get("X-Amz-Checksum-Crc64nvme") != crc64NVMEOf(body) ||
		got.Header().Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
		t.Errorf("GET with checksum mode: %d %v", got.Code, got.Header())
	}

	post, err := s3.NewPresignClient(h.client).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("d/post")},
		func(o *s3.PresignPostOptions) { o.Expires = time.Minute })
	if err != nil {
		t.Fatal(err)
	}
	if st, b, _ := postForm(t, post.URL, post.Values, body); st != 204 {
		t.Fatalf("POST = %d %s", st, b)
	}
	checkDefaultChecksum(t, "POST", headChecksums(t, h, "d/post"), body)

	parts := threeParts(t)
	done := uploadMultipart(t, h, "d/multipart", s3.CreateMultipartUploadInput{}, "", parts)
	whole := []byte(strings.Join([]string{string(parts[0]), string(parts[1]), string(parts[2])}, ""))
	if got := aws.ToString(done.ChecksumCRC64NVME); got != crc64NVMEOf(whole) || done.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("CompleteMultipartUpload answered CRC64NVME %q type %q, want %q FULL_OBJECT", got, done.ChecksumType, crc64NVMEOf(whole))
	}
	checkDefaultChecksum(t, "multipart", headChecksums(t, h, "d/multipart"), whole)

	crc, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("d/crc32"), Body: strings.NewReader(string(body)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if crc.ChecksumCRC64NVME != nil {
		t.Errorf("PutObject with CRC32 also answered CRC64NVME %q", aws.ToString(crc.ChecksumCRC64NVME))
	}
	for _, key := range []string{"d/crc32", "d/copy", "d/replaced"} {
		if key == "d/copy" || key == "d/replaced" {
			in := &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(bucket + "/d/crc32")}
			if key == "d/replaced" {
				in.MetadataDirective, in.Metadata = types.MetadataDirectiveReplace, map[string]string{"new": "1"}
			}
			if _, err := h.client.CopyObject(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		head := headChecksums(t, h, key)
		if aws.ToString(head.ChecksumCRC32) != aws.ToString(crc.ChecksumCRC32) || head.ChecksumCRC64NVME != nil || head.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("%s: HEAD CRC32 %q CRC64NVME %q type %q, want only CRC32 %q", key, aws.ToString(head.ChecksumCRC32),
				aws.ToString(head.ChecksumCRC64NVME), head.ChecksumType, aws.ToString(crc.ChecksumCRC32))
		}
	}
}
