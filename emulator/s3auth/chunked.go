package s3auth

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/crc64nvme"
)

// PayloadMode is how a PUT body is framed, read from x-amz-content-sha256.
type PayloadMode int

// The payload modes.
const (
	// PayloadPlain: the body is the object (UNSIGNED-PAYLOAD, a hex
	// SHA-256, or no header at all).
	PayloadPlain PayloadMode = iota
	// PayloadSigned: aws-chunked with a signature per chunk
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
	PayloadSigned
	// PayloadSignedTrailer: signed chunks plus signed trailers
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
	PayloadSignedTrailer
	// PayloadUnsignedTrailer: plain chunks plus trailers
	// (STREAMING-UNSIGNED-PAYLOAD-TRAILER), what the AWS SDKs send over TLS
	// when they add a checksum.
	PayloadUnsignedTrailer
)

// ModeOf maps an x-amz-content-sha256 value to its PayloadMode.
func ModeOf(contentSHA256 string) PayloadMode {
	switch contentSHA256 {
	case StreamingSignedPayload:
		return PayloadSigned
	case StreamingSignedPayloadTrailer:
		return PayloadSignedTrailer
	case StreamingUnsignedPayloadTrailer:
		return PayloadUnsignedTrailer
	}
	return PayloadPlain
}

func (m PayloadMode) signed() bool { return m == PayloadSigned || m == PayloadSignedTrailer }

// ChunkSigning holds what is needed to verify the chunk-signature chain of a
// signed aws-chunked body. Seed is the signature of the request's
// Authorization header, Date its X-Amz-Date and Scope its credential scope
// (yyyymmdd/region/service/aws4_request).
type ChunkSigning struct {
	Key   []byte
	Date  string
	Scope string
	Seed  string
}

// ChunkedOptions configures a ChunkedReader.
type ChunkedOptions struct {
	// DecodedLength is x-amz-decoded-content-length; the decoded body must
	// have exactly this many bytes. Negative means unknown (not checked).
	DecodedLength int64
	// Trailers are the names in x-amz-trailer. Each must be a checksum
	// S3 knows (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256),
	// must arrive in the trailer, and must match the decoded body.
	Trailers []string
	// Signing, when set, makes signed modes verify every chunk signature
	// (and the trailer signature). When nil, signatures are parsed but not
	// checked.
	Signing *ChunkSigning
}

// Limits on framing lines, so a hostile body cannot make us buffer much.
const maxChunkLine = 4096

// ChunkedReader decodes a Content-Encoding: aws-chunked body. Read returns
// the object bytes; instead of io.EOF it returns an *Error when the framing
// is broken, a chunk signature or trailing checksum does not match, or the
// length differs from DecodedLength. Data of a chunk is returned before that
// chunk's signature is checked, so a caller must discard everything it read
// when Read fails.
type ChunkedReader struct {
	br        *bufio.Reader
	mode      PayloadMode
	opts      ChunkedOptions
	err       error
	remaining int64 // bytes of the current chunk still to read
	inChunk   bool  // chunk data read, closing CRLF and signature pending
	decoded   int64
	prevSig   string
	chunkSig  string
	chunkHash hash.Hash
	sums      []trailerSum
	trailer   http.Header
}

type trailerSum struct {
	name  string // lower-case trailer name, e.g. x-amz-checksum-crc32
	label string // e.g. CRC32
	h     hash.Hash
}

// NewChunkedReader returns a reader that decodes body, framed as mode
// (PayloadPlain is read as unsigned chunks without trailers).
func NewChunkedReader(body io.Reader, mode PayloadMode, opts ChunkedOptions) *ChunkedReader {
	r := &ChunkedReader{br: bufio.NewReaderSize(body, maxChunkLine), mode: mode, opts: opts, trailer: http.Header{}}
	if opts.Signing != nil {
		r.prevSig = opts.Signing.Seed
	}
	if mode.signed() {
		r.chunkHash = sha256.New()
	}
	for _, name := range opts.Trailers {
		name = strings.ToLower(strings.TrimSpace(name))
		label, h, ok := newChecksum(name)
		if !ok {
			r.err = ErrInvalidRequest("The value specified in the x-amz-trailer header is not supported: " + clip(name))
			break
		}
		r.sums = append(r.sums, trailerSum{name, label, h})
	}
	return r
}

// Trailer returns the trailing headers, complete once Read returned io.EOF.
func (r *ChunkedReader) Trailer() http.Header { return r.trailer }

