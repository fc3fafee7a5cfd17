package history

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// TestReleaseAndLateOrphans: a released token gets no more records; a
// decision for its key is a late orphan, unlike one for a key never issued,
// and the file keeps the difference.
func TestReleaseAndLateOrphans(t *testing.T) {
	r := NewRecorder()
	a := &Token{Key: "a", Uploads: []Upload{{Status: 204}}}
	r.Add(a)
	r.OnDecision(onetime.Decision{Key: "a", Decision: onetime.Accepted, Sequencer: "01"})
	r.Release([]*Token{a})
	r.OnDecision(onetime.Decision{Key: "a", Decision: onetime.Rejected, Sequencer: "02"})
	r.OnDecision(onetime.Decision{Key: "never", Decision: onetime.Rejected, Sequencer: "03"})
	if len(a.Decisions) != 1 {
		t.Fatalf("released token got %d decisions", len(a.Decisions))
	}
	h := r.Run(Meta{Strategy: onetime.CAS})
	if !reflect.DeepEqual(h.OrphanKeys, []string{"a", "never"}) || !reflect.DeepEqual(h.OrphanLate, []bool{true, false}) {
		t.Fatalf("orphans %v late %v", h.OrphanKeys, h.OrphanLate)
	}

	// Tokens streamed with a TokenWriter come back before h.Tokens.
	var streamed bytes.Buffer
	tw := NewTokenWriter(&streamed)
	if err := tw.Write(a); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	h.Tokens = []*Token{{Key: "b"}}
	var file bytes.Buffer
	if err := h.WriteWithTokens(&file, &streamed); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&file)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Tokens) != 2 || back.Tokens[0].Key != "a" || back.Tokens[1].Key != "b" ||
		!reflect.DeepEqual(back.OrphanLate, h.OrphanLate) || !reflect.DeepEqual(back.OrphanKeys, h.OrphanKeys) {
		t.Fatalf("read back tokens %d, orphans %v late %v", len(back.Tokens), back.OrphanKeys, back.OrphanLate)
	}
}
