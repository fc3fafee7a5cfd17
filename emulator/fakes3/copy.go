package fakes3

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// copyObject serves CopyObject (PUT with x-amz-copy-source) itself:
// gofakes3 copies the current version whatever versionId says, merges the
// source's metadata into a REPLACE, and answers the source's version id as
// the copy's.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	in, err := parseCopySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	in.DstBucket, in.DstKey = bucket, key
	in.IfMatch = strings.Trim(strings.TrimSpace(r.Header.Get("X-Amz-Copy-Source-If-Match")), `"`)
	if ok, err := s.backend.BucketExists(bucket); err != nil || !ok {
		return errNoSuchBucket(bucket)
	}
	if len(key) > gofakes3.KeySizeLimit {
		return &s3auth.Error{Code: "KeyTooLongError", Message: "Your key is too long", Status: http.StatusBadRequest}
	}
	switch strings.ToUpper(strings.TrimSpace(r.Header.Get("X-Amz-Metadata-Directive"))) {
	case "", "COPY":
		if in.SrcBucket == bucket && in.SrcKey == key && in.SrcVersionID == "" {
			return s3auth.ErrInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
	case "REPLACE":
		carryHeaders(r.Header)
		in.Meta = map[string]string{}
		for name, vals := range r.Header {
			in.Meta[name] = vals[0]
		}
	default:
		return s3auth.ErrInvalidArgument("Unknown metadata directive.", "x-amz-metadata-directive", r.Header.Get("X-Amz-Metadata-Directive"))
	}
	// A copy that asks for a checksum algorithm gets that checksum of the
	// copied bytes in place of the source's; sums is what the copy stored.
	var sums map[string]string
	if alg := r.Header.Get("X-Amz-Checksum-Algorithm"); alg != "" {
		name, err := checksumName(alg)
		if err != nil {
			return err
		}
		in.Checksum = func(body []byte) map[string]string {
			sums = fullObjectChecksum(name, body)
			return sums
		}
	}
	srcVersion, err := s.copySourceVersion(in)
	if err != nil {
		return err
	}
	res, err := s.hooked.copyObject(in)
	if err != nil {
		return err
	}
	if srcVersion != "" {
		w.Header().Set("x-amz-copy-source-version-id", string(srcVersion))
	}
	if res.VersionID != "" {
		w.Header().Set("x-amz-version-id", string(res.VersionID))
	}
	result := copyResult{ETag: `"` + res.ETag() + `"`, LastModified: res.LastModified.UTC().Format("2006-01-02T15:04:05.000Z")}
	result.setChecksum(sums)
	out, err := xml.Marshal(result)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
	return nil
}

type copyResult struct {
	XMLName           xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag              string
	LastModified      string
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// setChecksum names in the answer the checksum a copy computed.
func (c *copyResult) setChecksum(sums map[string]string) {
	c.ChecksumCRC32, c.ChecksumCRC32C = sums["x-amz-checksum-crc32"], sums["x-amz-checksum-crc32c"]
	c.ChecksumCRC64NVME, c.ChecksumSHA1 = sums["x-amz-checksum-crc64nvme"], sums["x-amz-checksum-sha1"]
	c.ChecksumSHA256, c.ChecksumType = sums["x-amz-checksum-sha256"], sums["x-amz-checksum-type"]
}

// checksumName is the x-amz-checksum-* name of an algorithm a request
// names, or S3's 400 InvalidRequest for one it does not have.
func checksumName(alg string) (string, error) {
	name := "x-amz-checksum-" + strings.ToLower(strings.TrimSpace(alg))
	if _, ok := s3auth.NewChecksum(name); !ok {
		return "", s3auth.ErrInvalidRequest("Value for x-amz-checksum-algorithm header is invalid.")
	}
	return name, nil
}

// fullObjectChecksum is the checksum metadata of body under name.
func fullObjectChecksum(name string, body []byte) map[string]string {
	h, _ := s3auth.NewChecksum(name)
	_, _ = h.Write(body)
	return map[string]string{name: base64.StdEncoding.EncodeToString(h.Sum(nil)), "x-amz-checksum-type": "FULL_OBJECT"}
}

// parseCopySource reads x-amz-copy-source: [/]bucket/key[?versionId=id],
// URL-encoded.
func parseCopySource(raw string) (s3store.CopyInput, error) {
	var in s3store.CopyInput
	path, query, _ := strings.Cut(raw, "?")
	decoded, err := url.PathUnescape(path)
	if err != nil {
		return in, s3auth.ErrInvalidArgument("Invalid copy source encoding.", "x-amz-copy-source", raw)
	}
	in.SrcBucket, in.SrcKey, _ = strings.Cut(strings.TrimPrefix(decoded, "/"), "/")
	if in.SrcBucket == "" || in.SrcKey == "" {
		return in, s3auth.ErrInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", "x-amz-copy-source", raw)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || q.Get("versionId") == "" {
			return in, s3auth.ErrInvalidArgument("Invalid copy source version id.", "x-amz-copy-source", raw)
		}
		in.SrcVersionID = gofakes3.VersionID(q.Get("versionId"))
	}
	return in, nil
}

