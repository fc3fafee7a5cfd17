package s3auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// countingReader counts what a parser took from a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// repeatReader yields head, then body repeated until size bytes in all,
// then tail, without ever holding them.
func repeatReader(head string, body byte, size int64, tail string) io.Reader {
	return io.MultiReader(strings.NewReader(head), io.LimitReader(byteReader(body), size), strings.NewReader(tail))
}

type byteReader byte

func (b byteReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// emptyFields yields n parts with empty values and one-byte names, the
// anonymous 142 MB flood of issue 16, generated as it is read.
type emptyFields struct {
	left int
	off  int // into the current part
}

func (e *emptyFields) Read(p []byte) (int, error) {
	const part = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n"
	n := 0
	for e.left > 0 && n < len(p) {
		c := copy(p[n:], part[e.off:])
		n += c
		if e.off += c; e.off == len(part) {
			e.off = 0
			e.left--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func streamRequest(body io.Reader, contentLength int64) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+testHost+"/"+testBucket, body)
	r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	r.ContentLength = contentLength
	return r
}

func TestFieldNamesCountTowardTheLimit(t *testing.T) {
	// 2,100 fields of 10-byte names and empty values: 21,000 bytes of
	// names, nothing in values, over the 20 KiB limit.
	var fields []formPart
	fields = append(fields, formPart{"key", "k"})
	for i := range 2100 {
		fields = append(fields, formPart{fmt.Sprintf("x-ig-%05d", i), ""})
	}
	ct, body := multipartBody(t, fields, "f", []byte("x"), nil)
	_, err := ParsePostForm(postRequest(ct, body), 0)
	if got := code(t, err); got != CodeMaxPostPreDataLengthExceeded {
		t.Fatalf("ParsePostForm = %v, want %s", err, CodeMaxPostPreDataLengthExceeded)
	}
	// The same names within the limit pass: 1,900 of them.
	ct, body = multipartBody(t, fields[:1900], "f", []byte("x"), nil)
	if _, err := ParsePostForm(postRequest(ct, body), 0); err != nil {
		t.Fatalf("1,900 short fields: %v", err)
	}
}

func TestEmptyFieldFloodIsCutOff(t *testing.T) {
	body := &countingReader{r: &emptyFields{left: 2_000_000}}
	_, err := ParsePostForm(streamRequest(body, -1), 0)
	if got := code(t, err); got != CodeMaxPostPreDataLengthExceeded {
		t.Fatalf("ParsePostForm = %v, want %s", err, CodeMaxPostPreDataLengthExceeded)
	}
	// The parser stopped within the limit plus the slack for part headers,
	// not after the flood's 104 MB.
	if max := int64(DefaultMaxFieldBytes + preambleSlack); body.n > max {
		t.Fatalf("read %d bytes of the flood, want at most %d", body.n, max)
	}
}

func TestHugePartHeaderIsCutOff(t *testing.T) {
	// One field whose part header carries 8 MB: within Go's own 10 MiB
	// header limit, so only the preamble bound stops it early.
	head := "--b\r\nContent-Disposition: form-data; name=\"key\"\r\nX-Pad: "
	body := &countingReader{r: repeatReader(head, 'p', 8<<20, "\r\n\r\nk\r\n--b--\r\n")}
	_, err := ParsePostForm(streamRequest(body, -1), 0)
	if got := code(t, err); got != CodeMaxPostPreDataLengthExceeded {
		t.Fatalf("ParsePostForm = %v, want %s", err, CodeMaxPostPreDataLengthExceeded)
	}
	if max := int64(DefaultMaxFieldBytes + preambleSlack); body.n > max {
		t.Fatalf("read %d bytes of the header, want at most %d", body.n, max)
	}
}

func TestLimitFile(t *testing.T) {
	const head = "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
	const tail = "\r\n--b--\r\n"
	rangePolicy := func(lo, hi int64) *Policy {
		return &Policy{Conditions: []Condition{{Op: OpContentLengthRange, Min: lo, Max: hi}}}
	}
	for _, tc := range []struct {
		name     string
		size     int64
		policy   *Policy
		max      int64
		want     string
		readMost int64 // bytes the parser may take from the body
	}{
		// 200 MB against a 1 KiB policy: refused after 1 KiB and a buffer.
		{"200 MB against 1 KiB", 200 << 20, rangePolicy(0, 1024), 0, CodeEntityTooLarge, 16 << 10},
		// The receiver's own limit is smaller than the policy's.
		{"receiver's limit", 1 << 20, rangePolicy(0, 1<<30), 4096, CodeEntityTooLarge, 16 << 10},
		{"no policy, receiver's limit", 1 << 20, nil, 4096, CodeEntityTooLarge, 16 << 10},
		{"within the range", 2048, rangePolicy(10, 4096), 0, "", 1 << 20},
		{"below the range", 5, rangePolicy(10, 4096), 0, CodeEntityTooSmall, 1 << 20},
		{"no limit at all", 64 << 10, nil, 0, "", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{r: repeatReader(head, 'x', tc.size, tail)}
			total := int64(len(head)) + tc.size + int64(len(tail))
			form, err := ParsePostForm(streamRequest(body, total), 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.Copy(io.Discard, form.LimitFile(tc.policy, tc.max))
			if c := code(t, err); c != tc.want {
				t.Fatalf("read %d bytes, error %v; want %q", got, err, tc.want)
			}
			if tc.want == "" && got != tc.size {
				t.Fatalf("read %d bytes of a %d-byte file", got, tc.size)
			}
			if body.n > tc.readMost {
				t.Fatalf("took %d bytes from the body, want at most %d", body.n, tc.readMost)
			}
			var e *Error
			if tc.want == CodeEntityTooLarge && errors.As(err, &e) && e.Field("ProposedSize") != fmt.Sprint(total) {
				t.Fatalf("ProposedSize %s, want the request's Content-Length %d", e.Field("ProposedSize"), total)
			}
		})
	}
}

func TestLimitFileKeepsTheBytes(t *testing.T) {
	ct, body := multipartBody(t, []formPart{{"key", "k"}}, "f", []byte("hello, file"), nil)
	form, err := ParsePostForm(postRequest(ct, body), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(form.LimitFile(nil, 11))
	if err != nil || !bytes.Equal(got, []byte("hello, file")) {
		t.Fatalf("file = %q, %v", got, err)
	}
}
