package emulator_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

// form builds a multipart body from fields in order, then an optional file.
func form(fields [][2]string, file []byte, withFile bool) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	if withFile {
		fw, _ := mw.CreateFormFile("file", "f.bin")
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func fieldsOf(g client.Grant, override map[string]string, drop ...string) [][2]string {
	var out [][2]string
	skip := map[string]bool{}
	for _, d := range drop {
		skip[d] = true
	}
	for k, v := range g.Fields {
		if skip[k] {
			continue
		}
		if o, ok := override[k]; ok {
			v = o
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

// TestBadInputCatalogue sends malformed requests to every endpoint. Each
// must get the right 4xx with S3's XML or API Gateway's JSON, no event may
// fire, and the server must stay healthy.
func TestBadInputCatalogue(t *testing.T) {
	s := start(t, memcached.KindEmbedded, nil)
	ctx := context.Background()
	g, err := s.client.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	post := "/" + s.Config().Bucket
	sign := func(policy string) string { return policy } // the signature stays the grant's, so a changed policy fails it
	notJSON := base64.StdEncoding.EncodeToString([]byte("{not json"))

	type req struct {
		name        string
		method      string
		path        string
		header      map[string]string
		contentType string
		body        []byte
		wantStatus  int
		wantCode    string // S3 <Code>, or API Gateway's message
	}
	postWith := func(name string, fields [][2]string, file []byte, withFile bool, status int, code string) req {
		ct, body := form(fields, file, withFile)
		return req{name: name, method: "POST", path: post, contentType: ct, body: body, wantStatus: status, wantCode: code}
	}
	cases := []req{
		// The policy field.
		postWith("policy not base64", fieldsOf(g, map[string]string{"policy": "%%%not-base64%%%"}), []byte("x"), true, 403, "SignatureDoesNotMatch"),
		postWith("policy not JSON", fieldsOf(g, map[string]string{"policy": sign(notJSON)}), []byte("x"), true, 403, "SignatureDoesNotMatch"),
		postWith("no policy", fieldsOf(g, nil, "policy"), []byte("x"), true, 400, "InvalidArgument"),
		postWith("no signature", fieldsOf(g, nil, "x-amz-signature"), []byte("x"), true, 400, "InvalidArgument"),
		postWith("no credential", fieldsOf(g, nil, "x-amz-credential"), []byte("x"), true, 400, "InvalidArgument"),
		postWith("no key", fieldsOf(g, nil, "key"), []byte("x"), true, 400, "InvalidArgument"),
		postWith("no file", fieldsOf(g, nil), nil, false, 400, "IncorrectNumberOfFilesInPostRequest"),
		// Keys outside the signed conditions.
		postWith("other key", fieldsOf(g, map[string]string{"key": "uploads/other"}), []byte("x"), true, 403, "AccessDenied"),
		postWith("traversal key", fieldsOf(g, map[string]string{"key": "uploads/../accepted/evil"}), []byte("x"), true, 403, "AccessDenied"),
		postWith("accepted prefix", fieldsOf(g, map[string]string{"key": "accepted/" + strings.TrimPrefix(g.Key, "uploads/")}), []byte("x"), true, 403, "AccessDenied"),
		postWith("extra field", append(fieldsOf(g, nil), [2]string{"x-amz-meta-sneaky", "1"}), []byte("x"), true, 403, "AccessDenied"),
		postWith("bad date", fieldsOf(g, map[string]string{"x-amz-date": "yesterday"}), []byte("x"), true, 400, ""),
		postWith("bad algorithm", fieldsOf(g, map[string]string{"x-amz-algorithm": "AWS4-HMAC-MD5"}), []byte("x"), true, 400, ""),
		postWith("bad credential", fieldsOf(g, map[string]string{"x-amz-credential": "nope"}), []byte("x"), true, 400, ""),
		// Broken multipart.
		{name: "truncated multipart", method: "POST", path: post, contentType: "multipart/form-data; boundary=XYZ",
			body: []byte("--XYZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/x"), wantStatus: 400, wantCode: "MalformedPOSTRequest"},
		{name: "no boundary", method: "POST", path: post, contentType: "multipart/form-data", body: []byte("x"), wantStatus: 400, wantCode: "MalformedPOSTRequest"},
		{name: "oversized field", method: "POST", path: post, contentType: "multipart/form-data; boundary=B",
			body: []byte("--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n" + strings.Repeat("k", 64<<10) + "\r\n--B--\r\n"), wantStatus: 400, wantCode: ""},
		// Presigned query parameters.
		{name: "PUT bad X-Amz-Expires", method: "PUT", path: post + "/uploads/q?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=uploadonce%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=soon&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64),
			body: []byte("x"), wantStatus: 400, wantCode: "AuthorizationQueryParametersError"},
		{name: "PUT expires above a week", method: "PUT", path: post + "/uploads/q?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=uploadonce%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64),
			body: []byte("x"), wantStatus: 400, wantCode: "AuthorizationQueryParametersError"},
		{name: "PUT garbled date", method: "PUT", path: post + "/uploads/q?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=uploadonce%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=2026&X-Amz-Expires=30&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64),
			body: []byte("x"), wantStatus: 400, wantCode: "AuthorizationQueryParametersError"},
		{name: "PUT unknown access key", method: "PUT", path: post + "/uploads/q?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=someone%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=30&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64),
			body: []byte("x"), wantStatus: 403, wantCode: "InvalidAccessKeyId"},
		{name: "garbled Authorization", method: "PUT", path: post + "/uploads/h", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 nonsense", "X-Amz-Date": "20260101T000000Z", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"},
			body: []byte("x"), wantStatus: 400, wantCode: ""},
		{name: "anonymous PUT", method: "PUT", path: post + "/uploads/anon", body: []byte("x"), wantStatus: 403, wantCode: "AccessDenied"},
		{name: "anonymous DELETE", method: "DELETE", path: post + "/accepted/anything", wantStatus: 403, wantCode: "AccessDenied"},
		// CORS preflights (unsigned) and the bucket CORS API.
		{name: "preflight without Origin", method: "OPTIONS", path: post + "/uploads/x", header: map[string]string{"Access-Control-Request-Method": "PUT"}, wantStatus: 400, wantCode: "BadRequest"},
		{name: "preflight without method", method: "OPTIONS", path: post + "/uploads/x", header: map[string]string{"Origin": "http://a.test"}, wantStatus: 400, wantCode: "BadRequest"},
		{name: "preflight unknown bucket", method: "OPTIONS", path: "/no-such-bucket/x", header: map[string]string{"Origin": "http://a.test", "Access-Control-Request-Method": "PUT"}, wantStatus: 404, wantCode: "NoSuchBucket"},
		{name: "preflight bad method", method: "OPTIONS", path: post + "/x", header: map[string]string{"Origin": "http://a.test", "Access-Control-Request-Method": "PATCH"}, wantStatus: 403, wantCode: "AccessForbidden"},
		{name: "anonymous PutBucketCors", method: "PUT", path: post + "?cors", body: []byte("<CORSConfiguration/>"), wantStatus: 403, wantCode: "AccessDenied"},
		{name: "anonymous copy", method: "PUT", path: post + "/accepted/c", header: map[string]string{"X-Amz-Copy-Source": "%zz"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "If-Match on a missing key", method: "GET", path: post + "/uploads/none", header: map[string]string{"If-Match": `"x"`}, wantStatus: 404, wantCode: "NoSuchKey"},
		// Routes and methods.
		{name: "no such bucket POST", method: "POST", path: "/no-such-bucket", contentType: "multipart/form-data; boundary=B", body: []byte("--B--\r\n"), wantStatus: 404, wantCode: "NoSuchBucket"},
		{name: "API wrong method", method: "DELETE", path: "/Prod/getpresignedurl", header: map[string]string{"x-api-key": "test-key"}, wantStatus: 403, wantCode: "Missing Authentication Token"},
		{name: "API unknown route", method: "GET", path: "/Prod/other", header: map[string]string{"x-api-key": "test-key"}, wantStatus: 403, wantCode: "Missing Authentication Token"},
		{name: "API bad key", method: "GET", path: "/Prod/getpresignedurl", header: map[string]string{"x-api-key": "test-key-and-more"}, wantStatus: 403, wantCode: "Forbidden"},
		{name: "API empty key", method: "GET", path: "/Prod/getpresignedurl", header: map[string]string{"x-api-key": ""}, wantStatus: 403, wantCode: "Forbidden"},
		{name: "inspection unknown", method: "GET", path: "/_uploadonce/nothing", wantStatus: 404, wantCode: ""},
		{name: "clock bad duration", method: "POST", path: "/_uploadonce/clock?advance=forever", wantStatus: 400, wantCode: ""},
		{name: "clock negative", method: "POST", path: "/_uploadonce/clock?advance=-1s", wantStatus: 400, wantCode: ""},
		{name: "decisions wrong method", method: "DELETE", path: "/_uploadonce/decisions", wantStatus: 405, wantCode: ""},
		{name: "page wrong method", method: "POST", path: "/_uploadonce/", wantStatus: 405, wantCode: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(c.method, s.URL+c.path, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			for k, v := range c.header {
				r.Header[http.CanonicalHeaderKey(k)] = []string{v}
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.wantStatus, body)
			}
			switch {
			case strings.HasPrefix(c.path, "/Prod/"):
				var m struct{ Message string }
				if json.Unmarshal(body, &m) != nil || m.Message != c.wantCode {
					t.Fatalf("body %s, want API Gateway's {\"message\":%q}", body, c.wantCode)
				}
			case strings.HasPrefix(c.path, "/_uploadonce/"):
				if !json.Valid(body) {
					t.Fatalf("inspection error is not JSON: %s", body)
				}
			default:
				if !bytes.Contains(body, []byte("<Error>")) || !bytes.Contains(body, []byte("<Message>")) {
					t.Fatalf("not an S3 XML error: %s", body)
				}
				if c.wantCode != "" && !bytes.Contains(body, []byte("<Code>"+c.wantCode+"</Code>")) {
					t.Fatalf("body %s, want code %s", body, c.wantCode)
				}
			}
		})
	}
	if n := len(s.Deliveries()); n != 0 {
		t.Fatalf("%d events after refused requests", n)
	}
	// Still healthy, and the URL still works once.
	res, err := s.client.Upload(ctx, g, []byte("finally"))
	if err != nil || res.Status != 204 {
		t.Fatalf("upload after the catalogue = %+v, %v", res, err)
	}
	resp, err := http.Get(s.URL + "/_uploadonce/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health = %v, %v", resp, err)
	}
	resp.Body.Close()
}
