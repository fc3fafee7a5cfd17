package fakes3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// threeParts are the bodies of a 3-part upload: two of S3's minimum part
// size and a short last one.
func threeParts(t *testing.T) [][]byte {
	t.Helper()
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 5<<20), make([]byte, 1000)}
	for _, p := range parts {
		if _, err := rand.Read(p); err != nil {
			t.Fatal(err)
		}
	}
	return parts
}

// multipartETag is S3's ETag of a multipart upload, computed here from the
// bodies: md5 of the parts' binary MD5s, "-N", quoted.
func multipartETag(parts [][]byte) string {
	all := md5.New()
	for _, p := range parts {
		sum := md5.Sum(p)
		all.Write(sum[:])
	}
	return fmt.Sprintf(`"%x-%d"`, all.Sum(nil), len(parts))
}

// uploadMultipart runs CreateMultipartUpload (with create's checksum
// settings), one UploadPart per body (with alg, when set) and
// CompleteMultipartUpload listing the parts' ETags and checksums.
func uploadMultipart(t *testing.T, h *harness, key string, create s3.CreateMultipartUploadInput, alg types.ChecksumAlgorithm, parts [][]byte) *s3.CompleteMultipartUploadOutput {
	t.Helper()
	ctx := context.Background()
	create.Bucket, create.Key = aws.String(bucket), aws.String(key)
	up, err := h.client.CreateMultipartUpload(ctx, &create)
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, body := range parts {
		n := aws.Int32(int32(i + 1))
		out, err := h.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: n, Body: bytes.NewReader(body), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32,
			ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	}
	out, err := h.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func etagOf(head *s3.HeadObjectOutput, err error) string {
	if err != nil {
		return err.Error()
	}
	return "ETag " + aws.ToString(head.ETag)
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// TestMultipartETagIsStored: a completed 3-part upload's ETag, "md5 of the
// part MD5s-3", is the object's everywhere S3 shows one: HEAD, GET,
// ListObjectsV2, ListObjectVersions, the S3 event, the in-process API; HEAD
// If-Match with it is 200 and If-None-Match 304 (the body's MD5 matches
// neither); a copy's ETag is the plain MD5.
func TestMultipartETagIsStored(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	const key = "uploads/mp-etag"
	parts := threeParts(t)
	want := multipartETag(parts)
	bodyMD5 := md5.Sum(bytes.Join(parts, nil))
	plain := hex.EncodeToString(bodyMD5[:])
	done := uploadMultipart(t, h, key, s3.CreateMultipartUploadInput{}, "", parts)
	if got := aws.ToString(done.ETag); got != want {
		t.Fatalf("CompleteMultipartUpload ETag %s, want %s", got, want)
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if head, err := h.client.HeadObject(ctx, in); err != nil || aws.ToString(head.ETag) != want {
		t.Errorf("HEAD %v; want ETag %s", etagOf(head, err), want)
	}
	get, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if aws.ToString(get.ETag) != want || !bytes.Equal(b, bytes.Join(parts, nil)) {
		t.Errorf("GET ETag %s, %d bytes; want %s", aws.ToString(get.ETag), len(b), want)
	}
	list, err := h.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("ListObjectsV2 = %v, %v; want one object", list, err)
	}
	if got := aws.ToString(list.Contents[0].ETag); got != want {
		t.Errorf("ListObjectsV2 ETag %s, want %s", got, want)
	}
	versions, err := h.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("ListObjectVersions = %v, %v; want one version", versions, err)
	}
	if got := aws.ToString(versions.Versions[0].ETag); got != want {
		t.Errorf("ListObjectVersions ETag %s, want %s", got, want)
	}
	var evs []s3event.Write
	for _, ev := range h.events() {
		if ev.Key == key {
			evs = append(evs, ev)
		}
	}
	if len(evs) != 1 || evs[0].EventName != s3event.ObjectCreatedCompleteMultipart || evs[0].ETag != strings.Trim(want, `"`) {
		t.Errorf("events %+v; want one %s with ETag %s", evs, s3event.ObjectCreatedCompleteMultipart, want)
	}
	if info, err := h.srv.Head(bucket, key); err != nil || info.ETag != strings.Trim(want, `"`) {
		t.Errorf("Server.Head = %+v, %v", info, err)
	}
	checkMultipartConditions(t, h, key, want, plain)
}

// checkMultipartConditions: conditional reads and copies of a multipart
// object compare its multipart ETag, never the body's MD5 (plain).
func checkMultipartConditions(t *testing.T, h *harness, key, etag, plain string) {
	t.Helper()
	ctx := context.Background()
	head := func(ifMatch, ifNoneMatch string) int {
		in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if ifMatch != "" {
			in.IfMatch = aws.String(ifMatch)
		}
		if ifNoneMatch != "" {
			in.IfNoneMatch = aws.String(ifNoneMatch)
		}
		if _, err := h.client.HeadObject(ctx, in); err != nil {
			return httpStatus(err)
		}
		return 200
	}
	for _, c := range []struct {
		ifMatch, ifNoneMatch string
		want                 int
	}{{etag, "", 200}, {`"` + plain + `"`, "", 412}, {"", etag, 304}, {"", `"` + plain + `"`, 200}} {
		if got := head(c.ifMatch, c.ifNoneMatch); got != c.want {
			t.Errorf("HEAD If-Match %q If-None-Match %q = %d, want %d", c.ifMatch, c.ifNoneMatch, got, c.want)
		}
	}
	src := aws.String(bucket + "/" + key)
	if _, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("accepted/bad"), CopySource: src,
		CopySourceIfMatch: aws.String(`"` + plain + `"`)}); httpStatus(err) != 412 {
		t.Errorf("copy If-Match the body MD5: %v, want 412", err)
	}
	cp, err := h.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("accepted/mp"), CopySource: src,
		CopySourceIfMatch: aws.String(etag)})
	if err != nil || cp.CopyObjectResult == nil || aws.ToString(cp.CopyObjectResult.ETag) != `"`+plain+`"` {
		t.Fatalf("CopyObject = %+v, %v; want the plain MD5 %s", cp, err, plain)
	}
	if got, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("accepted/mp")}); err != nil ||
		aws.ToString(got.ETag) != `"`+plain+`"` {
		t.Errorf("copy's HEAD %v; want ETag %s", etagOf(got, err), plain)
	}
}

