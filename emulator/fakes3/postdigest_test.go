package fakes3_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPostDigestFields: a POST's Content-MD5 and x-amz-checksum-* form
// fields are checked against the file as S3 checks them (BadDigest on a
// mismatch, InvalidDigest on a value that is no digest, nothing stored),
// and a checksum that matches is kept as the object's.
func TestPostDigestFields(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	file := []byte("posted bytes")
	md5sum := md5.Sum(file)
	crc := crc32.ChecksumIEEE(file)
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum[:])
	goodCRC := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	badCRC := base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4})
	post := func(key string, extra map[string]string) (int, []byte) {
		t.Helper()
		var conds []any
		for k := range extra {
			conds = append(conds, []any{"starts-with", "$" + k, ""})
		}
		out, err := s3.NewPresignClient(h.client).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
			func(o *s3.PresignPostOptions) { o.Expires = 30 * time.Second; o.Conditions = conds })
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range extra {
			out.Values[k] = v
		}
		st, b, _ := postForm(t, out.URL, out.Values, file)
		return st, b
	}
	for _, tc := range []struct {
		name     string
		fields   map[string]string
		status   int
		code     string
		wantCRC  string
		wantType types.ChecksumType
	}{
		{name: "matching Content-MD5", fields: map[string]string{"Content-MD5": goodMD5}, status: 204},
		{name: "Content-MD5 of other bytes", fields: map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, status: 400, code: "BadDigest"},
		{name: "Content-MD5 that is no MD5", fields: map[string]string{"Content-MD5": "bm90IGFuIG1kNQ=="}, status: 400, code: "InvalidDigest"},
		{name: "matching CRC32", fields: map[string]string{"x-amz-checksum-crc32": goodCRC}, status: 204, wantCRC: goodCRC, wantType: types.ChecksumTypeFullObject},
		{name: "CRC32 of other bytes", fields: map[string]string{"x-amz-checksum-crc32": badCRC}, status: 400, code: "BadDigest"},
		{name: "CRC32 that is no CRC32", fields: map[string]string{"x-amz-checksum-crc32": "!!"}, status: 400, code: "InvalidDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "uploads/digest/" + strings.ReplaceAll(tc.name, " ", "-")
			before := len(h.events())
			st, b := post(key, tc.fields)
			if st != tc.status || (tc.code != "" && s3Code(t, b) != tc.code) {
				t.Fatalf("POST = %d %s, want %d %s", st, b, tc.status, tc.code)
			}
			head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if tc.status != 204 {
				if err == nil || len(h.events()) != before {
					t.Fatalf("a refused POST stored its file: head err %v, %d new events", err, len(h.events())-before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCRC != "" && (aws.ToString(head.ChecksumCRC32) != tc.wantCRC || head.ChecksumType != tc.wantType) {
				t.Fatalf("HEAD CRC32 %q type %q, want %q %q", aws.ToString(head.ChecksumCRC32), head.ChecksumType, tc.wantCRC, tc.wantType)
			}
		})
	}
}
