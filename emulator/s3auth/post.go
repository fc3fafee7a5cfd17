package s3auth

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"
)

// DefaultMaxFieldBytes bounds the form fields before the file part when
// ParsePostForm is given no limit. S3 allows 20 KiB.
const DefaultMaxFieldBytes = 20 * 1024

// preambleSlack is what the body before the file part may hold beyond the
// fields' names and values: boundaries and part headers. A form of S3's
// usual fields spends well under 2 KiB on them; a body that spends more
// than this before its file is refused as it arrives, whatever its parts
// (the names' count alone would allow some 20,000 empty fields).
const preambleSlack = 1 << 20

// PostForm is a browser-based POST upload: the form fields that precede the
// file part, and the file part itself, unread.
type PostForm struct {
	// Fields maps lower-cased field names to their values (case kept).
	// A repeated field keeps its first value.
	Fields map[string]string
	// File is the body of the part named "file"; read it to the end.
	File            io.Reader
	FileName        string
	FileContentType string
	// contentLength is the request's Content-Length (-1 unknown), an upper
	// bound of the file's size for EntityTooLarge's ProposedSize.
	contentLength int64
}

// Key returns the object key: the key field with every ${filename} replaced
// by the uploaded file's name, as S3 does.
func (f *PostForm) Key() string {
	return strings.ReplaceAll(f.Fields["key"], "${filename}", f.FileName)
}

// ParsePostForm reads a multipart/form-data POST as a stream: it collects
// fields until the part named "file" and stops there, so fields after the
// file are ignored as S3 ignores them. maxFieldBytes bounds the total size of
// the field names and values before the file (<= 0 means
// DefaultMaxFieldBytes); the body before the file is cut off as soon as it
// holds more than that plus room for boundaries and part headers, so a form
// of countless empty fields costs no more than a form at the limit.
func ParsePostForm(r *http.Request, maxFieldBytes int64) (*PostForm, error) {
	if r == nil || r.Body == nil {
		return nil, ErrMalformedPOSTRequest("The request has no body.")
	}
	if maxFieldBytes <= 0 {
		maxFieldBytes = DefaultMaxFieldBytes
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, ErrMalformedPOSTRequest("Content-Type must be multipart/form-data with a boundary.")
	}
	body := &preambleReader{r: r.Body, left: maxFieldBytes + preambleSlack}
	mr := multipart.NewReader(body, params["boundary"])
	form := &PostForm{Fields: map[string]string{}, contentLength: r.ContentLength}
	budget := maxFieldBytes
	var val bytes.Buffer // one buffer for every field's value
	for {
		part, err := mr.NextPart()
		switch {
		case errors.Is(err, errPreambleTooLong):
			return nil, ErrMaxPostPreDataLengthExceeded(maxFieldBytes)
		case errors.Is(err, io.EOF):
			return nil, ErrIncorrectNumberOfFiles()
		case err != nil:
			return nil, bodyError(err)
		}
		name := strings.ToLower(formName(part))
		if name == "" {
			return nil, ErrMalformedPOSTRequest("A part has no form-data name.")
		}
		if name == "file" {
			body.open()
			form.File = part
			form.FileName = part.FileName()
			form.FileContentType = part.Header.Get("Content-Type")
			break
		}
		// Names count as S3 counts them: a form of empty fields is no
		// cheaper than one of long values.
		budget -= int64(len(name))
		if budget < 0 {
			return nil, ErrMaxPostPreDataLengthExceeded(maxFieldBytes)
		}
		val.Reset()
		_, err = val.ReadFrom(io.LimitReader(part, budget+1))
		switch {
		case errors.Is(err, errPreambleTooLong):
			return nil, ErrMaxPostPreDataLengthExceeded(maxFieldBytes)
		case err != nil:
			return nil, bodyError(err)
		case int64(val.Len()) > budget:
			return nil, ErrMaxPostPreDataLengthExceeded(maxFieldBytes)
		}
		budget -= int64(val.Len())
		if _, dup := form.Fields[name]; !dup {
			form.Fields[name] = val.String()
		}
	}
	if _, ok := form.Fields["key"]; !ok {
		return nil, ErrInvalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", "key", "")
	}
	return form, nil
}

// formName is part.FormName, read in place when the header is the plain
// `form-data; name="..."` every browser and SDK sends; anything else goes
// through mime.ParseMediaType as FormName does.
func formName(part *multipart.Part) string {
	if name, ok := plainFormName(part.Header.Get("Content-Disposition")); ok {
		return name
	}
	return part.FormName()
}

// plainFormName reads `form-data; name="NAME"` where NAME has no quote,
// backslash or control byte; ok is false for any other shape.
func plainFormName(v string) (name string, ok bool) {
	const prefix = `form-data; name="`
	if !strings.HasPrefix(v, prefix) || !strings.HasSuffix(v, `"`) || len(v) < len(prefix)+1 {
		return "", false
	}
	name = v[len(prefix) : len(v)-1]
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			return "", false
		}
	}
	return name, true
}

