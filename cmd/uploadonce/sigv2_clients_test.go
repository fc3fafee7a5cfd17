package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// boto3Tool is a small driver for boto3 with its DEFAULT configuration
// (unless "sigv" says otherwise) and requests. It reads one JSON request
// from argv[1] and prints one JSON answer:
//
//	presign_post: {"url", "fields"} from generate_presigned_post
//	presign_url:  {"url"} from generate_presigned_url
//	post:         {"answers": [{"status", "body"}, ...]}, one requests.post per body
const boto3Tool = `
import json, sys
import boto3, requests
from botocore.config import Config

req = json.loads(sys.argv[1])

def client():
    kw = {}
    if req.get("sigv"):
        kw["config"] = Config(signature_version=req["sigv"])
    session = boto3.session.Session(
        aws_access_key_id="uploadonce", aws_secret_access_key=req.get("secret", "uploadonce-secret"),
        aws_session_token=req.get("token"), region_name=req["region"])
    return session.client("s3", endpoint_url=req["endpoint"], **kw)

op = req["op"]
if op == "presign_post":
    p = client().generate_presigned_post(req["bucket"], req["key"], Fields=req.get("fields"),
        Conditions=req.get("conditions"), ExpiresIn=req.get("expires", 30))
    out = {"url": p["url"], "fields": p["fields"]}
elif op == "presign_url":
    params = {"Bucket": req["bucket"], "Key": req["key"]}
    params.update(req.get("params") or {})
    out = {"url": client().generate_presigned_url(req["method"], Params=params, ExpiresIn=req.get("expires", 30))}
elif op == "post":
    out = {"answers": []}
    for body in req["bodies"]:
        r = requests.post(req["url"], data=req["fields"], files={"file": ("myfile1.txt", body.encode())})
        out["answers"].append({"status": r.status_code, "body": r.text})
print(json.dumps(out))
`

// requireBoto3 finds a python3 that imports boto3 and requests: the first
// on PATH, else Debian's (where .ci/run installs python3-boto3). A missing
// one fails the test when UPLOADONCE_REQUIRE_CLIENTS=1 (requireTool).
func requireBoto3(t *testing.T) string {
	t.Helper()
	const probe = "import boto3, requests"
	if p, err := exec.LookPath("python3"); err == nil && exec.Command(p, "-c", probe).Run() == nil {
		return p
	}
	return requireTool(t, "/usr/bin/python3", "-c", probe)
}

type boto3Req map[string]any

func boto3Run(t *testing.T, py string, req boto3Req, out any) {
	t.Helper()
	arg, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", boto3Tool, string(arg))
	cmd.Env = awsEnv("unused")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3 %s: %v\n%s", req["op"], err, stderr.String())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("boto3 %s printed %q: %v", req["op"], raw, err)
	}
}

type presignedPost struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

type postAnswer struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// s3Err is the part of an S3 XML error body the tests compare.
type s3Err struct {
	Code, Message, StringToSign, SignatureProvided, AWSAccessKeyId string
}

func parseS3Err(t *testing.T, body string) s3Err {
	t.Helper()
	var e s3Err
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an S3 error body: %q", body)
	}
	return e
}

func boto3Post(t *testing.T, py, endpoint string, p presignedPost, bodies ...string) []postAnswer {
	t.Helper()
	var out struct{ Answers []postAnswer }
	boto3Run(t, py, boto3Req{"op": "post", "endpoint": endpoint, "region": "us-east-1",
		"url": p.URL, "fields": p.Fields, "bodies": bodies}, &out)
	if len(out.Answers) != len(bodies) {
		t.Fatalf("%d answers for %d bodies", len(out.Answers), len(bodies))
	}
	return out.Answers
}

