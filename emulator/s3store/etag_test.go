package s3store_test

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// TestETagOverride: a version stored with a multipart ETag shows that ETag
// wherever S3 shows one (HEAD's metadata key, listings, version listings,
// KeyVersions, put and copy conditions), keeps its body MD5 as Hash, and a
// copy of it gets the plain MD5.
func TestETagOverride(t *testing.T) {
	const key, etag = "uploads/mp", "0123456789abcdef0123456789abcdef-3"
	s := s3store.New()
	if err := s.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVersioningConfiguration("b", gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	body := []byte("multipart body")
	sum := md5.Sum(body)
	plain := hex.EncodeToString(sum[:])
	w, err := s.PutBytesETag("b", key, nil, body, nil, etag, nil)
	if err != nil || w.ETag() != etag || hex.EncodeToString(w.Hash) != plain {
		t.Fatalf("PutBytesETag = %+v (ETag %s), %v", w, w.ETag(), err)
	}
	obj, err := s.HeadObject("b", key)
	if err != nil || s3store.ObjectETag(obj) != etag || hex.EncodeToString(obj.Hash) != plain {
		t.Fatalf("HEAD ETag %q hash %x, %v", s3store.ObjectETag(obj), obj.Hash, err)
	}
	list, err := s.ListBucket("b", nil, gofakes3.ListBucketPage{})
	if err != nil || len(list.Contents) != 1 || list.Contents[0].ETag != `"`+etag+`"` {
		t.Fatalf("ListBucket = %+v, %v", list, err)
	}
	vl, err := s.ListBucketVersions("b", nil, nil)
	if err != nil || len(vl.Versions) != 1 || vl.Versions[0].(*gofakes3.Version).ETag != `"`+etag+`"` {
		t.Fatalf("ListBucketVersions = %+v, %v", vl, err)
	}
	if vs, err := s.KeyVersions("b", key); err != nil || len(vs) != 1 || vs[0].ETag != etag {
		t.Fatalf("KeyVersions = %+v, %v", vs, err)
	}
	for tag, ok := range map[string]bool{etag: true, `"` + etag + `"`: true, plain: false} {
		_, err := s.PutBytes("b", "other", nil, []byte("x"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.PutBytesETag("b", key, nil, body, nil, etag, &gofakes3.PutConditions{IfMatch: &tag})
		if (err == nil) != ok {
			t.Errorf("put If-Match %s: %v, want success %v", tag, err, ok)
		}
	}
	if _, err := s.Copy(s3store.CopyInput{SrcBucket: "b", SrcKey: key, DstBucket: "b", DstKey: "c1", IfMatch: plain}); !gofakes3.HasErrorCode(err, gofakes3.ErrPreconditionFailed) {
		t.Fatalf("copy If-Match the body MD5 = %v, want PreconditionFailed", err)
	}
	c, err := s.Copy(s3store.CopyInput{SrcBucket: "b", SrcKey: key, DstBucket: "b", DstKey: "c2", IfMatch: etag})
	if err != nil || c.ETag() != plain {
		t.Fatalf("copy = %+v (ETag %s), %v; want the plain MD5", c, c.ETag(), err)
	}
	if obj, err := s.HeadObject("b", "c2"); err != nil || s3store.ObjectETag(obj) != plain || obj.Metadata[s3store.ETagMetaKey] != "" {
		t.Fatalf("copy's HEAD metadata %v, %v", obj.Metadata, err)
	}
}
