package s3store

import (
	"strings"
	"testing"
)

// A copy shares its source's bytes and hash, and a key whose last version
// is gone is forgotten, so memory follows the bytes stored.
func TestCopiesShareBytesAndDeletedKeysAreForgotten(t *testing.T) {
	s := New()
	if err := s.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 4096)
	if _, err := s.PutObject("b", "uploads/k", nil, strings.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyObject("b", "uploads/k", "b", "accepted/k", nil); err != nil {
		t.Fatal(err)
	}
	src, err := s.version("b", "uploads/k", "")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := s.version("b", "accepted/k", "")
	if err != nil {
		t.Fatal(err)
	}
	if &src.body[0] != &dst.body[0] || &src.hash[0] != &dst.hash[0] {
		t.Fatal("the copy holds its own bytes; copies must share the source's")
	}
	if _, err := s.DeleteObject("b", "uploads/k"); err != nil {
		t.Fatal(err)
	}
	b, _ := s.bucket("b")
	if b.load("uploads/k") != nil {
		t.Fatal("a deleted key is still held")
	}
	if got := b.sortedKeys(); len(got) != 1 || got[0] != "accepted/k" {
		t.Fatalf("index %q after the delete", got)
	}
}
