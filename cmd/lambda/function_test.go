package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		EnvHandler: "verify", EnvBucketName: "b", EnvMemcachedEndpoint: "127.0.0.1:11211",
		envRegion: "us-east-1", envAccessKeyID: "id", envSecretKey: "secret",
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     map[string]string
		wantVar string // "" means valid
	}{
		{"defaults", nil, ""},
		{"issue handler", map[string]string{EnvHandler: "issue"}, ""},
		{"unknown handler", map[string]string{EnvHandler: "main"}, EnvHandler},
		{"no handler", map[string]string{EnvHandler: ""}, EnvHandler},
		{"no bucket", map[string]string{EnvBucketName: ""}, EnvBucketName},
		{"prefix without slash", map[string]string{EnvBucketPrefix: "uploads"}, EnvBucketPrefix},
		{"accepted equals prefix", map[string]string{EnvAcceptedPrefix: "uploads/"}, EnvAcceptedPrefix},
		{"decision log inside uploads/", map[string]string{EnvDecisionLogPrefix: "uploads/log/"}, EnvDecisionLogPrefix},
		{"decision log elsewhere", map[string]string{EnvDecisionLogPrefix: "decisions/"}, ""},
		{"unknown strategy", map[string]string{EnvStrategy: "first"}, EnvStrategy},
		{"expiry not a number", map[string]string{EnvURLExpiry: "30s"}, EnvURLExpiry},
		{"expiry above a week", map[string]string{EnvURLExpiry: "604801"}, EnvURLExpiry},
		{"ttl zero", map[string]string{EnvTokenTTL: "0"}, EnvTokenTTL},
		{"method get", map[string]string{EnvUploadMethod: "get"}, EnvUploadMethod},
		{"if-none-match with post", map[string]string{EnvStrategy: "if-none-match", EnvUploadMethod: "post"}, EnvUploadMethod},
		// The S3 strategies keep no tokens, so memcached is not needed.
		{"versioning without memcached", map[string]string{EnvStrategy: "versioning", EnvMemcachedEndpoint: ""}, ""},
		{"cas without memcached", map[string]string{EnvMemcachedEndpoint: ""}, EnvMemcachedEndpoint},
		{"memcached without port", map[string]string{EnvMemcachedEndpoint: "cache.local"}, EnvMemcachedEndpoint},
		{"memcached bad port", map[string]string{EnvMemcachedEndpoint: "a:1,b:99999"}, EnvMemcachedEndpoint},
		{"two memcached nodes", map[string]string{EnvMemcachedEndpoint: "a:1, b:2"}, ""},
		{"hashing rendezvous", map[string]string{EnvMemcachedHashing: "rendezvous"}, ""},
		{"unknown hashing", map[string]string{EnvMemcachedHashing: "crc32"}, EnvMemcachedHashing},
		{"unknown discovery", map[string]string{EnvMemcachedDiscovery: "consul"}, EnvMemcachedDiscovery},
		{"discovery none", map[string]string{EnvMemcachedDiscovery: "none"}, ""},
		// Discovery asks the endpoint at init: one that does not answer
		// fails the init, naming the endpoint.
		{"discovery without an endpoint", map[string]string{EnvMemcachedDiscovery: "elasticache", EnvMemcachedEndpoint: "127.0.0.1:1"},
			EnvMemcachedEndpoint},
		{"no region", map[string]string{envRegion: ""}, envRegion},
		{"no credentials", map[string]string{envAccessKeyID: ""}, envAccessKeyID},
		{"endpoint not a URL", map[string]string{envEndpointS3: "127.0.0.1:4566"}, envEndpointS3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tc.set {
				env[k] = v
			}
			_, err := newFunction(context.Background(), envOf(env), io.Discard)
			if tc.wantVar == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			ce, ok := errors.AsType[*ConfigError](err)
			if !ok || ce.Var != tc.wantVar {
				t.Fatalf("error %v, want a ConfigError naming %s", err, tc.wantVar)
			}
			if !strings.Contains(err.Error(), tc.wantVar) {
				t.Fatalf("message %q does not name %s", err, tc.wantVar)
			}
		})
	}
}

func TestLoadConfigValues(t *testing.T) {
	env := validEnv()
	env[EnvURLExpiry], env[EnvTokenTTL], env[EnvStrategy] = "45", "600", "if-none-match"
	c, err := loadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.URLExpiry != 45*time.Second || c.TokenTTL != 10*time.Minute || c.Method != onetime.MethodPUT ||
		c.Prefix != "uploads/" || c.AcceptedPrefix != "accepted/" || c.MemcachedAddrs != nil {
		t.Fatalf("config %+v", c)
	}
}

