package fakes3

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// TestReadCompletion: the part list gives S3's multipart ETag and the
// parts' checksums, and the body is left whole for gofakes3; a body over
// the bound, or not XML, is MalformedXML.
func TestReadCompletion(t *testing.T) {
	const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Part><PartNumber>1</PartNumber><ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag><ChecksumCRC32>AAAAAQ==</ChecksumCRC32></Part>` +
		`<Part><PartNumber>2</PartNumber><ETag>92eb5ffee6ae2fec3ad71c777531578f</ETag><ChecksumCRC32>AAAAAg==</ChecksumCRC32></Part>` +
		`</CompleteMultipartUpload>`
	r := httptest.NewRequest("POST", "/b/k?uploadId=x", strings.NewReader(body))
	c, err := readCompletion(r)
	if err != nil {
		t.Fatal(err)
	}
	// md5(md5("a") || md5("b")), as S3 computes it.
	if c.etag != "96e024ba2074fe77e8e965ba43a704be-2" || c.parts != 2 {
		t.Errorf("etag %s, parts %d", c.etag, c.parts)
	}
	if got := c.sums["x-amz-checksum-crc32"]; len(got) != 2 || got[0] != "AAAAAQ==" || got[1] != "AAAAAg==" {
		t.Errorf("part checksums %v", c.sums)
	}
	if left, _ := io.ReadAll(r.Body); string(left) != body {
		t.Errorf("body left for gofakes3: %q", left)
	}
	for name, b := range map[string]string{
		"too large": "<CompleteMultipartUpload>" + strings.Repeat(" ", maxCompleteBody) + "</CompleteMultipartUpload>",
		"not xml":   "<CompleteMultipartUpload><Part>",
		"no parts":  "<CompleteMultipartUpload></CompleteMultipartUpload>",
	} {
		_, err := readCompletion(httptest.NewRequest("POST", "/b/k?uploadId=x", bytes.NewReader([]byte(b))))
		var se *s3auth.Error
		if !errors.As(err, &se) || se.Code != "MalformedXML" || se.Status != 400 {
			t.Errorf("%s: %v, want 400 MalformedXML", name, err)
		}
	}
}
