package s3auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The AWS SDK v2 signer never signs User-Agent, Expect or X-Amzn-Trace-Id;
// other clients do, and S3 verifies whatever SignedHeaders names. These
// tests sign by hand, following the SigV4 specification, and require the
// verifier to accept such a signature (issue 13 reversed the limitation
// these tests used to pin). Each case first checks the hand signer against
// the SDK on the same request without those headers, so a wrong hand
// signature cannot pass.

const (
	uaSigned  = "aws-cli/2.15.0 Python/3.11.6 Linux/6.8.0 exe/x86_64.ubuntu.24 command/s3.cp"
	uaPath    = "/" + testBucket + "/uploads/UploadFilename-20260304_050607-AbCdEfGhIjKlMnOpQrStUv"
	uaExpires = 900
)

var uaTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// awsEncode is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as
// %XY with upper-case hex.
func awsEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// handSigV4 is an independent SigV4 signer. headers maps lower-case names
// to values; every one of them is signed. path is used as the canonical URI
// as is (S3 does not escape it twice); query is canonicalised here.
type handSigV4 struct {
	method, path    string
	query           url.Values
	headers         map[string]string
	payload         string // hex SHA-256 or UNSIGNED-PAYLOAD
	region, service string
	akid, secret    string
	at              time.Time
}

func (h handSigV4) signedHeaders() string {
	names := make([]string, 0, len(h.headers))
	for k := range h.headers {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ";")
}

func (h handSigV4) scope() string {
	return h.at.UTC().Format(scopeDateFormat) + "/" + h.region + "/" + h.service + "/aws4_request"
}

func (h handSigV4) canonicalRequest() string {
	keys := make([]string, 0, len(h.query))
	for k := range h.query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var q []string
	for _, k := range keys {
		vals := slices.Clone(h.query[k])
		slices.Sort(vals)
		for _, v := range vals {
			q = append(q, awsEncode(k)+"="+awsEncode(v))
		}
	}
	var hdrs strings.Builder
	for _, name := range strings.Split(h.signedHeaders(), ";") {
		// Trim the value and collapse runs of spaces, as the spec says.
		hdrs.WriteString(name + ":" + strings.Join(strings.Fields(h.headers[name]), " ") + "\n")
	}
	return strings.Join([]string{h.method, h.path, strings.Join(q, "&"), hdrs.String(), h.signedHeaders(), h.payload}, "\n")
}

func (h handSigV4) signature() string {
	sts := strings.Join([]string{
		"AWS4-HMAC-SHA256",
		h.at.UTC().Format(amzDateFormat),
		h.scope(),
		sha256Hex([]byte(h.canonicalRequest())),
	}, "\n")
	key := SigningKey(h.secret, h.at.UTC().Format(scopeDateFormat), h.region, h.service)
	return hex.EncodeToString(hmacSHA256(key, sts))
}

func (h handSigV4) authorization() string {
	return "AWS4-HMAC-SHA256 Credential=" + h.akid + "/" + h.scope() +
		", SignedHeaders=" + h.signedHeaders() + ", Signature=" + h.signature()
}

// presignedURL adds the SigV4 query parameters to h.query and returns the
// signed URL.
func (h handSigV4) presignedURL(host string, expires int) string {
	q := url.Values{}
	for k, v := range h.query {
		q[k] = slices.Clone(v)
	}
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", h.akid+"/"+h.scope())
	q.Set("X-Amz-Date", h.at.UTC().Format(amzDateFormat))
	q.Set("X-Amz-Expires", strconv.Itoa(expires))
	q.Set("X-Amz-SignedHeaders", h.signedHeaders())
	h.query = q // h is a copy: the caller's query is unchanged
	q.Set("X-Amz-Signature", h.signature())
	return "http://" + host + h.path + "?" + q.Encode()
}

// wantSignatureMismatch asserts err is S3's 403 SignatureDoesNotMatch.
func wantSignatureMismatch(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *Error", err, err)
	}
	if e.Code != "SignatureDoesNotMatch" || e.Status != http.StatusForbidden {
		t.Fatalf("got %s (status %d), want SignatureDoesNotMatch (403)", e.Code, e.Status)
	}
	// What a user debugging a signer needs, as S3 sends it.
	if sts := e.Field("StringToSign"); !strings.HasPrefix(sts, "AWS4-HMAC-SHA256\n") || e.Field("CanonicalRequest") == "" ||
		e.Field("CanonicalRequestBytes") == "" || e.Field("SignatureProvided") == "" {
		t.Fatalf("SignatureDoesNotMatch lacks StringToSign/CanonicalRequest: %+v", e.Extra)
	}
}

// TestHandSigV4MatchesAWSTestSuite pins the hand signer to the get-vanilla
// case of AWS's SigV4 test suite.
func TestHandSigV4MatchesAWSTestSuite(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	h := handSigV4{
		method: http.MethodGet, path: "/", query: url.Values{},
		headers: map[string]string{"host": "example.amazonaws.com", "x-amz-date": at.Format(amzDateFormat)},
		payload: sha256Hex(nil), region: "us-east-1", service: "service",
		akid: "AKIDEXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", at: at,
	}
	const want = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	if got := h.signature(); got != want {
		t.Fatalf("get-vanilla signature %s, want %s\ncanonical request:\n%s", got, want, h.canonicalRequest())
	}
}

