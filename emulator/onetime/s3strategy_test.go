package onetime_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// versionedObjects lists fixed versions, oldest first.
type versionedObjects struct {
	*memObjects
	versions []onetime.ObjectInfo
	err      error
}

func (v versionedObjects) Versions(context.Context, string, string) ([]onetime.ObjectInfo, error) {
	return v.versions, v.err
}

func TestVersioningStrategy(t *testing.T) {
	two := []onetime.ObjectInfo{{VersionID: "v1"}, {VersionID: "v2"}}
	for _, tc := range []struct {
		name     string
		versions []onetime.ObjectInfo
		listErr  error
		version  string
		accept   bool
		reason   onetime.Reason
		infra    bool
	}{
		{name: "the oldest version wins, copied by id", versions: two, version: "v1", accept: true, reason: onetime.ReasonOldestVersion},
		{name: "a later version loses", versions: two, version: "v2", reason: onetime.ReasonNotOldestVersion},
		{name: "all versions removed: the event's was rejected before", version: "v2", reason: onetime.ReasonNotOldestVersion},
		{name: "an event without a versionId: the bucket is not versioned", versions: two, infra: true},
		{name: "listing fails: no verdict", listErr: errS3Down, version: "v1", infra: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := onetime.NewS3Strategy(onetime.Versioning, versionedObjects{memObjects: newMemObjects(nil), versions: tc.versions, err: tc.listErr})
			if err != nil || s.Name() != onetime.Versioning || s.Register(context.Background(), onetime.Token{Key: "uploads/k"}) != nil {
				t.Fatalf("strategy %v, %v", s, err)
			}
			v, err := s.Claim(context.Background(), onetime.Upload{Key: "uploads/k", VersionID: tc.version})
			if (err != nil) != tc.infra || v.Accept != tc.accept || v.Reason != tc.reason {
				t.Fatalf("claim %+v, %v", v, err)
			}
			if tc.listErr != nil && !errors.Is(err, tc.listErr) {
				t.Fatalf("error %v does not wrap the listing's", err)
			}
			if tc.accept && v.CopyVersionID != tc.version {
				t.Fatalf("copy version %q, want %q", v.CopyVersionID, tc.version)
			}
		})
	}
}

func TestIfNoneMatchStrategy(t *testing.T) {
	s, err := onetime.NewS3Strategy(onetime.IfNoneMatch, newMemObjects(nil))
	if err != nil || s.Name() != onetime.IfNoneMatch || s.Register(context.Background(), onetime.Token{}) != nil {
		t.Fatalf("strategy %v, %v", s, err)
	}
	// S3 let only one PUT through: every event is that upload. The source
	// stays, so that the key stays taken for the URL's other PUTs.
	v, err := s.Claim(context.Background(), onetime.Upload{Key: "uploads/k", ETag: "e"})
	if err != nil || v != (onetime.Verdict{Accept: true, Reason: onetime.ReasonConditionalWrite, IfMatch: "e", KeepSource: true}) {
		t.Fatalf("claim %+v, %v", v, err)
	}
}

// fakePresigner records what it was asked to sign.
type fakePresigner struct {
	calls string
	err   error
}

func (f *fakePresigner) PresignPost(_ context.Context, bucket, key string, expires time.Duration) (onetime.PresignedPost, error) {
	f.calls += "post " + bucket + " " + key + " " + expires.String() + ";"
	return onetime.PresignedPost{URL: "http://s3/" + bucket, Fields: map[string]string{"key": key}}, f.err
}

func (f *fakePresigner) PresignPut(_ context.Context, bucket, key string, expires time.Duration, ifNoneMatch bool) (onetime.PresignedPut, error) {
	h := http.Header{}
	if ifNoneMatch {
		h.Set("If-None-Match", "*")
	}
	f.calls += "put " + bucket + " " + key + " " + expires.String() + ";"
	return onetime.PresignedPut{URL: "http://s3/" + bucket + "/" + key, Headers: h}, f.err
}

// tokens records registered tokens and can fail.
type tokens struct {
	got []onetime.Token
	err error
}

