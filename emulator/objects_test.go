package emulator

import (
	"context"
	"errors"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// The adapter gives the fake S3's errors onetime's meaning, which the
// verifier's decisions depend on.
func TestObjectsAdapterMapsErrors(t *testing.T) {
	ctx := context.Background()
	srv := fakes3.New(fakes3.Config{})
	if err := srv.CreateBucket("b", true); err != nil {
		t.Fatal(err)
	}
	o := objects{srv}
	if _, err := o.Head(ctx, "b", "uploads/none"); !errors.Is(err, onetime.ErrNoSuchKey) {
		t.Fatalf("Head of a missing key = %v, want onetime.ErrNoSuchKey", err)
	}
	if err := o.Copy(ctx, onetime.CopyInput{Bucket: "b", SrcKey: "uploads/none", DstKey: "accepted/none"}); !errors.Is(err, onetime.ErrNoSuchKey) {
		t.Fatalf("Copy of a missing key = %v, want onetime.ErrNoSuchKey", err)
	}
	if err := srv.Copy(fakes3.CopyInput{}); err == nil {
		t.Fatal("copy of nothing succeeded")
	}
	vs, err := o.Versions(ctx, "b", "uploads/none")
	if err != nil || len(vs) != 0 {
		t.Fatalf("Versions of a missing key = %v, %v", vs, err)
	}
}
