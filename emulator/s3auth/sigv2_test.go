package s3auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// v2URL is a SigV2 presigned URL for path (raw, path-style, with any
// sub-resource query) signed over sts; extra is appended to the query.
func v2URL(path, sts, secret, expires, extra string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	u := "http://" + testHost + path + sep + "AWSAccessKeyId=" + testAKID + "&Expires=" + expires +
		"&Signature=" + url.QueryEscape(SignV2(secret, sts))
	if extra != "" {
		u += "&" + extra
	}
	return u
}

func TestVerifyPresignedV2(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := strconv.FormatInt(now.Unix()+30, 10)
	obj := "/" + testBucket + "/uploads/a%20b+c"
	tests := []struct {
		name    string
		method  string
		rawURL  string
		headers map[string]string
		sigv2   SigV2Mode
		want    string // error code; "" means accepted
	}{
		// Each StringToSign is written out by hand, as AWS's guide defines it.
		{name: "GET", method: "GET", rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, "")},
		{name: "PUT with Content-Type and Content-MD5", method: "PUT",
			rawURL:  v2URL(obj, "PUT\nmd5==\ntext/plain\n"+exp+"\n"+obj, testSecret, exp, ""),
			headers: map[string]string{"Content-Type": "text/plain", "Content-MD5": "md5=="}},
		{name: "PUT whose Content-Type was not signed", method: "PUT",
			rawURL:  v2URL(obj, "PUT\n\n\n"+exp+"\n"+obj, testSecret, exp, ""),
			headers: map[string]string{"Content-Type": "text/plain"}, want: CodeSignatureDoesNotMatch},
		{name: "HEAD", method: "HEAD", rawURL: v2URL(obj, "HEAD\n\n\n"+exp+"\n"+obj, testSecret, exp, "")},
		{name: "DELETE", method: "DELETE", rawURL: v2URL(obj, "DELETE\n\n\n"+exp+"\n"+obj, testSecret, exp, "")},
		{name: "signed for GET, sent as PUT", method: "PUT",
			rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, ""), want: CodeSignatureDoesNotMatch},
		{name: "sub-resources sorted, values decoded, others left out", method: "GET",
			rawURL: v2URL(obj+"?versionId=v%2F1&response-content-type=text%2Fplain&prefix=p",
				"GET\n\n\n"+exp+"\n"+obj+"?response-content-type=text/plain&versionId=v/1", testSecret, exp, "")},
		{name: "sub-resource without a value", method: "GET",
			rawURL: v2URL("/"+testBucket+"/k?acl", "GET\n\n\n"+exp+"\n/"+testBucket+"/k?acl", testSecret, exp, "")},
		{name: "unsigned sub-resource", method: "GET",
			rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, "versionId=v1"), want: CodeSignatureDoesNotMatch},
		{name: "x-amz-security-token in the query is signed", method: "GET",
			rawURL: v2URL(obj, "GET\n\n\n"+exp+"\nx-amz-security-token:tok\n"+obj, testSecret, exp, "x-amz-security-token=tok")},
		{name: "x-amz-meta header is signed, trimmed", method: "PUT",
			rawURL:  v2URL(obj, "PUT\n\n\n"+exp+"\nx-amz-meta-a:1\n"+obj, testSecret, exp, ""),
			headers: map[string]string{"X-Amz-Meta-A": " 1 "}},
		{name: "x-amz-meta header not signed", method: "PUT",
			rawURL:  v2URL(obj, "PUT\n\n\n"+exp+"\n"+obj, testSecret, exp, ""),
			headers: map[string]string{"X-Amz-Meta-A": "1"}, want: CodeSignatureDoesNotMatch},
		{name: "wrong secret", method: "GET", rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, "other", exp, ""),
			want: CodeSignatureDoesNotMatch},
		{name: "wrong access key", method: "GET",
			rawURL: strings.Replace(v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, ""), testAKID, "AKIDOTHER", 1),
			want:   CodeInvalidAccessKeyID},
		{name: "expired", method: "GET", rawURL: v2URL(obj, "GET\n\n\n999\n"+obj, testSecret, "999", ""), want: CodeAccessDenied},
		{name: "Expires not a number", method: "GET", rawURL: v2URL(obj, "GET\n\n\nsoon\n"+obj, testSecret, "soon", ""),
			want: CodeAccessDenied},
		{name: "no Expires", method: "GET", rawURL: "http://" + testHost + obj + "?AWSAccessKeyId=" + testAKID + "&Signature=x",
			want: CodeAccessDenied},
		{name: "mixed with SigV4", method: "GET",
			rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, "X-Amz-Algorithm=AWS4-HMAC-SHA256"),
			want:   CodeInvalidArgument},
		{name: "refused", method: "GET", rawURL: v2URL(obj, "GET\n\n\n"+exp+"\n"+obj, testSecret, exp, ""),
			sigv2: SigV2Refuse, want: CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.rawURL, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if Classify(r) != AuthQuery {
				t.Fatalf("classified as %v", Classify(r))
			}
			v := testVerifier()
			v.SigV2 = tt.sigv2
			if got := code(t, v.VerifyPresigned(r, now)); got != tt.want {
				t.Fatalf("code %q, want %q (%v)", got, tt.want, v.VerifyPresigned(r, now))
			}
		})
	}
}