// issuedKey asks the issue API for a grant and returns its key, so that the
// strategy holds a token for it.
func issuedKey(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/Prod/getpresignedurl", nil)
	req.Header.Set("x-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		URL struct {
			Fields map[string]string `json:"fields"`
		} `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || g.URL.Fields["key"] == "" {
		t.Fatalf("issue: %d %v", resp.StatusCode, err)
	}
	if _, v4 := g.URL.Fields["x-amz-signature"]; !v4 {
		t.Fatalf("the issue API no longer presigns SigV4: %v", g.URL.Fields)
	}
	return g.URL.Fields["key"]
}

func advanceClock(t *testing.T, base, d string) {
	t.Helper()
	resp, err := http.Post(base+"/_uploadonce/clock?advance="+d, "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("advance: %v %v", resp, err)
	}
	resp.Body.Close()
}

func waitDecisions(t *testing.T, base string, n int) (accepted, rejected int) {
	t.Helper()
	var decisions []struct{ Decision string }
	for range 500 {
		getJSON(t, base+"/_uploadonce/decisions", &decisions)
		if len(decisions) >= n {
			break
		}
		sleepBriefly()
	}
	for _, d := range decisions {
		switch d.Decision {
		case "accepted":
			accepted++
		case "rejected":
			rejected++
		}
	}
	return accepted, rejected
}

func wantFieldNames(t *testing.T, fields map[string]string, names ...string) {
	t.Helper()
	if len(fields) != len(names) {
		t.Fatalf("fields %v, want exactly %v", fields, names)
	}
	for _, n := range names {
		if _, ok := fields[n]; !ok {
			t.Fatalf("fields %v lack %s", fields, n)
		}
	}
}

// The reference's issuer with boto3's defaults: a SigV2 policy, POSTed
// twice, as upload2x does.
func TestBoto3DefaultPresignedPostTwice(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	key := issuedKey(t, base)
	var p presignedPost
	boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1",
		"bucket": "uploadonce", "key": key}, &p)
	wantFieldNames(t, p.Fields, "key", "AWSAccessKeyId", "policy", "signature")

	answers := boto3Post(t, py, base, p, "hello\n", "hello\n")
	if answers[0].Status != 204 || answers[1].Status != 204 {
		t.Fatalf("answers %+v, want 204 204", answers)
	}
	if acc, rej := waitDecisions(t, base, 2); acc != 1 || rej != 1 {
		t.Fatalf("%d accepted and %d rejected, want 1 and 1", acc, rej)
	}
}

// Conditions give the same errors whether boto3 signs the policy with
// SigV2 (its default) or SigV4.
func TestBoto3PresignedPostConditionsBothVersions(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	conds := []any{[]any{"content-length-range", 1, 5}, []any{"starts-with", "$Content-Type", "image/"}}
	type outcome struct {
		status        int
		code, message string
	}
	run := func(sigv string) []outcome {
		var p presignedPost
		boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1", "sigv": sigv,
			"bucket": "uploadonce", "key": "data/" + sigv + ".png", "fields": map[string]string{"Content-Type": "image/png"},
			"conditions": conds}, &p)
		if _, v4 := p.Fields["x-amz-signature"]; v4 != (sigv == "s3v4") {
			t.Fatalf("sigv %q gave fields %v", sigv, p.Fields)
		}
		var got []outcome
		for _, a := range boto3Post(t, py, base, p, "", "too long", "ok") {
			o := outcome{status: a.Status}
			if a.Status >= 400 {
				e := parseS3Err(t, a.Body)
				o.code, o.message = e.Code, e.Message
			}
			got = append(got, o)
		}
		p.Fields["Content-Type"] = "text/plain"
		a := boto3Post(t, py, base, p, "ok")[0]
		e := parseS3Err(t, a.Body)
		return append(got, outcome{a.Status, e.Code, e.Message})
	}
	v2, v4 := run(""), run("s3v4")
	want := []outcome{
		{400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"},
		{400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"},
		{204, "", ""},
		{403, "AccessDenied", `Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]`},
	}
	for i := range want {
		if v2[i] != want[i] || v4[i] != want[i] {
			t.Fatalf("upload %d: SigV2 %+v, SigV4 %+v, want %+v", i, v2[i], v4[i], want[i])
		}
	}
}

func TestBoto3DefaultPresignedPostExpiredAndTampered(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--clock", "virtual")
	presign := func(key string) presignedPost {
		var p presignedPost
		boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1",
			"bucket": "uploadonce", "key": key}, &p)
		return p
	}
	tampered := presign("data/tampered")
	tampered.Fields["signature"] = "AAAA" + tampered.Fields["signature"][4:]
	a := boto3Post(t, py, base, tampered, "x")[0]
	e := parseS3Err(t, a.Body)
	if a.Status != 403 || e.Code != "SignatureDoesNotMatch" || e.StringToSign != tampered.Fields["policy"] ||
		e.SignatureProvided != tampered.Fields["signature"] || e.AWSAccessKeyId != "uploadonce" {
		t.Fatalf("tampered signature: %d %+v", a.Status, e)
	}

	late := presign("data/late")
	// boto3 dates the policy by the wall clock, 30 s ahead; the virtual
	// clock started a few seconds before that, so 5 min is past it.
	advanceClock(t, base, "5m")
	a = boto3Post(t, py, base, late, "x")[0]
	if e := parseS3Err(t, a.Body); a.Status != 403 || e.Code != "AccessDenied" || e.Message != "Invalid according to Policy: Policy expired." {
		t.Fatalf("late upload: %d %+v", a.Status, e)
	}
	var evs []json.RawMessage
	getJSON(t, base+"/_uploadonce/events", &evs)
	if len(evs) != 0 {
		t.Fatalf("%d events after refused uploads", len(evs))
	}
}

// Under a Lambda's temporary credentials boto3 adds x-amz-security-token,
// to the POST fields and policy, and to the query of a presigned URL.
func TestBoto3DefaultPresignWithSessionToken(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	var p presignedPost
	boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1", "token": "session-tok",
		"bucket": "uploadonce", "key": "data/token"}, &p)
	wantFieldNames(t, p.Fields, "key", "AWSAccessKeyId", "policy", "signature", "x-amz-security-token")
	if a := boto3Post(t, py, base, p, "x")[0]; a.Status != 204 {
		t.Fatalf("POST with a session token: %d %s", a.Status, a.Body)
	}
	var u struct{ URL string }
	boto3Run(t, py, boto3Req{"op": "presign_url", "endpoint": base, "region": "us-east-1", "token": "session-tok",
		"bucket": "uploadonce", "key": "data/token", "method": "get_object"}, &u)
	if !strings.Contains(u.URL, "x-amz-security-token=session-tok") {
		t.Fatalf("URL without the token: %s", u.URL)
	}
	if status, body := send(t, http.MethodGet, u.URL, nil, ""); status != 200 || body != "x" {
		t.Fatalf("GET with a session token: %d %q", status, body)
	}
}

func send(t *testing.T, method, rawURL string, headers map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// generate_presigned_url with defaults gives SigV2 query URLs
// (?AWSAccessKeyId=&Signature=&Expires=); eu-west-1 is where the reference
// ran.
func TestBoto3DefaultPresignedURLs(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--clock", "virtual", "--region", "eu-west-1")
	presign := func(method, key string, params map[string]string) string {
		var u struct{ URL string }
		boto3Run(t, py, boto3Req{"op": "presign_url", "endpoint": base, "region": "eu-west-1",
			"bucket": "uploadonce", "key": key, "method": method, "params": params}, &u)
		q, err := url.ParseQuery(u.URL[strings.IndexByte(u.URL, '?')+1:])
		if err != nil || q.Get("AWSAccessKeyId") != "uploadonce" || q.Get("Expires") == "" || q.Get("Signature") == "" {
			t.Fatalf("not a SigV2 URL: %s", u.URL)
		}
		return u.URL
	}
	put := presign("put_object", "data/hello world.txt", nil)
	if status, body := send(t, http.MethodPut, put, nil, "hello"); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	typed := presign("put_object", "data/typed.txt", map[string]string{"ContentType": "text/plain"})
	if status, body := send(t, http.MethodPut, typed, map[string]string{"Content-Type": "text/plain"}, "typed"); status != 200 {
		t.Fatalf("PUT with its signed Content-Type: %d %s", status, body)
	}
	if status, body := send(t, http.MethodPut, typed, map[string]string{"Content-Type": "text/html"}, "typed"); status != 403 ||
		parseS3Err(t, body).Code != "SignatureDoesNotMatch" {
		t.Fatalf("PUT with another Content-Type: %d %s", status, body)
	}
	get := presign("get_object", "data/hello world.txt", nil)
	if status, body := send(t, http.MethodGet, get, nil, ""); status != 200 || body != "hello" {
		t.Fatalf("GET: %d %q", status, body)
	}
	tampered := strings.Replace(get, "Signature=", "Signature=AAAA", 1)
	status, body := send(t, http.MethodGet, tampered, nil, "")
	if e := parseS3Err(t, body); status != 403 || e.Code != "SignatureDoesNotMatch" ||
		!strings.HasSuffix(e.StringToSign, "\n/uploadonce/data/hello%20world.txt") {
		t.Fatalf("tampered GET: %d %+v", status, e)
	}
	head := presign("head_object", "data/typed.txt", nil)
	if status, body := send(t, http.MethodHead, head, nil, ""); status != 200 {
		t.Fatalf("HEAD: %d %q", status, body)
	}
	del := presign("delete_object", "data/typed.txt", nil)
	if status, body := send(t, http.MethodDelete, del, nil, ""); status != 204 {
		t.Fatalf("DELETE: %d %q", status, body)
	}
	if status, _ := send(t, http.MethodHead, head, nil, ""); status != 404 {
		t.Fatalf("HEAD after DELETE: %d", status)
	}
	// Expires is the wall clock plus 30 s; the virtual clock started a few
	// seconds before the URLs were signed, so 5 min is past them.
	advanceClock(t, base, "5m")
	for _, u := range []struct{ method, url string }{{http.MethodGet, get}, {http.MethodPut, put}} {
		status, body := send(t, u.method, u.url, nil, "late")
		if e := parseS3Err(t, body); status != 403 || e.Code != "AccessDenied" || e.Message != "Request has expired" {
			t.Fatalf("expired %s: %d %+v", u.method, status, e)
		}
	}
}

// --sigv2 refuse behaves as a SigV4-only bucket: boto3's default grants get
// 400 InvalidRequest, while boto3's SigV4 ones and the issue API's work.
func TestSigV2Refuse(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k", "--sigv2", "refuse")
	const msg = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
	var p presignedPost
	boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1",
		"bucket": "uploadonce", "key": "data/v2"}, &p)
	a := boto3Post(t, py, base, p, "x")[0]
	if e := parseS3Err(t, a.Body); a.Status != 400 || e.Code != "InvalidRequest" || e.Message != msg {
		t.Fatalf("SigV2 POST: %d %+v", a.Status, e)
	}
	var u struct{ URL string }
	boto3Run(t, py, boto3Req{"op": "presign_url", "endpoint": base, "region": "us-east-1",
		"bucket": "uploadonce", "key": "data/v2", "method": "get_object"}, &u)
	status, body := send(t, http.MethodGet, u.URL, nil, "")
	if e := parseS3Err(t, body); status != 400 || e.Code != "InvalidRequest" || e.Message != msg {
		t.Fatalf("SigV2 GET: %d %+v", status, e)
	}
	var p4 presignedPost
	boto3Run(t, py, boto3Req{"op": "presign_post", "endpoint": base, "region": "us-east-1", "sigv": "s3v4",
		"bucket": "uploadonce", "key": "data/v4"}, &p4)
	if a := boto3Post(t, py, base, p4, "x")[0]; a.Status != 204 {
		t.Fatalf("SigV4 POST under refuse: %d %s", a.Status, a.Body)
	}
	key := issuedKey(t, base)
	if !strings.HasPrefix(key, "uploads/") {
		t.Fatalf("issued key %q", key)
	}
}

// The AWS CLI (v1) presigns with SigV2 by default too.
func TestAWSCLIPresignSigV2(t *testing.T) {
	aws := requireTool(t, "aws", "--version")
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	if status, body := send(t, http.MethodPut, presignedPutForTest(t, base), nil, "cli"); status != 200 {
		t.Fatalf("seed PUT: %d %s", status, body)
	}
	cmd := exec.Command(aws, "--endpoint-url", base, "s3", "presign", "s3://uploadonce/data/cli.txt", "--expires-in", "60")
	cmd.Env = awsEnv("uploadonce-secret")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws s3 presign: %v\n%s", err, out)
	}
	u := strings.TrimSpace(string(out))
	if !strings.Contains(u, "AWSAccessKeyId=uploadonce") || !strings.Contains(u, "Expires=") {
		t.Fatalf("not a SigV2 URL: %s", u)
	}
	if status, body := send(t, http.MethodGet, u, nil, ""); status != 200 || body != "cli" {
		t.Fatalf("GET %s: %d %q", u, status, body)
	}
}

// presignedPutForTest is boto3's SigV4 presigned PUT of data/cli.txt, so
// that the SigV4 query path is exercised beside the SigV2 one.
func presignedPutForTest(t *testing.T, base string) string {
	t.Helper()
	py := requireBoto3(t)
	var u struct{ URL string }
	boto3Run(t, py, boto3Req{"op": "presign_url", "endpoint": base, "region": "us-east-1", "sigv": "s3v4",
		"bucket": "uploadonce", "key": "data/cli.txt", "method": "put_object"}, &u)
	if !strings.Contains(u.URL, "X-Amz-Signature=") {
		t.Fatalf("not a SigV4 URL: %s", u.URL)
	}
	return u.URL
}

func TestSigV2FlagBadValueExit2(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--sigv2", "sometimes"}, &out, &errOut)
	if code := exitCode(err, &errOut); code != exitBadUsage || !strings.Contains(err.Error(), "-sigv2") {
		t.Fatalf("exit %d (%v), want 2 naming --sigv2", code, err)
	}
}