// Read implements io.Reader.
func (r *ChunkedReader) Read(p []byte) (int, error) {
	for r.err == nil {
		if r.remaining > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			n := len(p)
			if int64(n) > r.remaining {
				n = int(r.remaining)
			}
			n, err := r.br.Read(p[:n])
			r.consume(p[:n])
			if err != nil && r.remaining > 0 {
				r.fail(ErrIncompleteBody("aws-chunked data ended inside a chunk"))
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if r.inChunk {
			r.endChunk()
			continue
		}
		r.nextChunk()
	}
	return 0, r.err
}

func (r *ChunkedReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *ChunkedReader) consume(b []byte) {
	r.remaining -= int64(len(b))
	r.decoded += int64(len(b))
	if r.chunkHash != nil {
		r.chunkHash.Write(b)
	}
	for _, s := range r.sums {
		s.h.Write(b)
	}
}

// readLine reads one CRLF-terminated framing line without the CRLF.
func (r *ChunkedReader) readLine(what string) (string, bool) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		r.fail(ErrInvalidRequest("aws-chunked " + what + " is too long"))
		return "", false
	case err != nil:
		r.fail(ErrIncompleteBody("aws-chunked body ended before the " + what))
		return "", false
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		r.fail(ErrInvalidRequest("aws-chunked " + what + " does not end with CRLF: " + strconv.Quote(clip(string(line)))))
		return "", false
	}
	return s, true
}

func (r *ChunkedReader) nextChunk() {
	line, ok := r.readLine("chunk header")
	if !ok {
		return
	}
	sizeStr, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseUint(sizeStr, 16, 62)
	if err != nil || sizeStr == "" {
		r.fail(ErrInvalidRequest("aws-chunked chunk header has no valid hex size: " + strconv.Quote(clip(line))))
		return
	}
	if r.mode.signed() {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok || !isHexSHA256(sig) {
			r.fail(ErrInvalidRequest("aws-chunked chunk header has no chunk-signature: " + strconv.Quote(clip(line))))
			return
		}
		r.chunkSig = sig
		r.chunkHash.Reset()
	}
	if r.opts.DecodedLength >= 0 && int64(size) > r.opts.DecodedLength-r.decoded {
		r.fail(ErrInvalidRequest("aws-chunked body is longer than x-amz-decoded-content-length " + strconv.FormatInt(r.opts.DecodedLength, 10)))
		return
	}
	if size == 0 {
		if !r.verifyChunkSignature() {
			return
		}
		r.finish()
		return
	}
	r.remaining = int64(size)
	r.inChunk = true
}

// endChunk reads the CRLF after chunk data and checks the chunk signature.
func (r *ChunkedReader) endChunk() {
	r.inChunk = false
	var crlf [2]byte
	if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
		r.fail(ErrIncompleteBody("aws-chunked body ended after chunk data"))
		return
	}
	if crlf != [2]byte{'\r', '\n'} {
		r.fail(ErrInvalidRequest("aws-chunked chunk data is longer than its declared size"))
		return
	}
	r.verifyChunkSignature()
}

