package s3auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// awsDocVectors is testdata/sigv2/aws_docs_examples.json: AWS's published
// SigV2 examples (see the README beside it for their source).
type awsDocVectors struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"credentials"`
	HeaderExamples []struct {
		Name, Method, Path, Date string
		Headers                  [][2]string
		StringToSign             string `json:"string_to_sign"`
		Signature                string
	} `json:"header_examples"`
	QueryExample struct {
		Method, URL  string
		StringToSign string `json:"string_to_sign"`
		Signature    string
	} `json:"query_example"`
	PostExample struct {
		Policy, Signature string
		OlderSecret       string `json:"older_example_secret"`
		Fields            [][2]string
	} `json:"post_example"`
}

func loadAWSDocVectors(t *testing.T) awsDocVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/sigv2/aws_docs_examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var v awsDocVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.HeaderExamples) != 7 || v.QueryExample.URL == "" || v.PostExample.Policy == "" {
		t.Fatalf("vectors file is incomplete: %d header examples", len(v.HeaderExamples))
	}
	return v
}

// The header-signed examples check the StringToSign builder (path-style
// resource, positional headers, x-amz-* canonicalisation, sub-resources)
// and SignV2; the emulator verifies the same StringToSign with Expires in
// the Date position.
func TestSigV2AWSDocStringToSign(t *testing.T) {
	vec := loadAWSDocVectors(t)
	for _, ex := range vec.HeaderExamples {
		t.Run(ex.Name, func(t *testing.T) {
			r := httptest.NewRequest(ex.Method, "http://"+testHost+ex.Path, nil)
			for _, h := range ex.Headers {
				r.Header.Add(h[0], h[1])
			}
			sts := stringToSignV2(r, ex.Date, nil)
			if sts != ex.StringToSign {
				t.Fatalf("StringToSign\n%q\nwant\n%q", sts, ex.StringToSign)
			}
			if got := SignV2(vec.Credentials.SecretAccessKey, sts); got != ex.Signature {
				t.Fatalf("signature %s, want %s", got, ex.Signature)
			}
		})
	}
}

func TestSigV2AWSDocQueryExample(t *testing.T) {
	vec := loadAWSDocVectors(t)
	ex := vec.QueryExample
	v := &Verifier{Creds: Credentials{AccessKeyID: vec.Credentials.AccessKeyID, SecretAccessKey: vec.Credentials.SecretAccessKey}}
	req := func(rawURL string) *http.Request {
		return httptest.NewRequest(ex.Method, "http://"+testHost+rawURL, nil)
	}
	expires := time.Unix(1175139620, 0)

	if err := v.VerifyPresigned(req(ex.URL), expires.Add(-time.Minute)); err != nil {
		t.Fatalf("AWS's example URL: %v", err)
	}
	if err := v.VerifyPresigned(req(ex.URL), expires); err != nil {
		t.Fatalf("at the Expires second itself: %v", err)
	}

	err := v.VerifyPresigned(req(ex.URL), expires.Add(time.Second))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeAccessDenied || e.Message != "Request has expired" ||
		e.Field("Expires") != "2007-03-29T03:40:20Z" || e.Field("ServerTime") != "2007-03-29T03:40:21Z" {
		t.Fatalf("one second late: %#v", err)
	}

	tampered := "/johnsmith/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn9%3D&Expires=1175139620"
	err = v.VerifyPresigned(req(tampered), expires.Add(-time.Minute))
	if !errors.As(err, &e) || e.Code != CodeSignatureDoesNotMatch || e.Status != http.StatusForbidden ||
		e.Field("StringToSign") != ex.StringToSign || e.Field("SignatureProvided") != "NpgCjnDzrM+WFzoENXmpNDUsSn9=" ||
		e.Field("AWSAccessKeyId") != "AKIAIOSFODNN7EXAMPLE" || e.Field("StringToSignBytes")[:11] != "47 45 54 0a" {
		t.Fatalf("tampered signature: %#v", err)
	}

	v.SigV2 = SigV2Refuse
	err = v.VerifyPresigned(req(ex.URL), expires.Add(-time.Minute))
	if !errors.As(err, &e) || e.Code != CodeInvalidRequest || e.Status != http.StatusBadRequest {
		t.Fatalf("refused SigV2: %#v", err)
	}
}

func TestSigV2AWSDocPOSTExample(t *testing.T) {
	vec := loadAWSDocVectors(t)
	ex := vec.PostExample
	doc, err := base64.StdEncoding.DecodeString(ex.Policy)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePolicy(ex.Policy)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if want := time.Date(2007, 12, 1, 12, 0, 0, 0, time.UTC); !p.Expiration.Equal(want) || len(p.Conditions) != 7 {
		t.Fatalf("policy expiration %v with %d conditions, want %v and 7", p.Expiration, len(p.Conditions), want)
	}
	fields := map[string]string{"policy": ex.Policy, "signature": ex.Signature}
	for _, f := range ex.Fields {
		fields[strings.ToLower(f[0])] = f[1]
	}
	before := time.Date(2007, 11, 14, 21, 21, 33, 0, time.UTC) // the sample response's Date
	akid := vec.Credentials.AccessKeyID

	// Caveat 1 of the README: the page's own secret does not give the
	// published signature; the older example secret does.
	if got := SignV2(vec.Credentials.SecretAccessKey, ex.Policy); got == ex.Signature {
		t.Fatalf("the published signature now verifies with the page's secret; update the README")
	}
	if got := SignV2(ex.OlderSecret, ex.Policy); got != ex.Signature {
		t.Fatalf("older secret gives %s, want the published %s", got, ex.Signature)
	}
	withPageSecret := &Verifier{Creds: Credentials{AccessKeyID: akid, SecretAccessKey: vec.Credentials.SecretAccessKey}}
	_, err = withPageSecret.VerifyPost(&PostForm{Fields: fields}, "johnsmith", before)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeSignatureDoesNotMatch || e.Field("StringToSign") != ex.Policy {
		t.Fatalf("page secret: %#v", err)
	}

	v := &Verifier{Creds: Credentials{AccessKeyID: akid, SecretAccessKey: ex.OlderSecret}}
	// Caveat 2: the sample request's redirect field was edited after the
	// policy was encoded, so the policy refuses it as published.
	_, err = v.VerifyPost(&PostForm{Fields: fields}, "johnsmith", before)
	if !errors.As(err, &e) || e.Message != `Invalid according to Policy: Policy Condition failed: ["eq", "$success_action_redirect", "http://johnsmith.s3.amazonaws.com/successful_upload.html"]` {
		t.Fatalf("sample request as published: %#v", err)
	}
	fields["success_action_redirect"] = "http://johnsmith.s3.amazonaws.com/successful_upload.html"
	if _, err := v.VerifyPost(&PostForm{Fields: fields}, "johnsmith", before); err != nil {
		t.Fatalf("sample request with the policy's redirect: %v", err)
	}
	_, err = v.VerifyPost(&PostForm{Fields: fields}, "johnsmith", p.Expiration.Add(time.Second))
	if !errors.As(err, &e) || e.Message != "Invalid according to Policy: Policy expired." {
		t.Fatalf("after the policy's expiration: %#v", err)
	}
}
