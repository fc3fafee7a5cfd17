package s3auth

import (
	"net/http"
	"net/url"
	"testing"
)

// FuzzClassifyQueryAgrees checks hasQueryAuth against url.ParseQuery: a
// query is presigned when it names one of the signature parameters.
func FuzzClassifyQueryAgrees(f *testing.F) {
	for _, q := range []string{"X-Amz-Signature=1", "x-amz-signature=1", "a=1&Signature", "X-Amz-%53ignature=1",
		"AWSAccessKeyId;=1", "uploads", "versionId=3&X-Amz-Credential", "+Signature=1", "X-Amz-Algorithm=AWS4-HMAC-SHA256&a;b"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		want := false
		for _, name := range queryAuthParams {
			want = want || q.Has(name)
		}
		if got := hasQueryAuth(raw); got != want {
			t.Fatalf("hasQueryAuth(%q) = %v, url.ParseQuery says %v", raw, got, want)
		}
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{RawQuery: raw}, Header: http.Header{}}
		if (Classify(r) == AuthQuery) != want {
			t.Fatalf("Classify(%q) = %v", raw, Classify(r))
		}
	})
}