// verifyChunkSignature checks the current chunk's signature against the
// chain: HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n"
// previous-signature "\n" sha256("") "\n" sha256(chunk data)).
func (r *ChunkedReader) verifyChunkSignature() bool {
	if !r.mode.signed() || r.opts.Signing == nil {
		return true
	}
	s := r.opts.Signing
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.Date + "\n" + s.Scope + "\n" + r.prevSig + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(r.chunkHash.Sum(nil))
	want := hex.EncodeToString(hmacSHA256(s.Key, sts))
	if !equalConstantTime(strings.ToLower(r.chunkSig), want) {
		r.fail(ErrSignatureDoesNotMatch("", r.chunkSig))
		return false
	}
	r.prevSig = want
	return true
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// finish reads the trailer section after the final chunk and checks it.
func (r *ChunkedReader) finish() {
	var canonical strings.Builder
	trailerSig := ""
	for n := 0; ; n++ {
		line, ok := r.readLine("trailer")
		if !ok {
			return
		}
		if line == "" {
			break
		}
		if n > 16 {
			r.fail(ErrMalformedTrailer("Too many trailing headers."))
			return
		}
		name, val, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if !ok || name == "" {
			r.fail(ErrMalformedTrailer("Trailer line " + strconv.Quote(clip(line)) + " has no name."))
			return
		}
		if name == "x-amz-trailer-signature" {
			trailerSig = val
			continue
		}
		if !r.declared(name) {
			r.fail(ErrMalformedTrailer("Trailer " + strconv.Quote(clip(name)) + " was not declared in x-amz-trailer."))
			return
		}
		canonical.WriteString(name + ":" + val + "\n")
		r.trailer.Add(name, val)
	}
	if r.mode == PayloadSignedTrailer && r.opts.Signing != nil {
		s := r.opts.Signing
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.Date + "\n" + s.Scope + "\n" + r.prevSig + "\n" +
			hex.EncodeToString(sha256Sum([]byte(canonical.String())))
		want := hex.EncodeToString(hmacSHA256(s.Key, sts))
		if !equalConstantTime(strings.ToLower(trailerSig), want) {
			r.fail(ErrSignatureDoesNotMatch("", trailerSig))
			return
		}
	}
	for _, s := range r.sums {
		val := r.trailer.Get(s.name)
		if val == "" {
			r.fail(ErrMalformedTrailer("The trailer " + s.name + " declared in x-amz-trailer is missing."))
			return
		}
		if err := compareChecksum(s.name, s.label, val, s.h.Sum(nil)); err != nil {
			r.fail(err)
			return
		}
	}
	if r.opts.DecodedLength >= 0 && r.decoded != r.opts.DecodedLength {
		r.fail(ErrIncompleteBody("decoded " + strconv.FormatInt(r.decoded, 10) +
			" bytes but x-amz-decoded-content-length is " + strconv.FormatInt(r.opts.DecodedLength, 10)))
		return
	}
	r.fail(io.EOF)
}

func (r *ChunkedReader) declared(name string) bool {
	for _, s := range r.sums {
		if s.name == name {
			return true
		}
	}
	return false
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// clip shortens attacker-supplied text before it goes into an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// newChecksum returns the hash for a checksum header or trailer name such as
// x-amz-checksum-crc32, and the label S3 uses in BadDigest messages.
func newChecksum(name string) (label string, h hash.Hash, ok bool) {
	switch strings.TrimPrefix(strings.ToLower(name), "x-amz-checksum-") {
	case "crc32":
		return "CRC32", crc32.NewIEEE(), true
	case "crc32c":
		return "CRC32C", crc32.New(crc32.MakeTable(crc32.Castagnoli)), true
	case "crc64nvme":
		return "CRC64NVME", crc64nvme.New(), true
	case "sha1":
		return "SHA1", sha1.New(), true
	case "sha256":
		return "SHA256", sha256.New(), true
	}
	return "", nil, false
}

// compareChecksum compares a base64 checksum the client sent with the one
// computed over the body.
func compareChecksum(name, label, sent string, computed []byte) *Error {
	want, err := base64.StdEncoding.DecodeString(sent)
	if err != nil || len(want) != len(computed) {
		return ErrInvalidDigest("Value for " + name + " is invalid.")
	}
	if !bytes.Equal(want, computed) {
		return ErrBadDigest(label)
	}
	return nil
}

// PrepareBody returns the object bytes of a PUT request and their length,
// as the fake S3 must store them: aws-chunked framing is removed, and the
// body is checked while it is read against x-amz-content-sha256 (when a hex
// hash), x-amz-checksum-* headers or trailers, Content-MD5 and the declared
// length. A mismatch surfaces as an *Error from Read in place of io.EOF, so
// the caller must read to EOF and store nothing unless that succeeded.
//
// Chunk signatures are not verified here; use Verifier.PrepareBody for
// header-signed streaming uploads.
func PrepareBody(r *http.Request) (io.Reader, int64, error) {
	return prepareBody(r, nil)
}

// PrepareBody is PrepareBody plus verification of the chunk-signature chain
// of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) bodies, seeded with the
// Authorization header's signature. Call it after VerifyHeader succeeded.
func (v *Verifier) PrepareBody(r *http.Request) (io.Reader, int64, error) {
	if r == nil {
		return nil, 0, ErrInvalidRequest("empty request")
	}
	if !ModeOf(r.Header.Get("X-Amz-Content-Sha256")).signed() {
		return prepareBody(r, nil)
	}
	auth, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return nil, 0, ErrInvalidRequest("A signed aws-chunked payload needs a SigV4 Authorization header: " + aerr.Message)
	}
	date := r.Header.Get("X-Amz-Date")
	if _, err := time.Parse(amzDateFormat, date); err != nil {
		return nil, 0, ErrInvalidRequest("A signed aws-chunked payload needs an X-Amz-Date header.")
	}
	c := auth.Credential
	return prepareBody(r, &ChunkSigning{
		Key:   v.signingKey(c),
		Date:  date,
		Scope: c.scope(),
		Seed:  auth.Signature,
	})
}

func prepareBody(r *http.Request, signing *ChunkSigning) (io.Reader, int64, error) {
	if r == nil {
		return nil, 0, ErrInvalidRequest("empty request")
	}
	var body io.Reader = r.Body
	if r.Body == nil {
		body = http.NoBody
	}
	contentSHA := r.Header.Get("X-Amz-Content-Sha256")
	mode := ModeOf(contentSHA)
	vr := &verifyingReader{want: -1}
	var trailers []string
	if mode != PayloadPlain || hasToken(r.Header.Values("Content-Encoding"), "aws-chunked") {
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		if dl == "" {
			return nil, 0, ErrMissingContentLength()
		}
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, ErrInvalidArgument("x-amz-decoded-content-length must be a non-negative integer.", "x-amz-decoded-content-length", clip(dl))
		}
		for _, v := range r.Header.Values("X-Amz-Trailer") {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					trailers = append(trailers, strings.ToLower(name))
				}
			}
		}
		cr := NewChunkedReader(body, mode, ChunkedOptions{DecodedLength: n, Trailers: trailers, Signing: signing})
		if cr.err != nil {
			return nil, 0, cr.err
		}
		vr.r, vr.length = cr, n
	} else {
		if r.ContentLength < 0 {
			return nil, 0, ErrMissingContentLength()
		}
		vr.r, vr.length, vr.want = body, r.ContentLength, r.ContentLength
	}
	for name, vals := range r.Header {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, "x-amz-checksum-") || lname == "x-amz-checksum-type" || lname == "x-amz-checksum-algorithm" || containsString(trailers, lname) {
			continue
		}
		label, h, ok := newChecksum(lname)
		if !ok {
			return nil, 0, ErrInvalidRequest("Unsupported checksum header " + clip(lname))
		}
		vr.checks = append(vr.checks, bodyCheck{h: h, verify: func(sum []byte) *Error {
			return compareChecksum(lname, label, vals[0], sum)
		}})
	}
	if md := r.Header.Get("Content-Md5"); md != "" {
		want, err := base64.StdEncoding.DecodeString(md)
		if err != nil || len(want) != md5.Size {
			return nil, 0, ErrInvalidDigest("The Content-MD5 you specified was invalid.")
		}
		vr.checks = append(vr.checks, bodyCheck{h: md5.New(), verify: func(sum []byte) *Error {
			if !bytes.Equal(sum, want) {
				return ErrBadDigest("Content-MD5")
			}
			return nil
		}})
	}
	if isHexSHA256(contentSHA) {
		vr.checks = append(vr.checks, bodyCheck{h: sha256.New(), verify: func(sum []byte) *Error {
			if got := hex.EncodeToString(sum); !strings.EqualFold(got, contentSHA) {
				return ErrXAmzContentSHA256Mismatch(contentSHA, got)
			}
			return nil
		}})
	}
	return vr, vr.length, nil
}

