package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// stack is an `uploadonce serve` run as a separate process: the test
// binary re-executed as main (see TestMain).
type stack struct {
	api, s3 string // the issue API's URL and the S3 endpoint
	key     string
}

var apiURLLine = regexp.MustCompile(`API URL\s+(http://\S+)/Prod/getpresignedurl`)

// serveProcess starts serve with args and stops it when the test ends.
func serveProcess(t *testing.T, args ...string) stack {
	t.Helper()
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--api-key", "k", "--log-level", "warn", "--log-format", "json"}, args...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "UPLOADONCE_BE_MAIN=1", "UPLOADONCE_ARGS="+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := apiURLLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case base, ok := <-found:
		if !ok {
			t.Fatal("serve exited before printing its API URL")
		}
		return stack{api: base + "/Prod/getpresignedurl", s3: base, key: "k"}
	case <-time.After(60 * time.Second):
		t.Fatal("serve printed no API URL")
	}
	return stack{}
}

// sdkEnv gives the SDK's default chain serve's credentials and nothing
// else: no profile files, no instance role.
func sdkEnv(t *testing.T, withCredentials bool) {
	for k, v := range map[string]string{"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "",
		"AWS_DEFAULT_REGION": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": ""} {
		t.Setenv(k, v)
	}
	id, secret := "", ""
	if withCredentials {
		id, secret = "uploadonce", "uploadonce-secret"
	}
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
}

// targetArgs aims loadtest at st.
func (st stack) targetArgs(extra ...string) []string {
	return append([]string{"--target", st.api, "--api-key", st.key, "--bucket", "uploadonce", "--region", "us-east-1",
		"--s3-endpoint", st.s3}, extra...)
}

// s3Client is the test's own view of st's bucket.
func (st stack) s3Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.s3), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("uploadonce", "uploadonce-secret", "")})
}

// countObjects counts the objects under prefix.
func (st stack) countObjects(t *testing.T, prefix string) int {
	t.Helper()
	out, err := st.s3Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("uploadonce"),
		Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Contents)
}