func (s *tokens) Name() string { return "tokens" }
func (s *tokens) Register(_ context.Context, t onetime.Token) error {
	s.got = append(s.got, t)
	return s.err
}
func (s *tokens) Claim(context.Context, onetime.Upload) (onetime.Verdict, error) {
	return onetime.Verdict{}, nil
}

func TestIssuer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	t.Run("defaults: POST, 30 s URL, 15 min token, uploads/", func(t *testing.T) {
		st, p := &tokens{}, &fakePresigner{}
		is := &onetime.Issuer{Strategy: st, Presigner: p, Clock: &testClock{now: now}, Bucket: "b"}
		g, err := is.Issue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !keyShape.MatchString(g.Key) || g.Method != onetime.MethodPOST || g.URL != "http://s3/b" || g.Fields["key"] != g.Key || g.Headers != nil {
			t.Fatalf("grant %+v", g)
		}
		if !g.Issued.Equal(now) || !g.Expires.Equal(now.Add(30*time.Second)) || !g.Deadline.Equal(now.Add(15*time.Minute)) {
			t.Fatalf("times %v %v %v", g.Issued, g.Expires, g.Deadline)
		}
		if len(st.got) != 1 || st.got[0] != (onetime.Token{Bucket: "b", Key: g.Key, Issued: now, Deadline: g.Deadline}) {
			t.Fatalf("registered %+v", st.got)
		}
		if p.calls != "post b "+g.Key+" 30s;" {
			t.Fatalf("presigner calls %q", p.calls)
		}
	})
	t.Run("PUT with If-None-Match and its own prefix, expiry and TTL", func(t *testing.T) {
		st, p := &tokens{}, &fakePresigner{}
		is := &onetime.Issuer{Strategy: st, Presigner: p, Clock: &testClock{now: now}, Bucket: "b", Prefix: "in/",
			URLExpiry: time.Minute, TokenTTL: time.Hour, Method: onetime.MethodPUT, IfNoneMatch: true,
			Rand: bytes.NewReader(bytes.Repeat([]byte{0}, 64))}
		g, err := is.Issue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if g.Key != "in/UploadFilename-20231114_221320-"+strings.Repeat("A", onetime.RandomChars) || g.Method != onetime.MethodPUT ||
			g.Headers.Get("If-None-Match") != "*" || g.Fields != nil || !g.Expires.Equal(now.Add(time.Minute)) || !g.Deadline.Equal(now.Add(time.Hour)) {
			t.Fatalf("grant %+v", g)
		}
		if p.calls != "put b "+g.Key+" 1m0s;" {
			t.Fatalf("presigner calls %q", p.calls)
		}
	})
	for _, tc := range []struct {
		name    string
		is      onetime.Issuer
		regs    int
		wantErr string
	}{
		{"register fails: no URL", onetime.Issuer{Strategy: &tokens{err: errDown}, Presigner: &fakePresigner{}}, 1, "register token"},
		{"POST presign fails", onetime.Issuer{Strategy: &tokens{}, Presigner: &fakePresigner{err: errS3Down}}, 1, errS3Down.Error()},
		{"PUT presign fails", onetime.Issuer{Strategy: &tokens{}, Presigner: &fakePresigner{err: errS3Down}, Method: onetime.MethodPUT}, 1, errS3Down.Error()},
		{"no randomness: nothing registered", onetime.Issuer{Strategy: &tokens{}, Presigner: &fakePresigner{}, Rand: bytes.NewReader(nil)}, 0, "random"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := tc.is
			is.Clock = &testClock{now: now}
			g, err := is.Issue(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || g.URL != "" {
				t.Fatalf("grant %+v, err %v; want an error with %q", g, err, tc.wantErr)
			}
			if n := len(is.Strategy.(*tokens).got); n != tc.regs {
				t.Fatalf("%d tokens registered, want %d", n, tc.regs)
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]onetime.Method{"post": onetime.MethodPOST, "put": onetime.MethodPUT, "PUT": "", "": "", "get": ""} {
		got, err := onetime.ParseMethod(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseMethod(%q) = %q, %v", in, got, err)
		}
	}
}
