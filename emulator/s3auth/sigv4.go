package s3auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fixed SigV4 values.
const (
	// Algorithm is the only signing algorithm S3 SigV4 accepts.
	Algorithm = "AWS4-HMAC-SHA256"
	// MaxPresignExpires is the largest X-Amz-Expires S3 accepts: one week.
	MaxPresignExpires = 604800
	// DefaultRegion is the region a zero Verifier expects.
	DefaultRegion = "us-east-1"
	// DefaultService is the service a zero Verifier expects.
	DefaultService = "s3"

	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	scopeTerminator = "aws4_request"
)

// Values of the x-amz-content-sha256 header other than a hex SHA-256.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingSignedPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Credentials are the one key pair the emulated S3 accepts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Verifier checks SigV4 signatures made with Creds for Region and Service,
// and SigV2 ones made with Creds unless SigV2 is SigV2Refuse. The zero
// Region means DefaultRegion and the zero Service DefaultService.
// A Verifier holds no state and is safe for concurrent use.
type Verifier struct {
	Creds   Credentials
	Region  string
	Service string
	// SigV2 says whether SigV2 presigned URLs and POSTs are verified or
	// refused; the zero value accepts them.
	SigV2 SigV2Mode
}

func (v *Verifier) region() string {
	if v.Region == "" {
		return DefaultRegion
	}
	return v.Region
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return DefaultService
	}
	return v.Service
}

// AuthKind says which authentication a request claims to use.
type AuthKind int

// The kinds Classify reports.
const (
	// AuthNone: anonymous; the caller decides whether that is allowed.
	AuthNone AuthKind = iota
	// AuthHeader: an Authorization header (verify with VerifyHeader).
	AuthHeader
	// AuthQuery: SigV4 query parameters (verify with VerifyPresigned).
	AuthQuery
	// AuthPost: a multipart/form-data POST (verify with ParsePostForm and
	// VerifyPost).
	AuthPost
)

// String returns the kind's name.
func (k AuthKind) String() string {
	switch k {
	case AuthNone:
		return "none"
	case AuthHeader:
		return "header"
	case AuthQuery:
		return "query"
	case AuthPost:
		return "post"
	}
	return "AuthKind(" + strconv.Itoa(int(k)) + ")"
}

// Classify tells which authentication r claims. An Authorization header wins;
// VerifyHeader then rejects a request that also carries query credentials,
// as S3 does.
func Classify(r *http.Request) AuthKind {
	if r == nil {
		return AuthNone
	}
	if r.Header.Get("Authorization") != "" {
		return AuthHeader
	}
	if r.URL != nil && hasQueryAuth(r.URL.RawQuery) {
		return AuthQuery
	}
	if r.Method == http.MethodPost {
		ct := strings.ToLower(r.Header.Get("Content-Type"))
		if strings.HasPrefix(ct, "multipart/form-data") {
			return AuthPost
		}
	}
	return AuthNone
}

// queryAuthParams are the parameters that make a request presigned.
var queryAuthParams = []string{"X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential", "Signature", "AWSAccessKeyId"}

// hasQueryAuth reports whether the query names one of queryAuthParams, as
// url.ParseQuery reads it; a query without escapes is read in place.
func hasQueryAuth(raw string) bool {
	if strings.ContainsAny(raw, "%+") {
		q, _ := url.ParseQuery(raw)
		for _, name := range queryAuthParams {
			if q.Has(name) {
				return true
			}
		}
		return false
	}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(kv, ";") {
			continue // url.ParseQuery drops such a pair
		}
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(queryAuthParams, k) {
			return true
		}
	}
	return false
}

// SigningKey derives the SigV4 signing key: HMAC chain of "AWS4"+secret over
// date (yyyymmdd), region, service and "aws4_request". The SDK does not
// export this, and POST policies are signed with it directly.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func equalConstantTime(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// credential is a parsed X-Amz-Credential: AKID/yyyymmdd/region/service/aws4_request.
type credential struct {
	AccessKeyID, Date, Region, Service, Terminator string
}

func (c credential) scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + c.Terminator
}

func parseCredential(s string) (credential, bool) {
	p := strings.Split(s, "/")
	if len(p) != 5 || p[0] == "" || len(p[1]) != 8 {
		return credential{}, false
	}
	if _, err := time.Parse(scopeDateFormat, p[1]); err != nil {
		return credential{}, false
	}
	return credential{p[0], p[1], p[2], p[3], p[4]}, true
}

const credentialShape = `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`

