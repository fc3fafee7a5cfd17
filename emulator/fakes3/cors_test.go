package fakes3_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	"github.com/chromedp/chromedp"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/internal/browsertest"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// preflightReq sends an unsigned OPTIONS as a browser does.
func preflightReq(t *testing.T, u, origin, method, headers string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method != "" {
		req.Header.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestBucketCORSAPI drives Put/Get/DeleteBucketCors with the Go SDK and
// checks that the rules decide preflights and response headers.
func TestBucketCORSAPI(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	obj := h.url + "/" + bucket + "/uploads/x"

	// Every bucket starts allowing any origin (the emulator's default).
	got, err := h.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("GetBucketCors on the default: %v", err)
	}
	if len(got.CORSRules) != 1 || got.CORSRules[0].AllowedOrigins[0] != "*" {
		t.Fatalf("default rules = %+v", got.CORSRules)
	}
	st, b, hdr := preflightReq(t, obj, "http://anywhere.test:8080", "PUT", "content-type,x-amz-meta-owner")
	if st != 200 || hdr.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "PUT") ||
		hdr.Get("Access-Control-Allow-Headers") != "content-type, x-amz-meta-owner" {
		t.Fatalf("default preflight = %d %s %v", st, b, hdr)
	}

	_, err = h.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"http://*.app.test"}, AllowedMethods: []string{"PUT", "GET"},
			AllowedHeaders: []string{"content-type"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(60)}}}})
	if err != nil {
		t.Fatalf("PutBucketCors: %v", err)
	}
	got, err = h.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil || len(got.CORSRules) != 1 || got.CORSRules[0].AllowedOrigins[0] != "http://*.app.test" ||
		aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 60 || got.CORSRules[0].ExposeHeaders[0] != "ETag" {
		t.Fatalf("GetBucketCors = %+v, %v", got, err)
	}

	for _, c := range []struct {
		name, origin, method, headers string
		status                        int
		code                          string
	}{
		{"allowed origin and method", "http://www.app.test", "PUT", "Content-Type", 200, ""},
		{"origin not in the rules", "http://evil.test", "PUT", "", 403, "AccessForbidden"},
		{"method not in the rule", "http://www.app.test", "DELETE", "", 403, "AccessForbidden"},
		{"header not in the rule", "http://www.app.test", "PUT", "x-amz-meta-owner", 403, "AccessForbidden"},
		{"no Origin", "", "PUT", "", 400, "BadRequest"},
		{"no Access-Control-Request-Method", "http://www.app.test", "", "", 400, "BadRequest"},
	} {
		st, b, hdr := preflightReq(t, obj, c.origin, c.method, c.headers)
		if st != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, st, b, c.status)
			continue
		}
		if c.code != "" && s3Code(t, b) != c.code {
			t.Errorf("%s: code %s, want %s", c.name, s3Code(t, b), c.code)
		}
		if c.code == "AccessForbidden" && !strings.Contains(string(b), "<Message>CORSResponse: This CORS request is not allowed.") {
			t.Errorf("%s: message %s", c.name, b)
		}
		if st == 200 && (hdr.Get("Access-Control-Allow-Origin") != c.origin || hdr.Get("Access-Control-Max-Age") != "60") {
			t.Errorf("%s: headers %v", c.name, hdr)
		}
	}

	// Responses to real requests carry the headers of the matching rule only.
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]string{"http://www.app.test": "http://www.app.test", "http://evil.test": ""} {
		req, _ := http.NewRequest(http.MethodGet, obj, nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want || want != "" && resp.Header.Get("Access-Control-Expose-Headers") != "ETag" {
			t.Errorf("GET from %s: Allow-Origin %q, want %q (%v)", origin, got, want, resp.Header)
		}
	}

	// Bad configurations get S3's errors.
	_, err = h.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}}}})
	if apiCode(err) != "InvalidRequest" {
		t.Errorf("PATCH rule: %v, want InvalidRequest", err)
	}
	_, err = h.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("no-such"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}}})
	if apiCode(err) != "NoSuchBucket" {
		t.Errorf("no bucket: %v, want NoSuchBucket", err)
	}

	if _, err := h.client.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("DeleteBucketCors: %v", err)
	}
	if _, err := h.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)}); apiCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("GetBucketCors after delete: %v", err)
	}
	st, b, _ = preflightReq(t, obj, "http://www.app.test", "PUT", "")
	if st != 403 || !strings.Contains(string(b), "CORS is not enabled for this bucket") {
		t.Fatalf("preflight without configuration = %d %s", st, b)
	}
}

