package s3auth

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Every fuzz target checks the same contract: no panic, and every error is
// an *Error with a 4xx status.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil || err == io.EOF {
		return
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if e.Status < 400 || e.Status >= 500 {
		t.Fatalf("status %d for %v", e.Status, e)
	}
}

func FuzzDecodePolicy(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2026-01-01T00:00:00Z","conditions":[{"key":"k"},["starts-with","$key",""],["content-length-range",1,"2"]]}`)))
	f.Add("not base64")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := DecodePolicy(s)
		checkErr(t, err)
		if err == nil {
			_ = p.CheckLength(5)
			for _, c := range p.Conditions {
				_ = c.String()
			}
		}
	})
}

func FuzzParsePostForm(f *testing.F) {
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\n"))
	v := testVerifier()
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/b", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=\""+strings.ReplaceAll(boundary, `"`, "")+"\"")
		form, err := ParsePostForm(r, 1024)
		checkErr(t, err)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, form.File)
		_, err = v.VerifyPost(form, "b", time.Unix(0, 0))
		checkErr(t, err)
		_ = Metadata(form)
		_ = form.Key()
	})
}

func FuzzVerifyPresignedQuery(f *testing.F) {
	raw, _ := presignPut(f, "k", presignOpts{})
	u, _ := url.Parse(raw)
	f.Add(u.RawQuery)
	f.Add("X-Amz-Expires=604801")
	f.Add("%zz")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodPut, "http://"+testHost+"/"+testBucket+"/k", nil)
		r.URL.RawQuery = q
		checkErr(t, v.VerifyPresigned(r, time.Now()))
		_ = Classify(r)
	})
}

func FuzzChunkedReader(f *testing.F) {
	f.Add(uint8(3), []byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"))
	f.Add(uint8(1), []byte("3;chunk-signature="+strings.Repeat("a", 64)+"\r\nabc\r\n0;chunk-signature="+strings.Repeat("a", 64)+"\r\n\r\n"))
	f.Add(uint8(0), []byte("ffffffff\r\n"))
	signing := &ChunkSigning{Key: []byte("k"), Date: "20260101T000000Z", Scope: "20260101/us-east-1/s3/aws4_request", Seed: strings.Repeat("0", 64)}
	f.Fuzz(func(t *testing.T, mode uint8, body []byte) {
		opts := ChunkedOptions{DecodedLength: -1, Trailers: []string{"x-amz-checksum-crc32"}}
		if mode&4 != 0 {
			opts.Signing = signing
		}
		if mode&8 != 0 {
			opts.DecodedLength = int64(mode)
		}
		_, err := io.Copy(io.Discard, NewChunkedReader(bytes.NewReader(body), PayloadMode(mode%4), opts))
		checkErr(t, err)
	})
}

// FuzzVerifyPresignedV2 drives the SigV2 query path (AWSAccessKeyId,
// Expires, Signature) and its CanonicalizedResource with any path, query
// and x-amz header.
func FuzzVerifyPresignedV2(f *testing.F) {
	f.Add("GET", "/"+testBucket+"/k", "AWSAccessKeyId="+testAKID+"&Expires=1800000030&Signature=abc%3D&versionId=v%2F1&acl", "")
	f.Add("PUT", "/b/%zz", "Signature=&AWSAccessKeyId=&Expires=-1&uploads=&x-amz-security-token=t", "x")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, method, path, query, amz string) {
		r, err := http.NewRequest(method, "http://"+testHost+"/", nil)
		if err != nil {
			return
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
		r.Header.Set("X-Amz-Meta-F", amz)
		checkErr(t, v.VerifyPresigned(r, time.Unix(1_800_000_000, 0)))
		_ = canonicalResourceV2(r.URL)
	})
}

// FuzzPlainFormNameAgrees: where plainFormName reads a Content-Disposition
// in place, it reads what mime.ParseMediaType (multipart.Part.FormName's
// parser) reads.
func FuzzPlainFormNameAgrees(f *testing.F) {
	for _, v := range []string{`form-data; name="key"`, `form-data; name="x-amz-meta-a b"`, `form-data; name=""`,
		`form-data; name="a"; filename="b"`, `form-data; name="a\"b"`, `form-data; name="é"`, `Form-Data; name="k"`} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		name, ok := plainFormName(v)
		if !ok {
			return
		}
		disp, params, err := mime.ParseMediaType(v)
		if err != nil || disp != "form-data" || params["name"] != name {
			t.Fatalf("plainFormName(%q) = %q; ParseMediaType: %q %q %v", v, name, disp, params["name"], err)
		}
	})
}
