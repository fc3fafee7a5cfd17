package s3auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The SigV4 canonical request, built here from the specification rather
// than by the AWS SDK signer, which leaves out headers it never signs
// (User-Agent, Expect, X-Amzn-Trace-Id, ...) even when a client signed them.
// S3 verifies whatever SignedHeaders names.

// sigV4 is one request's canonical request and string to sign.
type sigV4 struct {
	canonical, stringToSign string
}

// newSigV4 canonicalises r as signed: the path as sent (S3 does not escape
// it twice), rawQuery without X-Amz-Signature, the signed headers, payload.
func newSigV4(r *http.Request, rawQuery string, signed []string, payload string, cred credential, at time.Time) sigV4 {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(rawQuery))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	canonical := b.String()
	sum := sha256.Sum256([]byte(canonical))
	sts := Algorithm + "\n" + at.UTC().Format(amzDateFormat) + "\n" + cred.scope() + "\n" + hex.EncodeToString(sum[:])
	return sigV4{canonical: canonical, stringToSign: sts}
}

// canonicalQuery sorts the parameters by name, then value, and encodes
// both as SigV4 does; X-Amz-Signature is not part of it. Parameters are
// read as url.ParseQuery reads them: a pair with a bad escape or a ';' is
// left out.
func canonicalQuery(raw string) string {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, 8)
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" || strings.Contains(kv, ";") {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k), uriEncode(v)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode is SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XY.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	i := 0
	for i < len(s) && unreserved(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalHeaderValue is a signed header's values, trimmed, inner runs of
// spaces collapsed, joined by commas. net/http moves Host and may move
// Content-Length out of the header map; they come from the request.
func canonicalHeaderValue(r *http.Request, name string) string {
	vals := r.Header.Values(name)
	switch {
	case name == "host":
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		vals = []string{host}
	case name == "content-length" && len(vals) == 0 && r.ContentLength >= 0:
		vals = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// signingKeys caches derived keys per secret, day, region and service:
// four HMACs a request otherwise.
var signingKeys sync.Map

// signingKey is cred's derived key, from the cache when it is there.
func (v *Verifier) signingKey(cred credential) []byte {
	id := v.Creds.SecretAccessKey + "\x00" + cred.Date + "\x00" + cred.Region + "\x00" + cred.Service
	k, ok := signingKeys.Load(id)
	if !ok {
		k, _ = signingKeys.LoadOrStore(id, SigningKey(v.Creds.SecretAccessKey, cred.Date, cred.Region, cred.Service))
	}
	return k.([]byte)
}

// signature is stringToSign's SigV4 signature with cred's key, in hex.
func (v *Verifier) signature(cred credential, stringToSign string) string {
	m := hmac.New(sha256.New, v.signingKey(cred))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// ErrSignatureDoesNotMatchV4 is 403 SignatureDoesNotMatch with the elements
// S3 adds for SigV4, so that a client can see where its signer differs:
// the string to sign and the canonical request, with their bytes in hex.
func ErrSignatureDoesNotMatchV4(accessKeyID, stringToSign, canonical, provided string) *Error {
	e := ErrSignatureDoesNotMatch(accessKeyID, provided)
	e.Extra = []Field{{"AWSAccessKeyId", accessKeyID}, {"StringToSign", stringToSign},
		{"SignatureProvided", provided}, {"StringToSignBytes", spacedHex(stringToSign)},
		{"CanonicalRequest", canonical}, {"CanonicalRequestBytes", spacedHex(canonical)}}
	return e
}