// signedCORSPut is a header-signed PutBucketCors of body with headers.
func signedCORSPut(t *testing.T, h *harness, body string, headers map[string]string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, h.url+"/"+bucket+"?cors", strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: fakes3.DefaultAccessKeyID, SecretAccessKey: fakes3.DefaultSecretAccessKey},
		req, hex.EncodeToString(sum[:]), "s3", fakes3.DefaultRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func contentMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestPutBucketCorsIntegrity: S3 takes PutBucketCors only with Content-MD5
// or a checksum, and checks either; the SDK sends one.
func TestPutBucketCorsIntegrity(t *testing.T) {
	h := newHarness(t, false)
	const body = "<CORSConfiguration><CORSRule><AllowedOrigin>http://a.test</AllowedOrigin><AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>"
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
		code    string
	}{
		{"neither", nil, 400, "InvalidRequest"},
		{"Content-MD5", map[string]string{"Content-MD5": contentMD5(body)}, 200, ""},
		{"wrong Content-MD5", map[string]string{"Content-MD5": contentMD5("other")}, 400, "BadDigest"},
		{"malformed Content-MD5", map[string]string{"Content-MD5": "not-md5"}, 400, "InvalidDigest"},
		{"CRC32", map[string]string{"x-amz-checksum-crc32": b64(crc32.NewIEEE(), []byte(body))}, 200, ""},
		{"wrong CRC32", map[string]string{"x-amz-checksum-crc32": b64(crc32.NewIEEE(), []byte("other"))}, 400, "BadDigest"},
		{"checksum type only", map[string]string{"x-amz-checksum-type": "FULL_OBJECT"}, 400, "InvalidRequest"},
	} {
		st, b := do(t, signedCORSPut(t, h, body, c.headers))
		if st != c.status || c.code != "" && s3Code(t, b) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, b, c.status, c.code)
		}
		if c.code == "InvalidRequest" && !strings.Contains(string(b), "Missing required header for this request: Content-MD5") {
			t.Errorf("%s: message %s", c.name, b)
		}
	}
	// The SDK computes a checksum for PutBucketCors, which S3 requires,
	// even when told to send one only where required.
	var sent http.Header
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("cors") {
			sent = r.Header.Clone()
		}
		h.srv.ServeHTTP(w, r)
	}))
	defer rec.Close()
	for _, calc := range []aws.RequestChecksumCalculation{aws.RequestChecksumCalculationWhenSupported, aws.RequestChecksumCalculationWhenRequired} {
		client := s3.New(s3.Options{Region: fakes3.DefaultRegion, BaseEndpoint: aws.String(rec.URL), UsePathStyle: true,
			Credentials: h.client.Options().Credentials, RequestChecksumCalculation: calc})
		_, err := client.PutBucketCors(context.Background(), &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{
			CORSRules: []types.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}}})
		if err != nil {
			t.Fatalf("SDK PutBucketCors (%v): %v", calc, err)
		}
		t.Logf("SDK (%v) sent Content-MD5 %q x-amz-checksum-crc32 %q x-amz-trailer %q", calc, sent.Get("Content-Md5"),
			sent.Get("X-Amz-Checksum-Crc32"), sent.Get("X-Amz-Trailer"))
		if sent.Get("Content-Md5") == "" && sent.Get("X-Amz-Checksum-Crc32") == "" {
			t.Errorf("SDK (%v) sent neither Content-MD5 nor x-amz-checksum-crc32: %v", calc, sent)
		}
	}
}

