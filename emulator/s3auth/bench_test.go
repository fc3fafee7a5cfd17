package s3auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func BenchmarkVerifyPresigned(b *testing.B) {
	v := testVerifier()
	raw, hdr := presignPut(b, "uploads/bench file.txt", presignOpts{ifNoneMatch: true})
	r := serverRequest(http.MethodPut, raw, hdr, nil)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyPresigned(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPost(b *testing.B) {
	v := testVerifier()
	_, vals := presignPost(b, "uploads/bench", nil, time.Minute)
	fields := map[string]string{}
	for k, val := range vals {
		fields[strings.ToLower(k)] = val
	}
	form := &PostForm{Fields: fields}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyPost(form, testBucket, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHeader(b *testing.B) {
	v := testVerifier()
	var captured *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		captured = r.Clone(context.Background())
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := sdkClient(srv.URL, testAKID, testSecret, DefaultRegion, nil)
	if _, err := c.PutObject(context.Background(), putInput("uploads/bench", "hello")); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyHeader(captured, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPresignedV2(b *testing.B) {
	v := testVerifier()
	path := "/" + testBucket + "/uploads/bench%20file.txt"
	r := httptest.NewRequest(http.MethodPut, v2URL(path, "PUT\n\n\n1800000030\n"+path, testSecret, "1800000030", ""), nil)
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyPresigned(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPostV2(b *testing.B) {
	v := testVerifier()
	form := &PostForm{Fields: v2PostFields("uploads/bench", time.Unix(1_800_000_060, 0))}
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyPost(form, testBucket, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePolicy decodes the policy an SDK presigned POST carries,
// with DecodePolicy and with the encoding/json decoder it replaced.
func BenchmarkDecodePolicy(b *testing.B) {
	_, vals := presignPost(b, "uploads/bench", nil, time.Minute)
	policy := vals["Policy"]
	if policy == "" {
		policy = vals["policy"]
	}
	for _, d := range []struct {
		name   string
		decode func(string) (*Policy, error)
	}{{"onepass", DecodePolicy}, {"encoding-json", decodePolicyStd}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.decode(policy); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