func TestReportInitError(t *testing.T) {
	var mu sync.Mutex
	var gotPath, gotType string
	var gotBody map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotPath, gotType = r.URL.Path, r.Header.Get("Lambda-Runtime-Function-Error-Type")
		_ = json.NewDecoder(r.Body).Decode(&gotBody)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	env := validEnv()
	delete(env, EnvBucketName)
	_, initErr := newFunction(context.Background(), envOf(env), io.Discard)
	if err := reportInitError(strings.TrimPrefix(srv.URL, "http://"), initErr); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotPath != "/2018-06-01/runtime/init/error" || gotType != "Runtime.InvalidConfiguration" {
		t.Fatalf("posted to %s with type %q", gotPath, gotType)
	}
	if msg, _ := gotBody["errorMessage"].(string); !strings.Contains(msg, EnvBucketName) {
		t.Fatalf("errorMessage %q does not name %s", msg, EnvBucketName)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestHandlersAgainstEmulator runs both handlers in process against the
// emulator's S3 and memcached, on a bucket of their own so that the
// emulator's in-process verifier sees none of its events.
func TestHandlersAgainstEmulator(t *testing.T) {
	ctx := context.Background()
	r, err := emulator.Start(ctx, emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: "embedded",
		Config: emulator.Config{APIKey: "k", Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	if err := r.S3.CreateBucket("fn", false); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		EnvBucketName: "fn", EnvMemcachedEndpoint: strings.Join(r.Memcached.Addrs(), ","), EnvStrategy: "cas",
		EnvDecisionLogPrefix: "decisions/", envRegion: "us-east-1", envAccessKeyID: "uploadonce",
		envSecretKey: "uploadonce-secret", envEndpointS3: r.URL,
	}
	logs := &syncBuffer{}
	env[EnvHandler] = "issue"
	issuer, err := newFunction(ctx, envOf(env), logs)
	if err != nil {
		t.Fatal(err)
	}
	env[EnvHandler] = "verify"
	verifier, err := newFunction(ctx, envOf(env), logs)
	if err != nil {
		t.Fatal(err)
	}

	resp, err := issuer.issue(ctx, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/getpresignedurl"})
	if err != nil || resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("issue: %+v, %v", resp, err)
	}
	g, err := client.ParseGrant([]byte(resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	if g.Method != "POST" || g.Fields["key"] != g.Key || !strings.HasPrefix(g.Key, "uploads/UploadFilename-") {
		t.Fatalf("grant %+v", g)
	}
	up := client.New(r.URL+"/Prod/getpresignedurl", "k", 2)
	for i := range 2 {
		res, err := up.Upload(ctx, g, []byte("reference file\n"))
		if err != nil || res.Status != 204 {
			t.Fatalf("upload %d: %+v %v", i+1, res, err)
		}
	}
	info, err := onetime.S3Objects{Client: verifier.s3}.Head(ctx, "fn", g.Key)
	if err != nil {
		t.Fatal(err)
	}
	// Two uploads, two events with their own sequencers: one accept.
	for _, seq := range []string{"0A", "0B"} {
		ev := events.S3Event{Records: []events.S3EventRecord{{EventName: "ObjectCreated:Post", S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: "fn"},
			Object: events.S3Object{Key: g.Key, URLDecodedKey: g.Key, ETag: info.ETag, Size: 15, Sequencer: seq}}}}}
		if err := verifier.verify(ctx, ev); err != nil {
			t.Fatalf("verify %s: %v", seq, err)
		}
	}

	var decided []map[string]any
	for _, l := range logs.lines(t) {
		if l["message"] == "decision" {
			decided = append(decided, l)
		}
	}
	if len(decided) != 2 || decided[0]["decision"] != "accepted" || decided[1]["decision"] != "rejected" ||
		decided[1]["reason"] != string(onetime.ReasonTokenConsumed) {
		t.Fatalf("decision lines %v", decided)
	}
	for _, field := range []string{"key", "decision", "reason", "eTag", "versionId", "sequencer", "time"} {
		if _, ok := decided[0][field]; !ok {
			t.Fatalf("decision line lacks %q: %v", field, decided[0])
		}
	}
	if decided[0]["key"] != g.Key || decided[0]["eTag"] != info.ETag || decided[0]["sequencer"] != "0A" {
		t.Fatalf("accepted line %v", decided[0])
	}
	accepted, err := onetime.S3Objects{Client: verifier.s3}.Head(ctx, "fn", "accepted/"+strings.TrimPrefix(g.Key, "uploads/"))
	if err != nil || accepted.ETag != info.ETag {
		t.Fatalf("accepted copy: %+v %v", accepted, err)
	}
	checkDecisionLog(t, verifier.s3, g.Key)
}

// checkDecisionLog reads the decision objects back from S3.
func checkDecisionLog(t *testing.T, c *s3.Client, key string) {
	t.Helper()
	ctx := context.Background()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("fn"), Prefix: aws.String("decisions/")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out.Contents {
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("fn"), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		var d onetime.Decision
		err = json.NewDecoder(obj.Body).Decode(&d)
		obj.Body.Close()
		if err != nil || d.Key != key {
			t.Fatalf("decision object %s: %+v %v", aws.ToString(o.Key), d, err)
		}
		if !strings.HasPrefix(aws.ToString(o.Key), "decisions/"+strings.TrimPrefix(key, "uploads/")+"/") {
			t.Fatalf("decision object key %s", aws.ToString(o.Key))
		}
		got = append(got, d.Decision)
	}
	if strings.Join(got, ",") != "accepted,rejected" {
		t.Fatalf("decision log holds %v, want accepted then rejected", got)
	}
}
