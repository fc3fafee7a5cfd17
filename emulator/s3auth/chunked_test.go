package s3auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// unsignedChunked frames data as STREAMING-UNSIGNED-PAYLOAD-TRAILER with
// chunks of size n and the given trailer lines.
func unsignedChunked(data []byte, n int, trailers ...string) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		c := min(n, len(data))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", c, data[:c])
		data = data[c:]
	}
	b.WriteString("0\r\n")
	for _, t := range trailers {
		b.WriteString(t + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func checksumOf(t *testing.T, name string, data []byte) string {
	_, h, ok := newChecksum(name)
	if !ok {
		t.Fatalf("no checksum %s", name)
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestCRC64NVME: the checksum behind x-amz-checksum-crc64nvme has the
// CRC-64/NVME check value for "123456789" and agrees with hash/crc64 on
// the reversed polynomial at lengths around its block sizes.
func TestCRC64NVME(t *testing.T) {
	sum := func(b []byte) uint64 {
		h, _ := NewChecksum("x-amz-checksum-crc64nvme")
		h.Write(b)
		return binary.BigEndian.Uint64(h.Sum(nil))
	}
	if got := sum([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Fatalf("crc64nvme check = %x", got)
	}
	tab := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	data := bytes.Repeat([]byte("uploadonce crc64nvme "), 400)
	for _, n := range []int{0, 1, 7, 8, 63, 64, 65, 1024, 2047, 2048, 4096, len(data)} {
		if got, want := sum(data[:n]), crc64.Checksum(data[:n], tab); got != want {
			t.Fatalf("length %d: %x, hash/crc64 says %x", n, got, want)
		}
	}
}

func TestChunkedTrailers(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	for _, alg := range []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"} {
		name := "x-amz-checksum-" + alg
		good := name + ":" + checksumOf(t, name, data)
		bad := name + ":" + checksumOf(t, name, []byte("other"))
		tests := []struct {
			name string
			body []byte
			want string
		}{
			{"valid", unsignedChunked(data, 4096, good), ""},
			{"checksum of other bytes", unsignedChunked(data, 4096, bad), CodeBadDigest},
			{"checksum not base64", unsignedChunked(data, 4096, name+":!!"), CodeInvalidDigest},
			{"declared trailer missing", unsignedChunked(data, 4096), CodeMalformedTrailerError},
			{"truncated in data", unsignedChunked(data, 4096, good)[:5000], CodeIncompleteBody},
			{"truncated before trailer end", bytes.TrimSuffix(unsignedChunked(data, 4096, good), []byte("\r\n")), CodeIncompleteBody},
		}
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				r := NewChunkedReader(bytes.NewReader(tt.body), PayloadUnsignedTrailer,
					ChunkedOptions{DecodedLength: int64(len(data)), Trailers: []string{name}})
				got, err := io.ReadAll(r)
				if c := code(t, err); c != tt.want {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				if err == nil && !bytes.Equal(got, data) {
					t.Fatal("decoded bytes differ")
				}
			})
		}
	}
}

func TestChunkedFraming(t *testing.T) {
	tests := []struct {
		name string
		body string
		dl   int64
		want string
	}{
		{"empty object", "0\r\n\r\n", 0, ""},
		{"two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5, ""},
		{"no size", "\r\nabc\r\n0\r\n\r\n", 3, CodeInvalidRequest},
		{"size not hex", "xyz\r\nabc\r\n0\r\n\r\n", 3, CodeInvalidRequest},
		{"LF only", "3\nabc\r\n0\r\n\r\n", 3, CodeInvalidRequest},
		{"data longer than size", "2\r\nabc\r\n0\r\n\r\n", 3, CodeInvalidRequest},
		{"longer than decoded length", "3\r\nabc\r\n0\r\n\r\n", 2, CodeInvalidRequest},
		{"shorter than decoded length", "3\r\nabc\r\n0\r\n\r\n", 4, CodeIncompleteBody},
		{"empty body", "", 0, CodeIncompleteBody},
		{"huge size", "ffffffffffffffff\r\n", -1, CodeInvalidRequest},
		{"undeclared trailer", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 0, CodeMalformedTrailerError},
		{"header line too long", strings.Repeat("1", 5000) + "\r\n", -1, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := io.ReadAll(NewChunkedReader(strings.NewReader(tt.body), PayloadUnsignedTrailer, ChunkedOptions{DecodedLength: tt.dl}))
			if got := code(t, err); got != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSignedChunksAWSExample is the worked example of the AWS SigV4
// streaming documentation: 66560 bytes of 'a' in 64 KiB + 1 KiB chunks.
func TestSignedChunksAWSExample(t *testing.T) {
	v := &Verifier{Creds: Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}
	body := func(sig3 string) []byte {
		var b bytes.Buffer
		b.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
		b.Write(bytes.Repeat([]byte("a"), 65536))
		b.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
		b.Write(bytes.Repeat([]byte("a"), 1024))
		b.WriteString("\r\n0;chunk-signature=" + sig3 + "\r\n\r\n")
		return b.Bytes()
	}
	const final = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	for _, tt := range []struct {
		name string
		body []byte
		want string
	}{
		{"valid", body(final), ""},
		{"final signature wrong", body(strings.Repeat("0", 64)), CodeSignatureDoesNotMatch},
	} {
		r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(tt.body))
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		r.Header.Set("X-Amz-Content-Sha256", StreamingSignedPayload)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		r.ContentLength = 66824
		now := time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC)
		if err := v.VerifyHeader(r, now); err != nil {
			t.Fatalf("%s: seed signature: %v", tt.name, err)
		}
		rd, n, err := v.PrepareBody(r)
		if err != nil || n != 66560 {
			t.Fatalf("%s: PrepareBody: %v %d", tt.name, err, n)
		}
		got, err := io.ReadAll(rd)
		if c := code(t, err); c != tt.want {
			t.Fatalf("%s: read err = %v, want %q", tt.name, err, tt.want)
		}
		if err == nil && !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
			t.Fatalf("%s: decoded bytes differ", tt.name)
		}
	}
}

// signedChunked frames data as signed chunks with an optional signed
// checksum trailer, computing the chain as a client would.
func signedChunked(s ChunkSigning, data []byte, n int, trailer string) []byte {
	var b bytes.Buffer
	prev := s.Seed
	sign := func(chunk []byte) string {
		h := sha256.Sum256(chunk)
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.Date + "\n" + s.Scope + "\n" + prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(h[:])
		prev = hex.EncodeToString(hmacSHA256(s.Key, sts))
		return prev
	}
	for len(data) > 0 {
		c := min(n, len(data))
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", c, sign(data[:c]), data[:c])
		data = data[c:]
	}
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n", sign(nil))
	if trailer != "" {
		h := sha256.Sum256([]byte(trailer + "\n"))
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.Date + "\n" + s.Scope + "\n" + prev + "\n" + hex.EncodeToString(h[:])
		fmt.Fprintf(&b, "%s\r\nx-amz-trailer-signature:%s\r\n", trailer, hex.EncodeToString(hmacSHA256(s.Key, sts)))
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func TestSignedChunks(t *testing.T) {
	s := ChunkSigning{Key: SigningKey(testSecret, "20260101", "us-east-1", "s3"), Date: "20260101T000000Z",
		Scope: "20260101/us-east-1/s3/aws4_request", Seed: strings.Repeat("ab", 32)}
	data := bytes.Repeat([]byte("xyz"), 5000)
	trailer := "x-amz-checksum-crc32c:" + checksumOf(t, "x-amz-checksum-crc32c", data)
	tamper := func(b []byte, at int) []byte { c := bytes.Clone(b); c[at] ^= 1; return c }
	plain := signedChunked(s, data, 8192, "")
	withTrailer := signedChunked(s, data, 8192, trailer)
	otherSeed := s
	otherSeed.Seed = strings.Repeat("cd", 32)
	tests := []struct {
		name     string
		mode     PayloadMode
		body     []byte
		signing  *ChunkSigning
		trailers []string
		want     string
	}{
		{"signed chunks", PayloadSigned, plain, &s, nil, ""},
		{"signed chunks, not verified without signing", PayloadSigned, tamper(plain, 200), nil, nil, ""},
		{"data byte flipped", PayloadSigned, tamper(plain, 200), &s, nil, CodeSignatureDoesNotMatch},
		{"other seed", PayloadSigned, plain, &otherSeed, nil, CodeSignatureDoesNotMatch},
		{"unsigned chunk in signed mode", PayloadSigned, unsignedChunked(data, 8192), &s, nil, CodeInvalidRequest},
		{"signed trailer", PayloadSignedTrailer, withTrailer, &s, []string{"x-amz-checksum-crc32c"}, ""},
		{"trailer value changed", PayloadSignedTrailer, bytes.Replace(withTrailer, []byte(trailer), []byte("x-amz-checksum-crc32c:AAAAAA=="), 1), &s, []string{"x-amz-checksum-crc32c"}, CodeSignatureDoesNotMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewChunkedReader(bytes.NewReader(tt.body), tt.mode, ChunkedOptions{DecodedLength: int64(len(data)), Trailers: tt.trailers, Signing: tt.signing})
			got, err := io.ReadAll(r)
			if c := code(t, err); c != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if err == nil && tt.signing != nil && !bytes.Equal(got, data) {
				t.Fatal("decoded bytes differ")
			}
		})
	}
}

func TestPrepareBodyPlain(t *testing.T) {
	sum := func(b string) string { h := sha256.Sum256([]byte(b)); return hex.EncodeToString(h[:]) }
	tests := []struct {
		name   string
		body   string
		header map[string]string
		want   string
	}{
		{"unsigned", "hello", map[string]string{"X-Amz-Content-Sha256": UnsignedPayload}, ""},
		{"sha256 matches", "hello", map[string]string{"X-Amz-Content-Sha256": sum("hello")}, ""},
		{"sha256 of other bytes", "hello", map[string]string{"X-Amz-Content-Sha256": sum("bye")}, CodeXAmzContentSHA256Mismatch},
		{"crc32 header matches", "hello", map[string]string{"X-Amz-Checksum-Crc32": "NhCmhg=="}, ""},
		{"crc32 header wrong", "hello", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, CodeBadDigest},
		{"content-md5 wrong", "hello", map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, CodeBadDigest},
		{"content-md5 matches", "hello", map[string]string{"Content-Md5": "XUFAKrxLKna5cZ2REBfFkg=="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/b/k", strings.NewReader(tt.body))
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			rd, n, err := PrepareBody(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rd)
			if c := code(t, err); c != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if err == nil && (string(got) != tt.body || n != int64(len(tt.body))) {
				t.Fatalf("got %q (%d)", got, n)
			}
		})
	}
	r := httptest.NewRequest(http.MethodPut, "/b/k", strings.NewReader("x"))
	r.ContentLength = -1
	if _, _, err := PrepareBody(r); code(t, err) != CodeMissingContentLength {
		t.Fatalf("unknown length: %v", err)
	}
}

// TestSDKPutObjectRoundTrip sends PutObject with the SDK's default and
// explicit checksum settings, over http and https, and checks that
// VerifyHeader accepts it and PrepareBody yields the exact bytes.
func TestSDKPutObjectRoundTrip(t *testing.T) {
	v := testVerifier()
	type result struct {
		data     []byte
		n        int64
		encoding string
		err      error
	}
	var last result
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = result{encoding: r.Header.Get("X-Amz-Content-Sha256")}
		if err := v.VerifyHeader(r, time.Now()); err != nil {
			last.err = err
			WriteError(w, err, "r")
			return
		}
		rd, n, err := v.PrepareBody(r)
		if err == nil {
			last.data, err = io.ReadAll(rd)
		}
		last.n, last.err = n, err
		if err != nil {
			WriteError(w, err, "r")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i * 7)
	}
	plainSrv := httptest.NewServer(h)
	defer plainSrv.Close()
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	tests := []struct {
		name       string
		srv        *httptest.Server
		alg        types.ChecksumAlgorithm
		unseekable bool   // body as a plain io.Reader, which forces aws-chunked over TLS
		mode       string // x-amz-content-sha256 the SDK is expected to send
	}{
		{"http default", plainSrv, "", false, "sha256"},
		{"https default", tlsSrv, "", false, UnsignedPayload},
		{"https default unseekable", tlsSrv, "", true, UnsignedPayload},
		{"https crc32", tlsSrv, types.ChecksumAlgorithmCrc32, true, StreamingUnsignedPayloadTrailer},
		{"https crc32c", tlsSrv, types.ChecksumAlgorithmCrc32c, true, StreamingUnsignedPayloadTrailer},
		{"https crc64nvme", tlsSrv, types.ChecksumAlgorithmCrc64nvme, true, StreamingUnsignedPayloadTrailer},
		{"https sha1", tlsSrv, types.ChecksumAlgorithmSha1, true, StreamingUnsignedPayloadTrailer},
		{"https sha256", tlsSrv, types.ChecksumAlgorithmSha256, true, StreamingUnsignedPayloadTrailer},
		{"http crc32 header", plainSrv, types.ChecksumAlgorithmCrc32, false, "sha256"},
	}
	for _, tt := range tests {
		for _, size := range []int{0, 1, len(big)} {
			t.Run(tt.name+"/"+strconv.Itoa(size), func(t *testing.T) {
				c := sdkClient(tt.srv.URL, testAKID, testSecret, DefaultRegion, tt.srv.Client())
				data := big[:size]
				var body io.Reader = bytes.NewReader(data)
				if tt.unseekable {
					body = io.MultiReader(bytes.NewReader(data))
				}
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(testBucket), Key: aws.String("k"), Body: body,
					ContentLength: aws.Int64(int64(size)), ChecksumAlgorithm: tt.alg,
				}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
				if err != nil {
					t.Fatalf("PutObject: %v (server: %v)", err, last.err)
				}
				if tt.mode == "sha256" {
					if !isHexSHA256(last.encoding) {
						t.Errorf("payload hash %q, want hex sha256", last.encoding)
					}
				} else if last.encoding != tt.mode && size > 0 { // an empty body goes unchunked
					t.Errorf("payload hash %q, want %q", last.encoding, tt.mode)
				}
				if !bytes.Equal(last.data, data) || last.n != int64(size) {
					t.Fatalf("stored %d bytes (n=%d), want %d exact", len(last.data), last.n, size)
				}
			})
		}
	}
}

func TestStorableContentEncoding(t *testing.T) {
	h := http.Header{"Content-Encoding": {"aws-chunked,gzip"}}
	if got := StorableContentEncoding(h); got != "gzip" {
		t.Fatalf("got %q", got)
	}
	if got := StorableContentEncoding(http.Header{"Content-Encoding": {"aws-chunked"}}); got != "" {
		t.Fatalf("got %q", got)
	}
}