func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// StorableContentEncoding returns the Content-Encoding to store with the
// object: the request's, without the aws-chunked transport coding.
func StorableContentEncoding(h http.Header) string {
	var keep []string
	for _, v := range h.Values("Content-Encoding") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "aws-chunked") {
				keep = append(keep, t)
			}
		}
	}
	return strings.Join(keep, ",")
}

type bodyCheck struct {
	h      hash.Hash
	verify func(sum []byte) *Error
}

// verifyingReader hashes what passes through and, at EOF, runs the checks;
// the first failure replaces io.EOF.
type verifyingReader struct {
	r      io.Reader
	length int64 // what PrepareBody reported
	want   int64 // bytes expected, or -1 when the inner reader checks
	n      int64
	checks []bodyCheck
	err    error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	for _, c := range v.checks {
		c.h.Write(p[:n])
	}
	if v.want >= 0 && v.n > v.want {
		v.err = ErrInvalidRequest("The request body is longer than its Content-Length.")
		return n, nil
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		v.err = v.atEOF()
	default:
		var e *Error
		if errors.As(err, &e) {
			v.err = e
		} else {
			v.err = ErrIncompleteBody("You did not provide the number of bytes specified by the Content-Length HTTP header: " + err.Error())
		}
	}
	return n, nil
}

func (v *verifyingReader) atEOF() error {
	if v.want >= 0 && v.n != v.want {
		return ErrIncompleteBody("You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	for _, c := range v.checks {
		if err := c.verify(c.h.Sum(nil)); err != nil {
			return err
		}
	}
	return io.EOF
}

// NewChecksum returns the hash S3 uses for a checksum header name such as
// x-amz-checksum-crc32; ok is false for a name that is not a checksum
// algorithm. S3 reports the sum in base64.
func NewChecksum(name string) (h hash.Hash, ok bool) {
	_, h, ok = newChecksum(name)
	return h, ok
}
