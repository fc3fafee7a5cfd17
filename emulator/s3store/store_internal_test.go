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

// A write without metadata keeps no map, and a copy shares its source's:
// Last-Modified is made on reads, so a store of small objects spends its
// memory on their bytes.
func TestVersionsKeepNoMapOfTheirOwn(t *testing.T) {
	s := New()
	if err := s.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject("b", "plain", map[string]string{}, strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"Content-Type": "text/plain"}
	if _, err := s.PutObject("b", "typed", meta, strings.NewReader("y"), 1, nil); err != nil {
		t.Fatal(err)
	}
	meta["Content-Type"] = "changed by the caller"
	if _, err := s.CopyObject("b", "typed", "b", "copy", nil); err != nil {
		t.Fatal(err)
	}
	plain, _ := s.version("b", "plain", "")
	typed, _ := s.version("b", "typed", "")
	cp, _ := s.version("b", "copy", "")
	if plain.meta != nil {
		t.Fatalf("a write without metadata keeps %v", plain.meta)
	}
	if typed.meta["Content-Type"] != "text/plain" {
		t.Fatalf("the caller's later change reached the store: %v", typed.meta)
	}
	cp.meta["probe"] = "shared"
	if typed.meta["probe"] != "shared" {
		t.Fatal("the copy holds a map of its own; it must share its source's")
	}
	delete(cp.meta, "probe")
	obj, err := s.HeadObject("b", "plain")
	if err != nil || obj.Metadata["Last-Modified"] == "" {
		t.Fatalf("HEAD metadata %v, %v: want Last-Modified", obj.Metadata, err)
	}
}