var errPreambleTooLong = errors.New("form body before the file part too long")

// bodyError is the S3 error of a failed read of a form: the reader's own
// (a request timeout) when it gave one, else a malformed form.
func bodyError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrMalformedPOSTRequest("")
}

// preambleReader stops a body at left bytes until open is called: the
// multipart reader then never reads more than that before the file part.
type preambleReader struct {
	r      io.Reader
	left   int64
	opened bool
}

func (p *preambleReader) Read(b []byte) (int, error) {
	if p.opened {
		return p.r.Read(b)
	}
	if p.left <= 0 {
		return 0, errPreambleTooLong
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	return n, err
}

func (p *preambleReader) open() { p.opened = true }

// LimitFile returns the form's file checked as it is read against the
// policy's content-length-range (nil policy, or none in it: no range) and
// against max, the receiver's own limit (<= 0: none). A read that brings
// the file past the smaller upper limit fails at once with EntityTooLarge,
// without reading further, so a caller that stops there holds at most that
// many bytes; the end of a file shorter than the range's minimum fails
// with EntityTooSmall. Its ProposedSize is the request's Content-Length
// when known (the file cannot be larger), else the bytes read.
func (f *PostForm) LimitFile(p *Policy, max int64) io.Reader {
	l := &limitedFile{r: f.File, max: -1, proposed: f.contentLength}
	if p != nil {
		if lo, hi, ok := p.LengthRange(); ok {
			l.min, l.max = lo, hi
		}
	}
	if max > 0 && (l.max < 0 || max < l.max) {
		l.max = max
	}
	return l
}

type limitedFile struct {
	r           io.Reader
	n, min, max int64 // max < 0: no upper limit
	proposed    int64
	err         error
}

func (l *limitedFile) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.max >= 0 && int64(len(b)) > l.max-l.n+1 {
		b = b[:l.max-l.n+1] // one byte past the limit is enough to know
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	switch {
	case l.max >= 0 && l.n > l.max:
		l.err = ErrEntityTooLarge(max(l.proposed, l.n), l.max)
		return 0, l.err
	case errors.Is(err, io.EOF) && l.n < l.min:
		l.err = ErrEntityTooSmall(l.n, l.min)
		return n, l.err
	}
	return n, err
}

// VerifyPost checks a POST upload to bucket at now as S3 does: the auth
// fields (SigV4, or SigV2 unless the Verifier refuses it), the signature
// over the base64 policy, the policy's expiration and conditions, and that
// no form field is left uncovered by a condition. It returns the decoded
// policy, whose CheckLength the caller applies once the file size is known.
func (v *Verifier) VerifyPost(form *PostForm, bucket string, now time.Time) (*Policy, error) {
	if form == nil || form.Fields == nil {
		return nil, ErrMalformedPOSTRequest("")
	}
	f := form.Fields
	v2 := isSigV2Post(f)
	_, hasSig := f["x-amz-signature"]
	_, hasPolicy := f["policy"]
	var err error
	switch {
	case v2:
		err = v.verifyPostSigV2(f)
	case !hasSig && !hasPolicy:
		err = ErrAccessDenied("Anonymous access is forbidden for this operation")
	default:
		err = v.verifyPostSigV4(f)
	}
	if err != nil {
		return nil, err
	}
	return checkPostPolicy(f, bucket, now, v2)
}

// verifyPostSigV4 checks a SigV4 POST's auth fields, its credential scope
// and its signature over the base64 policy.
func (v *Verifier) verifyPostSigV4(f map[string]string) error {
	// The required fields, with the names S3 uses in its messages.
	required := [...][2]string{
		{"policy", "policy"},
		{"x-amz-algorithm", "X-Amz-Algorithm"},
		{"x-amz-credential", "X-Amz-Credential"},
		{"x-amz-date", "X-Amz-Date"},
		{"x-amz-signature", "X-Amz-Signature"},
	}
	for _, af := range required {
		if f[af[0]] == "" {
			return ErrInvalidArgument("Bucket POST must contain a field named '"+af[1]+"'.  If it is specified, please check the order of the fields.", af[1], "")
		}
	}
	if alg := f["x-amz-algorithm"]; alg != Algorithm {
		return ErrInvalidArgument(`X-Amz-Algorithm only supports "`+Algorithm+`"`, "X-Amz-Algorithm", clip(alg))
	}
	date, err := time.Parse(amzDateFormat, f["x-amz-date"])
	if err != nil {
		return ErrInvalidArgument(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`, "X-Amz-Date", clip(f["x-amz-date"]))
	}
	cred, ok := parseCredential(f["x-amz-credential"])
	if !ok {
		return ErrInvalidArgument("Error parsing the X-Amz-Credential parameter; "+credentialShape, "X-Amz-Credential", clip(f["x-amz-credential"]))
	}
	if err := v.checkScope(cred, date, func(msg string, extra ...Field) *Error {
		return ErrInvalidArgument("Error parsing the X-Amz-Credential parameter; "+msg, "X-Amz-Credential", clip(f["x-amz-credential"]))
	}); err != nil {
		return err
	}
	want := v.signature(cred, f["policy"])
	if !equalConstantTime(strings.ToLower(f["x-amz-signature"]), want) {
		return ErrSignatureDoesNotMatch(cred.AccessKeyID, f["x-amz-signature"])
	}
	return nil
}

// checkPostPolicy decodes an authenticated POST's policy and applies it at
// now: expiration, conditions, and no field left uncovered. v2 says which
// signature fields are exempt from needing a condition.
func checkPostPolicy(f map[string]string, bucket string, now time.Time, v2 bool) (*Policy, error) {
	policy, err := DecodePolicy(f["policy"])
	if err != nil {
		return nil, err
	}
	if now.After(policy.Expiration) {
		return nil, ErrAccessDenied("Invalid according to Policy: Policy expired.")
	}
	if err := policy.check(f, bucket); err != nil {
		return nil, err
	}
	var extra []string
	for _, name := range sortedKeys(f) {
		if !exemptFromPolicy(name, v2) && !policy.covers(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		return nil, ErrAccessDenied("Invalid according to Policy: Extra input fields: " + strings.Join(extra, ", "))
	}
	return policy, nil
}

// exemptFromPolicy names the fields S3 does not require a condition for:
// the signature (and, for SigV2, the access key), the file, the policy and
// x-ignore-* fields.
func exemptFromPolicy(name string, v2 bool) bool {
	switch name {
	case "file", "policy":
		return true
	case "x-amz-signature":
		return !v2
	case "signature", "awsaccesskeyid":
		return v2
	}
	return strings.HasPrefix(name, "x-ignore-")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SuccessStatus is the status a successful POST answers with: 204, or 200 or
// 201 when success_action_status asks for them; any other value means 204.
// (A 201 answer carries a PostResponse XML body; that is the caller's.)
func SuccessStatus(form *PostForm) int {
	if form != nil {
		switch strings.TrimSpace(form.Fields["success_action_status"]) {
		case "200":
			return http.StatusOK
		case "201":
			return http.StatusCreated
		}
	}
	return http.StatusNoContent
}

// SuccessRedirect returns the form's success_action_redirect (or its
// older name, redirect) when it is an absolute http or https URL. S3
// answers a successful POST that names one with 303 See Other to it, and
// ignores a value that is not a URL.
func SuccessRedirect(form *PostForm) (*url.URL, bool) {
	if form == nil {
		return nil, false
	}
	raw := strings.TrimSpace(form.Fields["success_action_redirect"])
	if raw == "" {
		raw = strings.TrimSpace(form.Fields["redirect"])
	}
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// Metadata returns the form fields S3 stores with the object, keyed by
// canonical header name: Content-Type, Cache-Control, Content-Disposition,
// Content-Encoding, Expires and X-Amz-Meta-*. Authentication and control
// fields (policy, signature, credential, key, ...) are never included.
func Metadata(form *PostForm) map[string]string {
	out := map[string]string{}
	if form == nil {
		return out
	}
	for name, val := range form.Fields {
		switch {
		case name == "content-type", name == "cache-control", name == "content-disposition",
			name == "content-encoding", name == "expires":
		case strings.HasPrefix(name, "x-amz-meta-") && len(name) > len("x-amz-meta-"):
		default:
			continue
		}
		out[textproto.CanonicalMIMEHeaderKey(name)] = val
	}
	return out
}

// PostChecksums checks a POST's file against the Content-MD5 and
// x-amz-checksum-* form fields it carries, as S3 checks them: 400
// InvalidDigest for a value that is not a digest of that algorithm, 400
// BadDigest for one that does not match. It returns the checksums to store
// with the object (lower-case names and their x-amz-checksum-type; nil when
// the form declared none) and the file's MD5, which the caller may reuse as
// its ETag.
func PostChecksums(form *PostForm, file []byte) (stored map[string]string, md5sum []byte, err error) {
	sum := md5.Sum(file)
	if v, ok := form.Fields["content-md5"]; ok {
		if err := compareChecksum("Content-MD5", "Content-MD5", v, sum[:]); err != nil {
			if err.Code == CodeInvalidDigest {
				return nil, nil, ErrInvalidDigest("The Content-MD5 you specified was invalid.")
			}
			return nil, nil, err
		}
	}
	for name, v := range form.Fields {
		if !strings.HasPrefix(name, "x-amz-checksum-") {
			continue
		}
		label, h, ok := newChecksum(name)
		if !ok {
			continue // x-amz-checksum-algorithm, -type, or no algorithm S3 has
		}
		_, _ = h.Write(file)
		if err := compareChecksum(name, label, v, h.Sum(nil)); err != nil {
			return nil, nil, err
		}
		if stored == nil {
			stored = map[string]string{"x-amz-checksum-type": "FULL_OBJECT"}
		}
		stored[name] = v
	}
	return stored, sum[:], nil
}
