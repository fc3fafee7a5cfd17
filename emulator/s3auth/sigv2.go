package s3auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV2Mode says whether the emulated S3 accepts Signature Version 2.
//
// botocore still presigns with SigV2 by default in regions that support it
// (us-east-1, eu-west-1, ...), so boto3's generate_presigned_post and
// generate_presigned_url hand out SigV2 grants unless signature_version is
// set to s3v4. Buckets created after June 2020 refuse them.
type SigV2Mode int

// The modes. The zero value accepts, so a zero Verifier takes boto3's
// default grants.
const (
	// SigV2Accept verifies SigV2 presigned POSTs and query-string URLs.
	SigV2Accept SigV2Mode = iota
	// SigV2Refuse answers every SigV2 request with 400 InvalidRequest, as a
	// SigV4-only bucket does.
	SigV2Refuse
)

// String returns "accept" or "refuse".
func (m SigV2Mode) String() string {
	switch m {
	case SigV2Accept:
		return "accept"
	case SigV2Refuse:
		return "refuse"
	}
	return "SigV2Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseSigV2Mode reads "accept" or "refuse".
func ParseSigV2Mode(s string) (SigV2Mode, error) {
	switch s {
	case "accept":
		return SigV2Accept, nil
	case "refuse":
		return SigV2Refuse, nil
	}
	return 0, fmt.Errorf("sigv2 mode %q: want accept or refuse", s)
}

// sigV2Refused is the one place SigV2Mode is applied: every SigV2 path asks
// it before verifying anything.
func (v *Verifier) sigV2Refused() *Error {
	if v.SigV2 == SigV2Refuse {
		return errSigV2()
	}
	return nil
}

// SignV2 returns base64(HMAC-SHA1(secret, stringToSign)): the SigV2
// signature of a request's StringToSign, or of a POST policy, whose
// StringToSign is the base64 document as the form carries it.
func SignV2(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signedSubresources are the query parameters a SigV2 StringToSign keeps in
// its CanonicalizedResource: the sub-resources AWS's REST authentication
// guide lists, the response-* overrides, and the later sub-resources that
// botocore signs too. Names are matched case-sensitively, as S3 does.
var signedSubresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true, "defaultObjectAcl": true,
	"delete": true, "inventory": true, "lifecycle": true, "location": true, "logging": true,
	"metrics": true, "notification": true, "object-lock": true, "partNumber": true, "policy": true,
	"replication": true, "requestPayment": true, "restore": true, "select": true, "select-type": true,
	"storageClass": true, "tagging": true, "torrent": true, "uploadId": true, "uploads": true,
	"versionId": true, "versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// canonicalResourceV2 is the path as sent (path-style, so it starts with
// the bucket) plus the signed sub-resources, sorted by name, with their
// values decoded: "/bucket/key?partNumber=2&uploadId=x". A sub-resource
// sent without "=" is signed without one.
func canonicalResourceV2(u *url.URL) string {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	type param struct{ name, rest string }
	var subs []param
	for _, kv := range strings.Split(u.RawQuery, "&") {
		name, val, hasVal := strings.Cut(kv, "=")
		if !signedSubresources[name] {
			continue
		}
		p := param{name: name}
		if hasVal {
			if dec, err := url.PathUnescape(val); err == nil {
				val = dec
			}
			p.rest = "=" + val
		}
		subs = append(subs, p)
	}
	if len(subs) == 0 {
		return path
	}
	sort.SliceStable(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	var b strings.Builder
	b.WriteString(path)
	for i, p := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.name + p.rest)
	}
	return b.String()
}

// canonicalAmzHeadersV2 renders the x-amz-* headers, and the x-amz-* query
// parameters a presigned URL carries in their stead (botocore moves signed
// x-amz-* headers such as x-amz-security-token into the query), as
// "name:v1,v2\n" lines sorted by lower-cased name. Header values come
// before query values of the same name.
func canonicalAmzHeadersV2(h http.Header, q url.Values) string {
	vals := map[string][]string{}
	add := func(src map[string][]string) {
		for k, vs := range src {
			lk := strings.ToLower(k)
			if !strings.HasPrefix(lk, "x-amz-") {
				continue
			}
			for _, v := range vs {
				vals[lk] = append(vals[lk], strings.TrimSpace(v))
			}
		}
	}
	add(h)
	add(q)
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ":" + strings.Join(vals[k], ",") + "\n")
	}
	return b.String()
}

