package emulator

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestInFlightFreesKeysAndIgnoresStrayEnds(t *testing.T) {
	f := newInFlight()
	var rec events.S3EventRecord
	rec.S3.Object.URLDecodedKey = "uploads/a"
	f.Scheduled(rec)
	f.Scheduled(rec) // a duplicate
	f.add("uploads/a")
	f.Ended(rec, true)
	f.done("uploads/never") // not in flight: ignored, not negative
	keys := []string{"uploads/a", "uploads/never"}
	if i, zero := f.firstBusy(keys, 0); i != 0 || zero == nil {
		t.Fatalf("firstBusy = %d, %v; want 0 and a channel", i, zero)
	}
	_, zero := f.firstBusy(keys, 0)
	f.Ended(rec, false)
	select {
	case <-zero:
		t.Fatal("woken while uploads/a still has one delivery")
	default:
	}
	f.done("uploads/a")
	select {
	case <-zero:
	default:
		t.Fatal("not woken when uploads/a reached zero")
	}
	if i, _ := f.firstBusy(keys, 0); i != len(keys) || !f.empty() || len(f.n) != 0 || f.total != 0 {
		t.Fatalf("after every end: firstBusy %d, map %v, total %d", i, f.n, f.total)
	}
}
