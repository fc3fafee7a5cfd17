package s3auth

import (
	"context"
	"net/http"
	"time"

	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// canonicalQueryStd reads the query with url.ParseQuery, the oracle of
// FuzzCanonicalQueryAgrees for which pairs count and how they are encoded.
// The version canonicalQuery replaced sorted whole "name=value" strings,
// which puts "a-b=1" before "a=2"; SigV4 sorts by name, then value.
func canonicalQueryStd(raw string) string {
	q, _ := url.ParseQuery(raw)
	q.Del("X-Amz-Signature")
	pairs := make([][2]string, 0, len(q))
	for k, vals := range q {
		for _, v := range vals {
			pairs = append(pairs, [2]string{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&")
}

// TestPresignedQueryOrderedByName: a URL presigned by the SDK's signer with
// parameters where one name is a prefix of another ("a", "a-b", "a.b")
// verifies. Sorting whole "name=value" strings put "a-b=1" before "a=2"
// and refused it.
func TestPresignedQueryOrderedByName(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+testHost+"/"+testBucket+"/k?a=2&a-b=1&a.b=3&a=0", nil)
	now := time.Now().UTC()
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "60")
	req.URL.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", DefaultRegion, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := testVerifier().VerifyPresigned(serverRequest(http.MethodGet, signed, hdr, nil), now); err != nil {
		t.Fatalf("%s: %v", signed, err)
	}
}

func FuzzCanonicalQueryAgrees(f *testing.F) {
	for _, q := range []string{
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=30&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&x-id=PutObject",
		"a=1&a=0&b&=x&c=%zz&d;e=1&f=a;b&g=+%20&versionId=", "a-b=1&a=2&a.b=3&A=4", "&&", "k=%E2%82%AC~",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, want := canonicalQuery(raw), canonicalQueryStd(raw); got != want {
			t.Fatalf("canonicalQuery(%q)\n got %q\nwant %q", raw, got, want)
		}
	})
}