// stringToSignV2 builds the SigV2 StringToSign of r with date in the Date
// position (for query-string authentication, the Expires parameter as
// sent): verb, Content-MD5, Content-Type, date, CanonicalizedAmzHeaders and
// CanonicalizedResource. q holds the query's x-amz-* parameters, if any.
func stringToSignV2(r *http.Request, date string, q url.Values) string {
	return r.Method + "\n" +
		strings.TrimSpace(r.Header.Get("Content-Md5")) + "\n" +
		strings.TrimSpace(r.Header.Get("Content-Type")) + "\n" +
		date + "\n" +
		canonicalAmzHeadersV2(r.Header, q) +
		canonicalResourceV2(r.URL)
}

// verifyPresignedV2 checks SigV2 query-string authentication
// (?AWSAccessKeyId=&Expires=&Signature=) at now: parameters, access key,
// expiry, then the signature. q is the parsed query.
func (v *Verifier) verifyPresignedV2(r *http.Request, q url.Values, now time.Time) error {
	if err := v.sigV2Refused(); err != nil {
		return err
	}
	akid, sig, expStr := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if akid == "" || sig == "" || expStr == "" {
		return ErrAccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature") {
		return errMultipleAuth()
	}
	expires, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || expires < 0 {
		return ErrAccessDenied("Invalid date (should be seconds since epoch): " + clip(expStr))
	}
	if !equalConstantTime(akid, v.Creds.AccessKeyID) || v.Creds.AccessKeyID == "" {
		return ErrInvalidAccessKeyID(akid)
	}
	if now.Unix() > expires {
		return ErrAccessDenied("Request has expired",
			Field{"Expires", time.Unix(expires, 0).UTC().Format(serverTimeFormat)},
			Field{"ServerTime", now.UTC().Format(serverTimeFormat)})
	}
	sts := stringToSignV2(r, expStr, q)
	if !hmac.Equal([]byte(sig), []byte(SignV2(v.Creds.SecretAccessKey, sts))) {
		return ErrSignatureDoesNotMatchV2(akid, sts, sig)
	}
	return nil
}

// isSigV2Post reports whether the POST form fields claim SigV2: an
// AWSAccessKeyId or signature field and none of SigV4's.
func isSigV2Post(f map[string]string) bool {
	for _, v4 := range [...]string{"x-amz-signature", "x-amz-algorithm", "x-amz-credential"} {
		if _, ok := f[v4]; ok {
			return false
		}
	}
	_, akid := f["awsaccesskeyid"]
	_, sig := f["signature"]
	return akid || sig
}

// verifyPostSigV2 checks a SigV2 POST's auth fields and its signature,
// base64(HMAC-SHA1(secret, policy)). An x-amz-security-token field is
// allowed (botocore adds it, and a policy condition for it, under temporary
// credentials); the emulator has no token service, so its value is checked
// only by the policy.
func (v *Verifier) verifyPostSigV2(f map[string]string) error {
	if err := v.sigV2Refused(); err != nil {
		return err
	}
	required := [...][2]string{
		{"awsaccesskeyid", "AWSAccessKeyId"},
		{"policy", "policy"},
		{"signature", "Signature"},
	}
	for _, af := range required {
		if f[af[0]] == "" {
			return ErrInvalidArgument("Bucket POST must contain a field named '"+af[1]+"'.  If it is specified, please check the order of the fields.", af[1], "")
		}
	}
	akid := f["awsaccesskeyid"]
	if !equalConstantTime(akid, v.Creds.AccessKeyID) || v.Creds.AccessKeyID == "" {
		return ErrInvalidAccessKeyID(akid)
	}
	if !hmac.Equal([]byte(f["signature"]), []byte(SignV2(v.Creds.SecretAccessKey, f["policy"]))) {
		return ErrSignatureDoesNotMatchV2(akid, f["policy"], f["signature"])
	}
	return nil
}