// copySourceVersion returns the version the copy reads, for
// x-amz-copy-source-version-id, and S3's errors for a missing source or a
// delete marker.
func (s *Server) copySourceVersion(in s3store.CopyInput) (gofakes3.VersionID, error) {
	versions, err := s.store.KeyVersions(in.SrcBucket, in.SrcKey)
	if err != nil {
		var ge gofakes3.Error
		if errors.As(err, &ge) && ge.ErrorCode() == gofakes3.ErrNoSuchBucket {
			return "", errNoSuchBucket(in.SrcBucket)
		}
		return "", err
	}
	noKey := &s3auth.Error{Code: "NoSuchKey", Message: s3Messages["NoSuchKey"], Status: http.StatusNotFound,
		Extra: []s3auth.Field{{Name: "Key", Value: in.SrcKey}}}
	if len(versions) == 0 {
		return "", noKey
	}
	if in.SrcVersionID == "" {
		cur := versions[len(versions)-1]
		if cur.DeleteMarker {
			return "", noKey
		}
		return s.versionIDIfVersioned(in.SrcBucket, cur.VersionID), nil
	}
	for _, v := range versions {
		if v.VersionID == in.SrcVersionID {
			if v.DeleteMarker {
				return "", s3auth.ErrInvalidRequest("The source of a copy request may not specifically refer to a delete marker by version id.")
			}
			return v.VersionID, nil
		}
	}
	return "", &s3auth.Error{Code: "NoSuchVersion", Message: s3Messages["NoSuchVersion"], Status: http.StatusNotFound,
		Extra: []s3auth.Field{{Name: "Key", Value: in.SrcKey}, {Name: "VersionId", Value: string(in.SrcVersionID)}}}
}

// versionIDIfVersioned hides the internal id of an unversioned bucket's
// object, which S3 reports as no version.
func (s *Server) versionIDIfVersioned(bucket string, id gofakes3.VersionID) gofakes3.VersionID {
	cfg, err := s.store.VersioningConfiguration(bucket)
	if err != nil || cfg.Status != gofakes3.VersioningEnabled {
		return ""
	}
	return id
}

// deleteMarkerError amends a GET or HEAD that found a delete marker as S3
// answers it: x-amz-delete-marker: true and the marker's version id, with
// 404 NoSuchKey when the marker is current, and 405 MethodNotAllowed when
// the request named the marker's version.
func (s *Server) deleteMarkerError(r *http.Request, e *s3auth.Error, h http.Header) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return
	}
	bucket, key := splitPath(r.URL.Path)
	if key == "" || e.Status != http.StatusNotFound {
		return
	}
	versions, err := s.store.KeyVersions(bucket, key)
	if err != nil || len(versions) == 0 {
		return
	}
	want := gofakes3.VersionID(r.URL.Query().Get("versionId"))
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if want == "" && i == len(versions)-1 || v.VersionID == want {
			if !v.DeleteMarker {
				return
			}
			h.Set("x-amz-delete-marker", "true")
			h.Set("x-amz-version-id", string(v.VersionID))
			if want != "" {
				*e = s3auth.Error{Code: "MethodNotAllowed", Message: s3Messages["MethodNotAllowed"], Status: http.StatusMethodNotAllowed,
					Extra: []s3auth.Field{{Name: "Method", Value: r.Method}, {Name: "ResourceType", Value: "DeleteMarker"}}}
			}
			return
		}
	}
}
