package fakes3

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// Range as S3 reads it (RFC 9110, section 14.2): a header that is not one
// well-formed byte range (another unit, bytes=abc, bytes=5-2, several
// ranges, which S3 does not serve) is ignored and the whole object sent
// with 200; a well-formed one that no byte of the object satisfies gets 416
// InvalidRange. gofakes3 answers 416 to the first kind, 501 to several
// ranges, and 416 to a suffix longer than the object, which RFC 9110 makes
// the whole object.

// fixRange readies a GET's or HEAD's Range header for gofakes3: dropped
// when S3 would ignore it, rewritten where gofakes3 would read it wrong.
func (s *Server) fixRange(r *http.Request, bucket, key string) {
	v := r.Header.Get("Range")
	if v == "" {
		return
	}
	first, last, ok := parseByteRange(v)
	switch {
	case !ok:
		r.Header.Del("Range")
	case first == "":
		// A suffix as long as the object, or longer, is all of it.
		n, err := strconv.ParseInt(last, 10, 64)
		if size, found := s.objectSize(r, bucket, key); found && size > 0 && (err != nil || n >= size) {
			r.Header.Set("Range", "bytes=0-")
		} else {
			r.Header.Set("Range", "bytes=-"+last)
		}
	default:
		if _, err := strconv.ParseInt(last, 10, 64); err != nil {
			last = "" // past any object: to the end
		}
		r.Header.Set("Range", "bytes="+first+"-"+last)
	}
}

// parseByteRange splits a Range header that is one well-formed byte range:
// first-last, first- or -suffix, in digits, first <= last.
func parseByteRange(v string) (first, last string, ok bool) {
	unit, set, found := strings.Cut(v, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return "", "", false
	}
	first, last, found = strings.Cut(strings.TrimSpace(set), "-")
	if !found || !digits(first) && first != "" || !digits(last) && last != "" || first == "" && last == "" {
		return "", "", false
	}
	if first != "" && last != "" {
		f, ferr := strconv.ParseUint(first, 10, 64)
		l, lerr := strconv.ParseUint(last, 10, 64)
		if ferr == nil && lerr == nil && l < f {
			return "", "", false
		}
	}
	return first, last, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// objectSize is the size of the object a GET or HEAD reads.
func (s *Server) objectSize(r *http.Request, bucket, key string) (int64, bool) {
	var obj *gofakes3.Object
	var err error
	if v := r.URL.Query().Get("versionId"); v != "" {
		obj, err = s.store.HeadObjectVersion(bucket, key, gofakes3.VersionID(v))
	} else {
		obj, err = s.store.HeadObject(bucket, key)
	}
	if err != nil || obj == nil || obj.IsDeleteMarker {
		return 0, false
	}
	if obj.Contents != nil {
		obj.Contents.Close()
	}
	return obj.Size, true
}

// invalidRangeError gives a 416 S3's elements: the range asked for and
// the object's size.
func (s *Server) invalidRangeError(r *http.Request, e *s3auth.Error) {
	if e.Code != "InvalidRange" {
		return
	}
	bucket, key := splitPath(r.URL.Path)
	e.Extra = []s3auth.Field{{Name: "RangeRequested", Value: r.Header.Get("Range")}}
	if size, ok := s.objectSize(r, bucket, key); ok {
		e.Extra = append(e.Extra, s3auth.Field{Name: "ActualObjectSize", Value: strconv.FormatInt(size, 10)})
	}
}
