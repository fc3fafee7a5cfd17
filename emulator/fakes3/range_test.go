package fakes3_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRangeAsS3ReadsIt: a Range that is not one well-formed byte range is
// ignored (200, the whole object, no Content-Range), a well-formed one no
// byte satisfies is 416 InvalidRange with S3's elements, and a valid one is
// 206, a suffix longer than the object giving all of it.
func TestRangeAsS3ReadsIt(t *testing.T) {
	h := newHarness(t, false)
	ctx := context.Background()
	const body = "0123456789"
	if _, err := h.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("r"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rng, method  string
		status       int
		want, crange string
	}{
		{"bytes=abc", "GET", 200, body, ""},
		{"items=0-1", "GET", 200, body, ""},
		{"bytes=5-2", "GET", 200, body, ""},
		{"bytes=0-1,4-5", "GET", 200, body, ""},
		{"bytes=-", "GET", 200, body, ""},
		{"bytes=1-x", "HEAD", 200, "", ""},
		{"bytes=2-4", "GET", 206, "234", "bytes 2-4/10"},
		{"bytes=7-", "GET", 206, "789", "bytes 7-9/10"},
		{"bytes=8-99999999999999999999", "GET", 206, "89", "bytes 8-9/10"},
		{"bytes=-3", "GET", 206, "789", "bytes 7-9/10"},
		{"bytes=-100", "GET", 206, body, "bytes 0-9/10"},
		{"bytes=2-4", "HEAD", 206, "", "bytes 2-4/10"},
		{"bytes=100-", "GET", 416, "", ""},
		{"bytes=10-12", "GET", 416, "", ""},
		{"bytes=-0", "GET", 416, "", ""},
		{"bytes=100-", "HEAD", 416, "", ""},
	} {
		req, _ := http.NewRequest(c.method, h.url+"/"+bucket+"/r", nil)
		req.Header.Set("Range", c.rng)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode != c.status:
			t.Errorf("%s %s: %d %s, want %d", c.method, c.rng, resp.StatusCode, got, c.status)
		case c.status == 416 && c.method == "GET":
			if s3Code(t, got) != "InvalidRange" || !strings.Contains(string(got), "<RangeRequested>"+c.rng+"</RangeRequested>") ||
				!strings.Contains(string(got), "<ActualObjectSize>10</ActualObjectSize>") {
				t.Errorf("%s: 416 body %s, want InvalidRange with RangeRequested and ActualObjectSize", c.rng, got)
			}
		case string(got) != c.want || resp.Header.Get("Content-Range") != c.crange:
			t.Errorf("%s %s: body %q Content-Range %q, want %q %q", c.method, c.rng, got, resp.Header.Get("Content-Range"), c.want, c.crange)
		}
	}
	// The SDK reads the whole object for a malformed range, a part for a
	// valid one, and gets InvalidRange for an unsatisfiable one.
	for _, c := range []struct{ rng, want string }{{"bytes=abc", body}, {"bytes=3-5", "345"}} {
		out, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("r"), Range: aws.String(c.rng)})
		if err != nil {
			t.Fatalf("SDK %s: %v", c.rng, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != c.want {
			t.Errorf("SDK %s: %q, want %q", c.rng, got, c.want)
		}
	}
	_, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("r"), Range: aws.String("bytes=100-")})
	if code := apiCode(err); code != "InvalidRange" || httpStatus(err) != 416 {
		t.Errorf("SDK bytes=100-: %v, want 416 InvalidRange", err)
	}
}