func TestVerifyPresignedV2Messages(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := testVerifier()
	check := func(rawURL, wantCode, wantMsg string, wantStatus int) {
		t.Helper()
		err := v.VerifyPresigned(httptest.NewRequest("GET", rawURL, nil), now)
		var e *Error
		if !errors.As(err, &e) || e.Code != wantCode || e.Message != wantMsg || e.Status != wantStatus {
			t.Fatalf("%s: %#v, want %s %d %q", rawURL, err, wantCode, wantStatus, wantMsg)
		}
	}
	base := "http://" + testHost + "/" + testBucket + "/k"
	check(base+"?AWSAccessKeyId="+testAKID+"&Expires=1", CodeAccessDenied,
		"Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters", 403)
	check(base+"?AWSAccessKeyId="+testAKID+"&Expires=tomorrow&Signature=x", CodeAccessDenied,
		"Invalid date (should be seconds since epoch): tomorrow", 403)
	check(base+"?AWSAccessKeyId="+testAKID+"&Expires=1&Signature=x", CodeAccessDenied, "Request has expired", 403)
	v.SigV2 = SigV2Refuse
	check(base+"?AWSAccessKeyId="+testAKID+"&Expires=1&Signature=x", CodeInvalidRequest,
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.", 400)
}

// v2PostFields are the fields boto3's default generate_presigned_post
// returns for key, with conds added to the policy: key, AWSAccessKeyId,
// policy and signature.
func v2PostFields(key string, exp time.Time, conds ...string) map[string]string {
	all := append([]string{`{"bucket": "` + testBucket + `"}`, `{"key": "` + key + `"}`}, conds...)
	doc := `{"expiration": "` + exp.UTC().Format("2006-01-02T15:04:05Z") + `", "conditions": [` + strings.Join(all, ", ") + `]}`
	policy := base64.StdEncoding.EncodeToString([]byte(doc))
	return map[string]string{"key": key, "awsaccesskeyid": testAKID, "policy": policy, "signature": SignV2(testSecret, policy)}
}

func TestVerifyPostSigV2(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(30 * time.Second)
	tests := []struct {
		name   string
		fields map[string]string
		edit   func(f map[string]string)
		sigv2  SigV2Mode
		later  time.Duration
		want   string // expected message; "" means accepted
	}{
		{name: "boto3 default fields", fields: v2PostFields("uploads/a", exp)},
		{name: "security token covered by the policy",
			fields: v2PostFields("uploads/a", exp, `{"x-amz-security-token": "tok"}`),
			edit:   func(f map[string]string) { f["x-amz-security-token"] = "tok" }},
		{name: "security token not covered", fields: v2PostFields("uploads/a", exp),
			edit: func(f map[string]string) { f["x-amz-security-token"] = "tok" },
			want: "Invalid according to Policy: Extra input fields: x-amz-security-token"},
		{name: "starts-with met", fields: v2PostFields("uploads/a", exp, `["starts-with", "$Content-Type", "image/"]`),
			edit: func(f map[string]string) { f["content-type"] = "image/png" }},
		{name: "starts-with failed", fields: v2PostFields("uploads/a", exp, `["starts-with", "$Content-Type", "image/"]`),
			edit: func(f map[string]string) { f["content-type"] = "text/html" },
			want: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]`},
		{name: "other key", fields: v2PostFields("uploads/a", exp), edit: func(f map[string]string) { f["key"] = "uploads/b" },
			want: `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "uploads/a"]`},
		{name: "expired", fields: v2PostFields("uploads/a", exp), later: 31 * time.Second,
			want: "Invalid according to Policy: Policy expired."},
		{name: "tampered signature", fields: v2PostFields("uploads/a", exp),
			edit: func(f map[string]string) { f["signature"] = SignV2("other", f["policy"]) },
			want: "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
		{name: "tampered policy", fields: v2PostFields("uploads/a", exp),
			edit: func(f map[string]string) { f["policy"] = v2PostFields("uploads/b", exp)["policy"] },
			want: "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
		{name: "wrong access key", fields: v2PostFields("uploads/a", exp),
			edit: func(f map[string]string) { f["awsaccesskeyid"] = "AKIDOTHER" },
			want: "The AWS Access Key Id you provided does not exist in our records."},
		{name: "no signature", fields: v2PostFields("uploads/a", exp), edit: func(f map[string]string) { delete(f, "signature") },
			want: "Bucket POST must contain a field named 'Signature'.  If it is specified, please check the order of the fields."},
		{name: "refused", fields: v2PostFields("uploads/a", exp), sigv2: SigV2Refuse,
			want: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.edit != nil {
				tt.edit(tt.fields)
			}
			v := testVerifier()
			v.SigV2 = tt.sigv2
			_, err := v.VerifyPost(&PostForm{Fields: tt.fields}, testBucket, now.Add(tt.later))
			got := ""
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%T %v", err, err)
				}
				got = e.Message
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyPostSigV2MismatchElements(t *testing.T) {
	f := v2PostFields("uploads/a", time.Unix(1_800_000_030, 0))
	f["signature"] = "bm90IGl0"
	_, err := testVerifier().VerifyPost(&PostForm{Fields: f}, testBucket, time.Unix(1_800_000_000, 0))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeSignatureDoesNotMatch || e.Status != http.StatusForbidden ||
		e.Field("StringToSign") != f["policy"] || e.Field("SignatureProvided") != "bm90IGl0" || e.Field("AWSAccessKeyId") != testAKID {
		t.Fatalf("%#v", err)
	}
}

func TestPostSigV2LengthRange(t *testing.T) {
	f := v2PostFields("uploads/a", time.Unix(1_800_000_030, 0), `["content-length-range", 2, 4]`)
	p, err := testVerifier().VerifyPost(&PostForm{Fields: f}, testBucket, time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int64]string{1: CodeEntityTooSmall, 3: "", 5: CodeEntityTooLarge} {
		if got := code(t, p.CheckLength(n)); got != want {
			t.Fatalf("%d bytes: %q, want %q", n, got, want)
		}
	}
}

func TestParseSigV2Mode(t *testing.T) {
	for _, m := range []SigV2Mode{SigV2Accept, SigV2Refuse} {
		got, err := ParseSigV2Mode(m.String())
		if err != nil || got != m {
			t.Fatalf("%v round trip: %v %v", m, got, err)
		}
	}
	if _, err := ParseSigV2Mode("maybe"); err == nil {
		t.Fatal("accepted maybe")
	}
	var zero Verifier
	if zero.SigV2 != SigV2Accept {
		t.Fatal("the zero Verifier refuses SigV2")
	}
}
