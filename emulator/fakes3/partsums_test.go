package fakes3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestMultipartPartChecksumsChecked: CompleteMultipartUpload is judged
// against the checksums the parts were uploaded with, as S3 judges it: a
// COMPOSITE upload's list must name every part's checksum (400
// InvalidRequest naming the part), a listed checksum other than the part's
// is 400 InvalidPart, and the upload can still be completed with the right
// list afterwards.
func TestMultipartPartChecksumsChecked(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	key := "uploads/partsums"
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 1000)}
	for _, p := range parts {
		_, _ = rand.Read(p)
	}
	up, err := h.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	var listed []types.CompletedPart
	for i, body := range parts {
		n := aws.Int32(int32(i + 1))
		out, err := h.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: n, Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	complete := func(parts []types.CompletedPart) error {
		_, err := h.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	missing := []types.CompletedPart{listed[0], {PartNumber: listed[1].PartNumber, ETag: listed[1].ETag}}
	if err := complete(missing); httpStatus(err) != 400 || !strings.Contains(err.Error(), "InvalidRequest") ||
		!strings.Contains(err.Error(), "It was missing for part 2") {
		t.Fatalf("complete without part 2's checksum: %v, want 400 InvalidRequest naming part 2", err)
	}
	wrong := []types.CompletedPart{listed[0], {PartNumber: listed[1].PartNumber, ETag: listed[1].ETag, ChecksumCRC32: aws.String("AAAAAA==")}}
	if err := complete(wrong); httpStatus(err) != 400 || !strings.Contains(err.Error(), "InvalidPart") {
		t.Fatalf("complete with another checksum for part 2: %v, want 400 InvalidPart", err)
	}
	if err := complete(listed); err != nil {
		t.Fatalf("complete with the parts' checksums after the refusals: %v", err)
	}
	head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || !strings.HasSuffix(aws.ToString(head.ChecksumCRC32), "-2") || head.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("HEAD after completing: %v CRC32 %q type %q, want a COMPOSITE -2", err, aws.ToString(head.ChecksumCRC32), head.ChecksumType)
	}
}
