package s3auth

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// signPolicy builds fields for a hand-written policy document, signed with
// the test credentials, so rows can test documents the SDK never makes.
func signPolicy(doc string, now time.Time) map[string]string {
	b64 := base64.StdEncoding.EncodeToString([]byte(doc))
	date := now.UTC().Format(scopeDateFormat)
	key := SigningKey(testSecret, date, DefaultRegion, DefaultService)
	return map[string]string{
		"key":              "k",
		"policy":           b64,
		"x-amz-algorithm":  Algorithm,
		"x-amz-credential": testAKID + "/" + date + "/us-east-1/s3/aws4_request",
		"x-amz-date":       now.UTC().Format(amzDateFormat),
		"x-amz-signature":  hex.EncodeToString(hmacSHA256(key, b64)),
	}
}

func TestVerifyPost(t *testing.T) {
	v := testVerifier()
	startsWith := []interface{}{[]interface{}{"starts-with", "$Content-Type", "image/"}}
	tests := []struct {
		name   string
		key    string
		conds  []interface{}
		edit   func(f map[string]string) // applied to the SDK's fields
		bucket string
		later  time.Duration
		want   string
		msg    string // expected message prefix, when set
	}{
		{name: "valid", key: "uploads/a"},
		{name: "valid with starts-with field", key: "uploads/a", conds: startsWith,
			edit: func(f map[string]string) { f["content-type"] = "image/png" }},
		{name: "starts-with violated", key: "uploads/a", conds: startsWith,
			edit: func(f map[string]string) { f["content-type"] = "text/html" }, want: CodeAccessDenied,
			msg: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]`},
		{name: "key outside conditions", key: "uploads/x",
			edit: func(f map[string]string) { f["key"] = "uploads/y" }, want: CodeAccessDenied,
			msg: `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "uploads/x"]`},
		{name: "other bucket", key: "k", bucket: "other", want: CodeAccessDenied},
		{name: "expired", key: "k", later: 31 * time.Second, want: CodeAccessDenied, msg: "Invalid according to Policy: Policy expired."},
		{name: "extra field not in policy", key: "k",
			edit: func(f map[string]string) { f["x-amz-meta-evil"] = "1" }, want: CodeAccessDenied,
			msg: "Invalid according to Policy: Extra input fields: x-amz-meta-evil"},
		{name: "x-ignore- field is exempt", key: "k", edit: func(f map[string]string) { f["x-ignore-note"] = "1" }},
		{name: "tampered signature", key: "k",
			edit: func(f map[string]string) { f["x-amz-signature"] = strings.Repeat("a", 64) }, want: CodeSignatureDoesNotMatch},
		{name: "tampered policy", key: "k",
			edit: func(f map[string]string) { f["policy"] = f["policy"][:len(f["policy"])-4] }, want: CodeSignatureDoesNotMatch},
		{name: "missing signature", key: "k",
			edit: func(f map[string]string) { delete(f, "x-amz-signature") }, want: CodeInvalidArgument},
		{name: "missing date", key: "k", edit: func(f map[string]string) { delete(f, "x-amz-date") }, want: CodeInvalidArgument},
		{name: "anonymous", key: "k", edit: func(f map[string]string) {
			for _, n := range []string{"policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date"} {
				delete(f, n)
			}
		}, want: CodeAccessDenied},
		{name: "unknown access key", key: "k", edit: func(f map[string]string) {
			f["x-amz-credential"] = strings.Replace(f["x-amz-credential"], testAKID, "AKIDOTHER", 1)
		}, want: CodeInvalidAccessKeyID},
		{name: "wrong region", key: "k", edit: func(f map[string]string) {
			f["x-amz-credential"] = strings.Replace(f["x-amz-credential"], "us-east-1", "eu-west-1", 1)
		}, want: CodeInvalidArgument},
		{name: "wrong algorithm", key: "k", edit: func(f map[string]string) { f["x-amz-algorithm"] = "AWS4-ECDSA" }, want: CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			_, vals := presignPost(t, tt.key, tt.conds, 30*time.Second)
			fields := map[string]string{}
			for k, v := range vals {
				fields[strings.ToLower(k)] = v
			}
			if tt.edit != nil {
				tt.edit(fields)
			}
			bucket := testBucket
			if tt.bucket != "" {
				bucket = tt.bucket
			}
			_, err := v.VerifyPost(&PostForm{Fields: fields}, bucket, now.Add(tt.later))
			if got := code(t, err); got != tt.want {
				t.Fatalf("VerifyPost = %v, want %q", err, tt.want)
			}
			if tt.msg != "" {
				var e *Error
				errors.As(err, &e)
				if !strings.HasPrefix(e.Message, tt.msg) {
					t.Fatalf("message %q, want %q", e.Message, tt.msg)
				}
			}
		})
	}
}

func TestVerifyPostPolicyDocuments(t *testing.T) {
	v := testVerifier()
	now := time.Now()
	exp := now.Add(time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
	base := `{"bucket":"` + testBucket + `"},{"key":"k"},{"x-amz-algorithm":"AWS4-HMAC-SHA256"},["starts-with","$x-amz-credential",""],["starts-with","$x-amz-date",""]`
	tests := []struct {
		name string
		doc  string
		raw  string // policy field sent as is (not base64 of doc)
		want string
	}{
		{name: "hand-written valid", doc: `{"expiration":"` + exp + `","conditions":[` + base + `]}`},
		{name: "length range as strings", doc: `{"expiration":"` + exp + `","conditions":[` + base + `,["content-length-range","1","10"]]}`},
		{name: "not base64", raw: "%%%not-base64%%%", want: CodeInvalidPolicyDocument},
		{name: "not JSON", doc: `expiration: soon`, want: CodeInvalidPolicyDocument},
		{name: "missing expiration", doc: `{"conditions":[` + base + `]}`, want: CodeInvalidPolicyDocument},
		{name: "missing conditions", doc: `{"expiration":"` + exp + `"}`, want: CodeInvalidPolicyDocument},
		{name: "bad expiration", doc: `{"expiration":"tomorrow","conditions":[]}`, want: CodeInvalidPolicyDocument},
		{name: "unknown operator", doc: `{"expiration":"` + exp + `","conditions":[["matches","$key","k"]]}`, want: CodeInvalidPolicyDocument},
		{name: "field without $", doc: `{"expiration":"` + exp + `","conditions":[["eq","key","k"]]}`, want: CodeInvalidPolicyDocument},
		{name: "bad range", doc: `{"expiration":"` + exp + `","conditions":[["content-length-range",10,1]]}`, want: CodeInvalidPolicyDocument},
		{name: "two-property simple condition", doc: `{"expiration":"` + exp + `","conditions":[{"key":"k","acl":"x"}]}`, want: CodeInvalidPolicyDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := signPolicy(tt.doc, now)
			if tt.raw != "" {
				f = signPolicy("", now)
				f["policy"] = tt.raw
				key := SigningKey(testSecret, now.UTC().Format(scopeDateFormat), DefaultRegion, DefaultService)
				f["x-amz-signature"] = hex.EncodeToString(hmacSHA256(key, tt.raw))
			}
			_, err := v.VerifyPost(&PostForm{Fields: f}, testBucket, now)
			if got := code(t, err); got != tt.want {
				t.Fatalf("VerifyPost = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckLength(t *testing.T) {
	p := &Policy{Conditions: []Condition{{Op: OpContentLengthRange, Min: 10, Max: 100}}}
	tests := []struct {
		n    int64
		want string
	}{
		{9, CodeEntityTooSmall},   // one below the minimum
		{10, ""},                  // minimum is inclusive
		{100, ""},                 // maximum is inclusive
		{101, CodeEntityTooLarge}, // one above the maximum
	}
	for _, tt := range tests {
		err := p.CheckLength(tt.n)
		if got := code(t, err); got != tt.want {
			t.Errorf("CheckLength(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	var e *Error
	if errors.As(p.CheckLength(101), &e); e.Field("MaxSizeAllowed") != "100" || e.Field("ProposedSize") != "101" {
		t.Errorf("EntityTooLarge elements: %+v", e.Extra)
	}
	if err := (&Policy{}).CheckLength(1 << 40); err != nil {
		t.Errorf("no range must allow any size, got %v", err)
	}
}

// TestPostEndToEnd parses a real multipart body built from SDK fields.
func TestPostEndToEnd(t *testing.T) {
	v := testVerifier()
	conds := []interface{}{
		[]interface{}{"starts-with", "$key", "uploads/"},
		[]interface{}{"content-length-range", 1, 5},
		[]interface{}{"starts-with", "$Content-Type", ""},
		[]interface{}{"starts-with", "$x-amz-meta-owner", ""},
		[]interface{}{"eq", "$success_action_status", "201"},
	}
	_, vals := presignPost(t, "uploads/${filename}", conds, 30*time.Second)
	var fields []formPart
	for _, k := range sortedKeys(vals) {
		fields = append(fields, formPart{k, vals[k]})
	}
	fields = append(fields, formPart{"Content-Type", "text/plain"}, formPart{"X-Amz-Meta-Owner", "ann"},
		formPart{"success_action_status", "201"})
	ct, body := multipartBody(t, fields, "hello.txt", []byte("hello"), []formPart{{"after", "ignored"}})
	form, err := ParsePostForm(postRequest(ct, body), 0)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := v.VerifyPost(form, testBucket, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(form.File)
	if string(data) != "hello" || form.FileName != "hello.txt" {
		t.Fatalf("file %q name %q", data, form.FileName)
	}
	if err := policy.CheckLength(int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if got := form.Key(); got != "uploads/hello.txt" {
		t.Errorf("Key() = %q", got)
	}
	if got := SuccessStatus(form); got != http.StatusCreated {
		t.Errorf("SuccessStatus = %d", got)
	}
	if _, ok := form.Fields["after"]; ok {
		t.Error("field after the file must be ignored")
	}
	md := Metadata(form)
	want := map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Owner": "ann"}
	if len(md) != len(want) || md["Content-Type"] != "text/plain" || md["X-Amz-Meta-Owner"] != "ann" {
		t.Errorf("Metadata = %v, want %v", md, want)
	}
}

func TestMetadataNeverAuthFields(t *testing.T) {
	form := &PostForm{Fields: map[string]string{}}
	auth := []string{"policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date",
		"x-amz-security-token", "key", "success_action_status", "bucket", "awsaccesskeyid", "file", "signature",
		"x-amz-meta-", "x-ignore-x", "acl", "success_action_redirect", "tagging"}
	for _, n := range auth {
		form.Fields[n] = "secret"
	}
	form.Fields["cache-control"] = "no-cache"
	form.Fields["content-disposition"] = "inline"
	form.Fields["content-encoding"] = "gzip"
	form.Fields["expires"] = "0"
	md := Metadata(form)
	var keys []string
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "Cache-Control,Content-Disposition,Content-Encoding,Expires" {
		t.Fatalf("Metadata keys = %v", keys)
	}
}

func TestSuccessStatus(t *testing.T) {
	for in, want := range map[string]int{"": 204, "200": 200, "201": 201, "204": 204, "302": 204, "abc": 204} {
		if got := SuccessStatus(&PostForm{Fields: map[string]string{"success_action_status": in}}); got != want {
			t.Errorf("SuccessStatus(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestParsePostFormErrors(t *testing.T) {
	keyField := []formPart{{"key", "Uploads/CaseKept"}}
	tests := []struct {
		name string
		ct   string // overrides the multipart content type when set
		body func(t *testing.T) (string, []byte)
		max  int64
		want string
	}{
		{name: "valid; key case kept", body: func(t *testing.T) (string, []byte) {
			return multipartBody(t, keyField, "f", []byte("x"), nil)
		}},
		{name: "no file part", body: func(t *testing.T) (string, []byte) {
			return multipartBody(t, keyField, "", nil, nil)
		}, want: CodeIncorrectNumberOfFilesInPostRequest},
		{name: "no key before file", body: func(t *testing.T) (string, []byte) {
			return multipartBody(t, nil, "f", []byte("x"), keyField)
		}, want: CodeInvalidArgument},
		{name: "field over the limit", max: 8, body: func(t *testing.T) (string, []byte) {
			return multipartBody(t, []formPart{{"key", "k"}, {"x-amz-meta-big", strings.Repeat("x", 9)}}, "f", []byte("x"), nil)
		}, want: CodeMaxPostPreDataLengthExceeded},
		{name: "not multipart", ct: "application/x-www-form-urlencoded", body: func(t *testing.T) (string, []byte) {
			return "", []byte("key=k")
		}, want: CodeMalformedPOSTRequest},
		{name: "broken multipart", body: func(t *testing.T) (string, []byte) {
			return "multipart/form-data; boundary=zzz", []byte("--zzz\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk")
		}, want: CodeMalformedPOSTRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := tt.body(t)
			if tt.ct != "" {
				ct = tt.ct
			}
			form, err := ParsePostForm(postRequest(ct, body), tt.max)
			if got := code(t, err); got != tt.want {
				t.Fatalf("ParsePostForm = %v, want %q", err, tt.want)
			}
			if err == nil && form.Fields["key"] != "Uploads/CaseKept" {
				t.Fatalf("key = %q", form.Fields["key"])
			}
		})
	}
}
