package fakes3_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPostSuccessActions: success_action_redirect answers 303 to the URL
// with bucket, key and etag; success_action_status=201 answers a
// PostResponse with absolute Location (RESTObjectPOST).
func TestPostSuccessActions(t *testing.T) {
	h := newHarness(t, false)
	presign := func(key string, fields map[string]string) (string, map[string]string) {
		t.Helper()
		var conds []any
		for k, v := range fields {
			conds = append(conds, map[string]string{k: v})
		}
		out, err := s3.NewPresignClient(h.client).PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
			func(o *s3.PresignPostOptions) { o.Expires = time.Minute; o.Conditions = conds })
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			out.Values[k] = v
		}
		return out.URL, out.Values
	}
	// Do not follow the redirect: the test reads it.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	old := http.DefaultClient
	http.DefaultClient = noFollow
	t.Cleanup(func() { http.DefaultClient = old })

	u, f := presign("uploads/r 1", map[string]string{"success_action_redirect": "http://app.test/done?from=form"})
	st, b, hdr := postForm(t, u, f, []byte("hello"))
	if st != http.StatusSeeOther {
		t.Fatalf("redirect POST = %d %s", st, b)
	}
	loc, err := url.Parse(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Host != "app.test" || loc.Path != "/done" || q.Get("from") != "form" || q.Get("bucket") != bucket ||
		q.Get("key") != "uploads/r 1" || q.Get("etag") != `"5d41402abc4b2a76b9719d911017c592"` {
		t.Fatalf("Location = %s", hdr.Get("Location"))
	}

	// A value that is not a URL is ignored, as S3 does: 204.
	u, f = presign("uploads/r2", map[string]string{"success_action_redirect": "not a url"})
	if st, b, _ := postForm(t, u, f, []byte("hello")); st != http.StatusNoContent {
		t.Fatalf("bad redirect POST = %d %s, want 204", st, b)
	}

	u, f = presign("uploads/c 1", map[string]string{"success_action_status": "201"})
	st, b, hdr = postForm(t, u, f, []byte("hello"))
	if st != http.StatusCreated {
		t.Fatalf("201 POST = %d %s", st, b)
	}
	want := h.url + "/" + bucket + "/uploads/c%201"
	var pr struct {
		Location, Bucket, Key, ETag string
	}
	if err := xml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	if hdr.Get("Location") != want || pr.Location != want || pr.Key != "uploads/c 1" || pr.Bucket != bucket || pr.ETag != `"5d41402abc4b2a76b9719d911017c592"` {
		t.Fatalf("201: Location header %q, body %+v, want %s", hdr.Get("Location"), pr, want)
	}
}
