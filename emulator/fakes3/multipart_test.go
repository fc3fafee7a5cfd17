package fakes3_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// TestMultipartEvent: a completed multipart upload emits one
// ObjectCreated:CompleteMultipartUpload, not ObjectCreated:Put.
func TestMultipartEvent(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	key := aws.String("uploads/multi")
	up, err := h.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")} {
		n := int32(i + 1)
		out, err := h.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	if _, err := h.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range h.events() {
		if w.Key == *key {
			names = append(names, w.EventName)
		}
	}
	if len(names) != 1 || names[0] != s3event.ObjectCreatedCompleteMultipart {
		t.Fatalf("events %v, want one %s", names, s3event.ObjectCreatedCompleteMultipart)
	}
	// A later single PUT of the key is a Put again.
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: key, Body: bytes.NewReader([]byte("x"))}); err != nil {
		t.Fatal(err)
	}
	if ev := h.events(); ev[len(ev)-1].EventName != s3event.ObjectCreatedPut {
		t.Fatalf("PUT after a multipart upload emitted %s", ev[len(ev)-1].EventName)
	}
}