func TestPutBucketCorsMalformedXML(t *testing.T) {
	h := newHarness(t, false)
	for name, body := range map[string]string{
		"not XML":       "<CORSConfiguration><CORSRule>",
		"no rules":      "<CORSConfiguration></CORSConfiguration>",
		"no origin":     "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
		"another root":  "<Tagging></Tagging>",
		"two wildcards": "<CORSConfiguration><CORSRule><AllowedOrigin>http://*.*.test</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
	} {
		st, b := do(t, signedCORSPut(t, h, body, map[string]string{"Content-MD5": contentMD5(body)}))
		want := "MalformedXML"
		if name == "two wildcards" {
			want = "InvalidRequest"
		}
		if st != 400 || s3Code(t, b) != want {
			t.Errorf("%s: %d %s, want 400 %s", name, st, b, want)
		}
	}
}

// corsPage is a page on another origin that uploads to the fake S3 with
// fetch: a presigned POST as FormData, then a presigned PUT, and reports
// what the browser let it see.
const corsPage = `<!doctype html><html><body><script>
window.run = async (job) => {
  const out = {};
  try {
    const fd = new FormData();
    for (const [k, v] of Object.entries(job.fields)) fd.append(k, v);
    fd.append("file", new Blob(["from a browser"], {type: "text/plain"}), "b.txt");
    const r = await fetch(job.postURL, {method: "POST", body: fd});
    out.post = {status: r.status, etag: r.headers.get("ETag")};
  } catch (e) { out.post = {error: String(e)}; }
  try {
    const r = await fetch(job.putURL, {method: "PUT", body: "put from a browser"});
    out.put = {status: r.status, etag: r.headers.get("ETag")};
  } catch (e) { out.put = {error: String(e)}; }
  return JSON.stringify(out);
};
</script></body></html>`

type corsOutcome struct {
	Status int    `json:"status"`
	ETag   string `json:"etag"`
	Error  string `json:"error"`
}

// TestCORSFromAnotherOrigin runs fetch uploads in Chromium from a page on a
// second origin: allowed by the default configuration, refused by a
// configuration that names another origin.
func TestCORSFromAnotherOrigin(t *testing.T) {
	ctx := browsertest.New(t, 90*time.Second)
	h := newHarness(t, false)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(corsPage))
	}))
	t.Cleanup(page.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	run := func(key string) map[string]corsOutcome {
		t.Helper()
		post, err := s3.NewPresignClient(h.client).PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key + "-post")},
			func(o *s3.PresignPostOptions) { o.Expires = time.Minute })
		if err != nil {
			t.Fatal(err)
		}
		put, err := onetime.NewSDKPresigner(h.client, h.clock).PresignPut(context.Background(), bucket, key+"-put", time.Minute, false)
		if err != nil {
			t.Fatal(err)
		}
		job, _ := json.Marshal(map[string]any{"postURL": post.URL, "fields": post.Values, "putURL": put.URL})
		res, err := chromedp.Run(ctx, chromedp.Evaluate[string]("window.run("+string(job)+")", chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]corsOutcome
		if err := json.Unmarshal([]byte(res), &out); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		return out
	}

	out := run("uploads/cors-allowed")
	if out["post"].Status != 204 || out["post"].ETag == "" {
		t.Errorf("POST from %s = %+v, want 204 with a readable ETag", page.URL, out["post"])
	}
	if out["put"].Status != 200 || out["put"].ETag == "" {
		t.Errorf("PUT from %s = %+v, want 200 with a readable ETag", page.URL, out["put"])
	}

	_, err := h.client.PutBucketCors(context.Background(), &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"http://elsewhere.test"}, AllowedMethods: []string{"PUT", "POST"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	out = run("uploads/cors-refused")
	// The POST is a simple request: S3 stores it, but the page may not
	// read the answer. The PUT's preflight is refused, so it is never sent.
	if !strings.Contains(out["post"].Error, "TypeError") || !strings.Contains(out["put"].Error, "TypeError") {
		t.Errorf("from a disallowed origin = %+v, want fetch to fail with a CORS TypeError", out)
	}
	if getBody(t, h, "uploads/cors-refused-post") != "from a browser" {
		t.Errorf("the refused POST was not stored; S3 stores it and only hides the answer")
	}
	if _, err := h.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/cors-refused-put")}); err == nil {
		t.Errorf("the PUT whose preflight was refused was stored")
	}
}