// checkScope checks the credential against the verifier; malformed builds
// the error for a scope that is wrong (its wording differs between query,
// header and POST authentication).
func (v *Verifier) checkScope(c credential, signed time.Time, malformed func(msg string, extra ...Field) *Error) error {
	if !equalConstantTime(c.AccessKeyID, v.Creds.AccessKeyID) || v.Creds.AccessKeyID == "" {
		return ErrInvalidAccessKeyID(c.AccessKeyID)
	}
	if d := signed.UTC().Format(scopeDateFormat); c.Date != d {
		return malformed(`Invalid credential date "` + c.Date + `". This date is not the same as X-Amz-Date: "` + d + `".`)
	}
	if c.Region != v.region() {
		return malformed("the region '"+c.Region+"' is wrong; expecting '"+v.region()+"'", Field{"Region", v.region()})
	}
	if c.Service != v.service() {
		return malformed(`incorrect service "` + c.Service + `". This endpoint belongs to "` + v.service() + `".`)
	}
	if c.Terminator != scopeTerminator {
		return malformed(`incorrect terminal "` + c.Terminator + `". This endpoint uses "` + scopeTerminator + `".`)
	}
	return nil
}

// VerifyPresigned checks query authentication (a presigned URL) as S3 does
// when the request arrives at now: parameters, credential scope, expiry,
// then the signature. SigV4 URLs carry X-Amz-*; SigV2 ones AWSAccessKeyId,
// Expires and Signature (refused with 400 InvalidRequest under
// SigV2Refuse). It returns nil or an *Error.
func (v *Verifier) VerifyPresigned(r *http.Request, now time.Time) error {
	if r == nil || r.URL == nil {
		return ErrInvalidRequest("empty request")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return ErrAuthorizationQueryParameters("Error parsing the query string: " + err.Error())
	}
	if r.Header.Get("Authorization") != "" {
		return errMultipleAuth()
	}
	if q.Has("AWSAccessKeyId") || q.Has("Signature") {
		return v.verifyPresignedV2(r, q, now)
	}
	const names = "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires"
	param := func(name string) (string, bool) {
		vals := q[name]
		if len(vals) != 1 || vals[0] == "" {
			return "", false
		}
		return vals[0], true
	}
	alg, ok1 := param("X-Amz-Algorithm")
	credStr, ok2 := param("X-Amz-Credential")
	sig, ok3 := param("X-Amz-Signature")
	dateStr, ok4 := param("X-Amz-Date")
	signedStr, ok5 := param("X-Amz-SignedHeaders")
	expStr, ok6 := param("X-Amz-Expires")
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return ErrAuthorizationQueryParameters("Query-string authentication version 4 requires the " + names + " parameters.")
	}
	if alg != Algorithm {
		return ErrAuthorizationQueryParameters(`X-Amz-Algorithm only supports "` + Algorithm + `"`)
	}
	expires, err := strconv.ParseInt(expStr, 10, 64)
	switch {
	case err != nil:
		return ErrAuthorizationQueryParameters("X-Amz-Expires should be a number")
	case expires < 0:
		return ErrAuthorizationQueryParameters("X-Amz-Expires must be non-negative")
	case expires == 0:
		return ErrAuthorizationQueryParameters("X-Amz-Expires must be at least 1 second")
	case expires > MaxPresignExpires:
		return ErrAuthorizationQueryParameters("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	date, err := time.Parse(amzDateFormat, dateStr)
	if err != nil {
		return ErrAuthorizationQueryParameters(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	cred, ok := parseCredential(credStr)
	if !ok {
		return ErrAuthorizationQueryParameters("Error parsing the X-Amz-Credential parameter; " + credentialShape)
	}
	if err := v.checkScope(cred, date, func(msg string, extra ...Field) *Error {
		return ErrAuthorizationQueryParameters("Error parsing the X-Amz-Credential parameter; "+msg, extra...)
	}); err != nil {
		return err
	}
	if date.After(now.Add(MaxClockSkew)) {
		return ErrAccessDenied("Request is not valid yet",
			Field{"X-Amz-Date", dateStr}, Field{"ServerTime", now.UTC().Format(serverTimeFormat)})
	}
	if now.After(date.Add(time.Duration(expires) * time.Second)) {
		return ErrRequestExpired(date, expires, now)
	}
	signed, ok := parseSignedHeaders(signedStr)
	if !ok {
		return ErrAuthorizationQueryParameters("X-Amz-SignedHeaders must be a ';'-separated list of lower-case header names")
	}
	payload := UnsignedPayload
	if containsString(signed, "x-amz-content-sha256") {
		payload = r.Header.Get("X-Amz-Content-Sha256")
	}
	sv := newSigV4(r, r.URL.RawQuery, signed, payload, cred, date)
	if want := v.signature(cred, sv.stringToSign); !equalConstantTime(strings.ToLower(sig), want) {
		return ErrSignatureDoesNotMatchV4(cred.AccessKeyID, sv.stringToSign, sv.canonical, sig)
	}
	return nil
}

func errMultipleAuth() *Error {
	return ErrInvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
		"Authorization", "")
}

func errSigV2() *Error {
	return ErrInvalidRequest("The authorization mechanism you have provided is not supported. Please use " + Algorithm + ".")
}

func parseSignedHeaders(s string) ([]string, bool) {
	hs := strings.Split(s, ";")
	for _, h := range hs {
		if h == "" || strings.ToLower(h) != h {
			return nil, false
		}
	}
	return hs, true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	Credential    credential
	SignedHeaders []string
	Signature     string
}

func parseAuthorization(h string) (authorization, *Error) {
	const malformed = "The authorization header is malformed; "
	if strings.HasPrefix(h, "AWS ") {
		// Header-signed SigV2 is refused in every SigV2Mode: neither boto3
		// nor the AWS CLI sends it unless told to (signature_version "s3").
		return authorization{}, errSigV2()
	}
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		if alg, _, _ := strings.Cut(h, " "); strings.HasPrefix(alg, "AWS4-") {
			return authorization{}, ErrAuthorizationHeaderMalformed(malformed + `the authorization mechanism "` + alg + `" is not supported; use "` + Algorithm + `".`)
		}
		return authorization{}, ErrAuthorizationHeaderMalformed(malformed + "the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	var credStr, signedStr, sig string
	var seen int
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, ErrAuthorizationHeaderMalformed(malformed + "the authorization component \"" + part + "\" is malformed.")
		}
		switch k {
		case "Credential":
			credStr, seen = val, seen|1
		case "SignedHeaders":
			signedStr, seen = val, seen|2
		case "Signature":
			sig, seen = val, seen|4
		default:
			return authorization{}, ErrAuthorizationHeaderMalformed(malformed + "the authorization component \"" + part + "\" is malformed.")
		}
	}
	if seen != 7 {
		return authorization{}, ErrAuthorizationHeaderMalformed(malformed + "the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	cred, ok := parseCredential(credStr)
	if !ok {
		return authorization{}, ErrAuthorizationHeaderMalformed(malformed + credentialShape)
	}
	signed, ok := parseSignedHeaders(signedStr)
	if !ok {
		return authorization{}, ErrAuthorizationHeaderMalformed(malformed + "SignedHeaders must be a ';'-separated list of lower-case header names.")
	}
	return authorization{Credential: cred, SignedHeaders: signed, Signature: sig}, nil
}

// requestTime reads X-Amz-Date, or else Date, as S3 does for header
// authentication. raw is the value as sent.
func requestTime(r *http.Request) (t time.Time, raw string, ok bool) {
	if raw = r.Header.Get("X-Amz-Date"); raw != "" {
		t, err := time.Parse(amzDateFormat, raw)
		return t, raw, err == nil
	}
	if raw = r.Header.Get("Date"); raw != "" {
		t, err := http.ParseTime(raw)
		return t, raw, err == nil
	}
	return time.Time{}, "", false
}

// validPayloadHash reports whether s is a value S3 accepts in
// x-amz-content-sha256.
func validPayloadHash(s string) bool {
	switch s {
	case UnsignedPayload, StreamingSignedPayload, StreamingSignedPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	return isHexSHA256(s)
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// VerifyHeader checks SigV4 Authorization-header authentication as S3 does
// at now: header shape, x-amz-content-sha256, credential scope, clock skew,
// then the signature. The body is not read: a hex payload hash and any
// chunk signatures are checked while the body is read, by PrepareBody.
func (v *Verifier) VerifyHeader(r *http.Request, now time.Time) error {
	if r == nil || r.URL == nil {
		return ErrInvalidRequest("empty request")
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return ErrAccessDenied("Access Denied")
	}
	auth, aerr := parseAuthorization(h)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("Signature") {
		return errMultipleAuth()
	}
	t, raw, ok := requestTime(r)
	if !ok {
		return ErrAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return ErrInvalidRequest("Missing required header for this request: x-amz-content-sha256")
	}
	if !validPayloadHash(payload) {
		return ErrInvalidArgument("x-amz-content-sha256 must be "+UnsignedPayload+", "+StreamingSignedPayload+", "+
			StreamingSignedPayloadTrailer+", "+StreamingUnsignedPayloadTrailer+", or a valid sha256 value.",
			"x-amz-content-sha256", payload)
	}
	if err := v.checkScope(auth.Credential, t, func(msg string, extra ...Field) *Error {
		return ErrAuthorizationHeaderMalformed("The authorization header is malformed; "+msg, extra...)
	}); err != nil {
		return err
	}
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return ErrRequestTimeTooSkewed(raw, now)
	}
	sv := newSigV4(r, r.URL.RawQuery, auth.SignedHeaders, payload, auth.Credential, t)
	if want := v.signature(auth.Credential, sv.stringToSign); !equalConstantTime(strings.ToLower(auth.Signature), want) {
		return ErrSignatureDoesNotMatchV4(auth.Credential.AccessKeyID, sv.stringToSign, sv.canonical, auth.Signature)
	}
	return nil
}