// composite is S3's COMPOSITE checksum, computed here: the algorithm over
// the parts' binary checksums, base64, "-N".
func composite(newHash func() hash.Hash, parts [][]byte) string {
	all := newHash()
	for _, p := range parts {
		h := newHash()
		h.Write(p)
		all.Write(h.Sum(nil))
	}
	return base64.StdEncoding.EncodeToString(all.Sum(nil)) + "-" + fmt.Sprint(len(parts))
}

func crc64NVME() hash.Hash64 { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) }

func b64(h hash.Hash, body []byte) string {
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestMultipartChecksums: an upload created with a checksum algorithm
// stores S3's checksum and type, returned by CompleteMultipartUpload and by
// HEAD with checksum mode enabled: CRC32 alone is COMPOSITE (over the
// parts' CRC32s, "-3"); CRC32 with ChecksumType FULL_OBJECT, and CRC64NVME,
// are the whole body's.
func TestMultipartChecksums(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	parts := threeParts(t)
	whole := bytes.Join(parts, nil)
	newCRC32 := func() hash.Hash { return crc32.NewIEEE() }
	for _, c := range []struct {
		name         string
		create       s3.CreateMultipartUploadInput
		alg          types.ChecksumAlgorithm
		want, wantTy string
		got          func(*s3.HeadObjectOutput) *string
		gotDone      func(*s3.CompleteMultipartUploadOutput) *string
	}{
		{"crc32 composite", s3.CreateMultipartUploadInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}, types.ChecksumAlgorithmCrc32,
			composite(newCRC32, parts), "COMPOSITE",
			func(o *s3.HeadObjectOutput) *string { return o.ChecksumCRC32 },
			func(o *s3.CompleteMultipartUploadOutput) *string { return o.ChecksumCRC32 }},
		{"crc32 full object", s3.CreateMultipartUploadInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeFullObject},
			types.ChecksumAlgorithmCrc32, b64(crc32.NewIEEE(), whole), "FULL_OBJECT",
			func(o *s3.HeadObjectOutput) *string { return o.ChecksumCRC32 },
			func(o *s3.CompleteMultipartUploadOutput) *string { return o.ChecksumCRC32 }},
		{"crc64nvme", s3.CreateMultipartUploadInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme}, types.ChecksumAlgorithmCrc64nvme,
			b64(crc64NVME(), whole), "FULL_OBJECT",
			func(o *s3.HeadObjectOutput) *string { return o.ChecksumCRC64NVME },
			func(o *s3.CompleteMultipartUploadOutput) *string { return o.ChecksumCRC64NVME }},
	} {
		key := "uploads/" + strings.ReplaceAll(c.name, " ", "-")
		done := uploadMultipart(t, h, key, c.create, c.alg, parts)
		if got := aws.ToString(c.gotDone(done)); got != c.want || string(done.ChecksumType) != c.wantTy {
			t.Errorf("%s: CompleteMultipartUpload checksum %q type %q, want %q %s", c.name, got, done.ChecksumType, c.want, c.wantTy)
		}
		head, err := h.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(c.got(head)); got != c.want || string(head.ChecksumType) != c.wantTy {
			t.Errorf("%s: HEAD checksum %q type %q, want %q %s", c.name, got, head.ChecksumType, c.want, c.wantTy)
		}
		if head.ETag == nil || aws.ToString(head.ETag) != multipartETag(parts) {
			t.Errorf("%s: HEAD ETag %s, want %s", c.name, aws.ToString(head.ETag), multipartETag(parts))
		}
		// The SDK validates a full-object checksum on GET and skips a
		// composite one.
		get, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil || !bytes.Equal(b, whole) {
			t.Errorf("%s: GET read %d bytes, %v", c.name, len(b), err)
		}
	}
	// A part's checksum is echoed, as S3 does, so that clients can list
	// it in CompleteMultipartUpload; it has no checksum type.
	up, err := h.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("uploads/p"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	part, err := h.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("uploads/p"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(parts[2]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	var want [4]byte
	binary.BigEndian.PutUint32(want[:], crc32.ChecksumIEEE(parts[2]))
	if got := aws.ToString(part.ChecksumCRC32); got != base64.StdEncoding.EncodeToString(want[:]) {
		t.Errorf("UploadPart ChecksumCRC32 %q, want %q", got, base64.StdEncoding.EncodeToString(want[:]))
	}
}

// TestMultipartCompletionEdges: a part list with no part is S3's 400
// MalformedXML; the ETag travels to the response under an internal header
// that never reaches the client; concurrent completions of one key each
// store their own ETag.
func TestMultipartCompletionEdges(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	const key = "uploads/edges"
	up, err := h.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{}})
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || !strings.Contains(err.Error(), "MalformedXML") {
		t.Fatalf("complete with no parts: %v, want 400 MalformedXML", err)
	}

	const n = 4
	etags := make(chan [2]string, n)
	for i := range n {
		go func() {
			var res [2]string
			defer func() { etags <- res }() // also after a t.Fatal
			body := []byte(strings.Repeat(fmt.Sprint(i), 100+i))
			done := uploadMultipart(t, h, key, s3.CreateMultipartUploadInput{}, "", [][]byte{body})
			res = [2]string{aws.ToString(done.VersionId), aws.ToString(done.ETag)}
		}()
	}
	want := map[string]string{}
	for range n {
		e := <-etags
		want[e[0]] = e[1]
	}
	list, err := h.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil || len(list.Versions) != n {
		t.Fatalf("ListObjectVersions = %v, %v; want %d versions", list, err, n)
	}
	for _, v := range list.Versions {
		id, etag := aws.ToString(v.VersionId), aws.ToString(v.ETag)
		if want[id] != etag || !strings.HasSuffix(etag, `-1"`) {
			t.Errorf("version %s has ETag %s, its completion answered %s", id, etag, want[id])
		}
	}

	// Anonymous GETs are served: read the raw headers.
	resp, err := http.Get(h.url + "/" + bucket + "/" + key)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for name := range resp.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-uploadonce") {
			t.Errorf("internal header %s reached the client", name)
		}
	}
	if etag := resp.Header.Get("ETag"); !strings.HasSuffix(etag, `-1"`) {
		t.Errorf("GET ETag %s, want a multipart one", etag)
	}
}