// TestVerifyHeaderSignedUserAgent: a header-signed PUT whose SignedHeaders
// include user-agent, expect and x-amzn-trace-id verifies; a tampered
// value of one of them does not.
func TestVerifyHeaderSignedUserAgent(t *testing.T) {
	v := testVerifier()
	body := []byte("one-time upload body")
	payload := sha256Hex(body)
	rawURL := "http://" + testHost + uaPath

	// The SDK signs the request the normal way; it leaves User-Agent out.
	req, err := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("User-Agent", uaSigned)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := signer.SignHTTP(context.Background(), creds, req, payload, DefaultService, DefaultRegion, uaTime); err != nil {
		t.Fatal(err)
	}
	sdkAuth := req.Header.Get("Authorization")
	if strings.Contains(sdkAuth, "user-agent") {
		t.Fatalf("the SDK signed user-agent: %s", sdkAuth)
	}
	if err := v.VerifyHeader(serverRequest(http.MethodPut, rawURL, req.Header, body), uaTime); err != nil {
		t.Fatalf("SDK-signed request: %v", err)
	}

	hand := handSigV4{
		method: http.MethodPut, path: uaPath, query: url.Values{},
		headers: map[string]string{
			"content-length":       strconv.Itoa(len(body)),
			"host":                 testHost,
			"x-amz-content-sha256": payload,
			"x-amz-date":           uaTime.Format(amzDateFormat),
		},
		payload: payload, region: DefaultRegion, service: DefaultService,
		akid: testAKID, secret: testSecret, at: uaTime,
	}
	send := func(auth string) error {
		h := req.Header.Clone()
		h.Set("Authorization", auth)
		return v.VerifyHeader(serverRequest(http.MethodPut, rawURL, h, body), uaTime)
	}

	// Control: without user-agent the hand signer agrees with the SDK, and
	// the verifier accepts its signature.
	if got := hand.authorization(); got != sdkAuth {
		t.Fatalf("hand-signed Authorization\n%s\nSDK\n%s\ncanonical request:\n%s", got, sdkAuth, hand.canonicalRequest())
	}
	if err := send(hand.authorization()); err != nil {
		t.Fatalf("hand-signed request without user-agent: %v", err)
	}

	// The same request with user-agent, expect and x-amzn-trace-id signed.
	hand.headers["user-agent"] = uaSigned
	hand.headers["expect"] = "100-continue"
	hand.headers["x-amzn-trace-id"] = "Root=1-5759e988-bd862e3fe1be46a994272793"
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	auth := hand.authorization()
	if !strings.Contains(auth, "SignedHeaders=content-length;expect;host;user-agent;x-amz-content-sha256;x-amz-date;x-amzn-trace-id,") {
		t.Fatalf("Authorization %s", auth)
	}
	if err := send(auth); err != nil {
		t.Fatalf("a valid signature over user-agent, expect and x-amzn-trace-id: %v", err)
	}
	req.Header.Set("User-Agent", uaSigned+" tampered")
	wantSignatureMismatch(t, send(auth))
}

// TestVerifyPresignedSignedUserAgent: a presigned PUT whose
// X-Amz-SignedHeaders include user-agent verifies when the request sends
// that User-Agent, and not with another.
func TestVerifyPresignedSignedUserAgent(t *testing.T) {
	v := testVerifier()
	body := []byte("one-time upload body")

	// The SDK presigns the request the normal way; it leaves User-Agent out.
	req, err := http.NewRequest(http.MethodPut, "http://"+testHost+uaPath+"?X-Amz-Expires="+strconv.Itoa(uaExpires), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", uaSigned)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	sdkURL, sdkHeaders, err := signer.PresignHTTP(context.Background(), creds, req, UnsignedPayload, DefaultService, DefaultRegion, uaTime)
	if err != nil {
		t.Fatal(err)
	}
	su, err := url.Parse(sdkURL)
	if err != nil {
		t.Fatal(err)
	}
	if sh := su.Query().Get("X-Amz-SignedHeaders"); sh != "host" {
		t.Fatalf("SDK X-Amz-SignedHeaders = %q, want host", sh)
	}
	withUA := sdkHeaders.Clone()
	withUA.Set("User-Agent", uaSigned) // sent, though not signed
	now := uaTime.Add(time.Minute)
	if err := v.VerifyPresigned(serverRequest(http.MethodPut, sdkURL, withUA, body), now); err != nil {
		t.Fatalf("SDK-presigned request: %v", err)
	}

	hand := handSigV4{
		method: http.MethodPut, path: uaPath, query: url.Values{},
		headers: map[string]string{"host": testHost},
		payload: UnsignedPayload, region: DefaultRegion, service: DefaultService,
		akid: testAKID, secret: testSecret, at: uaTime,
	}
	send := func(rawURL string) error {
		h := http.Header{}
		h.Set("User-Agent", uaSigned)
		return v.VerifyPresigned(serverRequest(http.MethodPut, rawURL, h, body), now)
	}

	// Control: without user-agent the hand signer agrees with the SDK, and
	// the verifier accepts its URL.
	handURL := hand.presignedURL(testHost, uaExpires)
	hu, err := url.Parse(handURL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hu.Query().Get("X-Amz-Signature"), su.Query().Get("X-Amz-Signature"); got != want || want == "" {
		t.Fatalf("hand signature %s, SDK %s", got, want)
	}
	if err := send(handURL); err != nil {
		t.Fatalf("hand-presigned URL without user-agent: %v", err)
	}

	// The same URL with user-agent signed too: valid while the request
	// sends that User-Agent.
	hand.headers["user-agent"] = uaSigned
	handURL = hand.presignedURL(testHost, uaExpires)
	if hu, _ := url.Parse(handURL); hu.Query().Get("X-Amz-SignedHeaders") != "host;user-agent" {
		t.Fatalf("URL %s", handURL)
	}
	if err := send(handURL); err != nil {
		t.Fatalf("a valid presigned URL that signs user-agent: %v", err)
	}
	h := http.Header{}
	h.Set("User-Agent", "curl/8.5.0")
	wantSignatureMismatch(t, v.VerifyPresigned(serverRequest(http.MethodPut, handURL, h, body), now))
}