// events returns how many S3 events serve delivered.
func (st stack) events(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(st.s3 + "/_uploadonce/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestTargetCAS: the load reaches a separate serve only through the issue
// API and S3; cas holds, judged on the decision log bin/lambda writes; the
// report has what a local run's has, memcached counts unknown; the run's
// objects are gone afterwards, the decision log stays.
func TestTargetCAS(t *testing.T) {
	bin, err := buildLambda()
	if err != nil {
		t.Fatal(err)
	}
	sdkEnv(t, true)
	st := serveProcess(t, "--strategy", "cas", "--memcached", "embedded", "--verify-function", bin,
		"--function-env", "DECISION_LOG_PREFIX=_decisions/")
	code, r, out := loadReport(t, context.Background(), st.targetArgs("--decision-log-prefix", "_decisions/", "--strategy", "cas",
		"--urls", "60", "--duplicates", "3", "--delayed", "0")...)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if gt := r["ground_truth"].(map[string]any)["source"]; gt != "decision log s3://uploadonce/_decisions/" {
		t.Errorf("ground_truth.source %v", gt)
	}
	if c := r["counts"].(map[string]any); c["accepted"] != 60.0 || c["rejected"] != 120.0 {
		t.Errorf("counts %v, want 60 accepted and 120 rejected", c)
	}
	if k := r["memcached"].(map[string]any)["kind"]; k != "remote" {
		t.Errorf("memcached.kind %v, want remote", k)
	}
	ops := r["ops_per_upload"].(map[string]any)
	if ops["memcached"] != "unknown" || ops["s3_requests"].(float64) < 1 {
		t.Errorf("ops_per_upload %v: want memcached unknown and at least the client's S3 request per upload", ops)
	}
	lat := r["latency_ms"].(map[string]any)["upload"].(map[string]any)
	if lat["p50"].(float64) <= 0 || r["throughput"].(map[string]any)["uploads_per_s"].(float64) <= 0 ||
		r["cost_usd_per_million"].(map[string]any)["total"].(float64) <= 0 {
		t.Errorf("latency %v, throughput %v, cost %v", lat, r["throughput"], r["cost_usd_per_million"])
	}
	if !strings.Contains(out, "will cost about $") {
		t.Errorf("no preflight cost:\n%s", out)
	}
	if n, m := st.countObjects(t, "uploads/"), st.countObjects(t, "accepted/"); n+m != 0 {
		t.Errorf("%d uploads and %d accepted objects left behind", n, m)
	}
	if st.countObjects(t, "_decisions/") == 0 {
		t.Error("the decision log was removed: it is the stack's")
	}
}

// TestTargetGetDeleteCaught: get-delete's race is caught with either
// ground truth, and without any the report says double_accept is unknown.
func TestTargetGetDeleteCaught(t *testing.T) {
	bin, err := buildLambda()
	if err != nil {
		t.Fatal(err)
	}
	sdkEnv(t, true)
	load := []string{"--strategy", "get-delete", "--urls", "100", "--duplicates", "4", "--delayed", "0", "--concurrency", "32"}
	for _, tc := range []struct {
		name        string
		serve, load []string
		source      string
	}{
		{"decision log", []string{"--verify-function", bin, "--function-env", "DECISION_LOG_PREFIX=_decisions/"},
			[]string{"--decision-log-prefix", "_decisions/"}, "decision log s3://uploadonce/_decisions/"},
		{"accepted versions", []string{"--versioned-bucket"}, nil, "accepted versions s3://uploadonce/accepted"},
		{"neither", nil, []string{"--keep-objects"}, "accepted objects s3://uploadonce/accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := serveProcess(t, append([]string{"--strategy", "get-delete", "--memcached", "embedded"}, tc.serve...)...)
			code, r, out := loadReport(t, context.Background(), st.targetArgs(append(tc.load, load...)...)...)
			if gt := r["ground_truth"].(map[string]any)["source"]; gt != tc.source {
				t.Errorf("ground_truth.source %v, want %s", gt, tc.source)
			}
			da := r["violations"].(map[string]any)["double_accept"]
			if tc.name == "neither" {
				if code != exitFailed || da != "unknown" || r["verdict"] != "inconclusive" {
					t.Fatalf("exit %d, double_accept %v, verdict %v; want 1, unknown, inconclusive\n%s", code, da, r["verdict"], out)
				}
				if n := st.countObjects(t, "accepted/"); n != 100 {
					t.Errorf("--keep-objects: %d accepted objects left, want 100", n)
				}
				return
			}
			if n, ok := da.(float64); code != exitFailed || !ok || n == 0 {
				t.Fatalf("exit %d, double_accept %v; want 1 and > 0\n%s", code, da, out)
			}
		})
	}
}

// TestTargetPreflight: each bad target exits 2 within seconds, saying
// which check failed, and sends no upload.
func TestTargetPreflight(t *testing.T) {
	st := serveProcess(t, "--strategy", "cas", "--memcached", "embedded")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name  string
		creds bool
		args  []string
		want  string
	}{
		{"wrong key", true, []string{"--target", st.api, "--api-key", "nope", "--bucket", "uploadonce", "--region", "us-east-1", "--s3-endpoint", st.s3}, "API key: the issue API"},
		{"unreachable endpoint", true, []string{"--target", dead + "/Prod/getpresignedurl", "--api-key", "k", "--bucket", "uploadonce", "--region", "us-east-1", "--s3-endpoint", st.s3}, "issue API: cannot reach"},
		{"unknown bucket", true, []string{"--target", st.api, "--api-key", "k", "--bucket", "nosuch", "--region", "us-east-1", "--s3-endpoint", st.s3}, "bucket: nosuch does not exist"},
		{"missing credentials", false, st.targetArgs(), "AWS credentials: the default chain"},
		{"wrong region", true, []string{"--target", st.api, "--api-key", "k", "--bucket", "uploadonce", "--region", "eu-west-1", "--s3-endpoint", st.s3}, "region: bucket uploadonce is not in eu-west-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdkEnv(t, tc.creds)
			start := time.Now()
			code, _, stderr := runCLI(t, append([]string{"loadtest", "--urls", "5", "--delayed", "0"}, tc.args...)...)
			if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tc.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if n := st.events(t); n != 0 {
				t.Errorf("%d uploads reached the stack", n)
			}
		})
	}
}

// TestTargetRefusals: --target refuses faults, flags of a stack it does
// not start, and a stack off loopback without --yes.
func TestTargetRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "http://127.0.0.1:1/Prod/getpresignedurl", "--bucket", "b", "--fault", "memcached-restart@1s"}, "faults need control of the stack"},
		{[]string{"--target", "http://127.0.0.1:1/Prod/getpresignedurl", "--bucket", "b", "--memcached", "embedded"}, "--memcached configures a stack uploadonce starts"},
		{[]string{"--target", "https://example.execute-api.us-east-1.amazonaws.com/Prod/getpresignedurl", "--bucket", "b"}, "is not on loopback"},
		{[]string{"--bucket", "b"}, "--bucket needs --target"},
	} {
		code, _, stderr := runCLI(t, append([]string{"loadtest"}, tc.args...)...)
		if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestTargetInterrupted: delayed uploads wait on real time; a run cut
// short exits 3 with a partial report, soon, and leaves no object behind.
func TestTargetInterrupted(t *testing.T) {
	sdkEnv(t, true)
	st := serveProcess(t, "--strategy", "cas", "--memcached", "embedded")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	code, r, out := loadReport(t, ctx, st.targetArgs("--strategy", "cas", "--urls", "5", "--duplicates", "2", "--delayed", "1")...)
	if code != exitInterrupted || r["verdict"] != "partial" {
		t.Fatalf("exit %d, verdict %v; want 3, partial\n%s", code, r["verdict"], out)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("took %v after the cut", d)
	}
	if n := st.countObjects(t, "uploads/") + st.countObjects(t, "accepted/"); n != 0 {
		t.Errorf("%d objects left", n)
	}
}
