package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunClusterScenarios runs the ElastiCache cluster scenarios: a 4th node
// added to 3 with each placement, and an issuer and a verifier that place
// keys differently. Their expectations pin the lost fractions.
func TestRunClusterScenarios(t *testing.T) {
	code, out, errOut := runCLI(t, "run", "--log-level", "warn",
		"../../scenarios/fault-memcached-scale-out.yaml", "../../scenarios/fault-memcached-scale-out-ketama.yaml",
		"../../scenarios/fault-memcached-scale-out-rendezvous.yaml", "../../scenarios/mixed-hashing.yaml")
	if code != exitOK || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"--- PASS fault-memcached-scale-out [cas]",
		"--- PASS fault-memcached-scale-out [versioning]",
		"--- PASS fault-memcached-scale-out-ketama [cas]",
		"--- PASS fault-memcached-scale-out-rendezvous [cas]",
		"--- PASS mixed-hashing [cas]",
		"PASS: 15 runs of 4 files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// TestLoadtestMixedHashingFlags: --memcached-hashing and
// --verifier-memcached-hashing reach the stack: an issuer placing by
// rendezvous and a verifier by modulo reject legitimate uploads.
func TestLoadtestMixedHashingFlags(t *testing.T) {
	rj := filepath.Join(t.TempDir(), "r.json")
	err, out, errOut := runLoad(t, "--memcached", "embedded:3", "--memcached-hashing", "rendezvous",
		"--verifier-memcached-hashing", "modulo", "--urls", "60", "--duplicates", "1", "--delayed", "0", "--report-json", rj)
	if !errors.Is(err, errFailed) {
		t.Fatalf("err %v, want a failed run\n%s\n%s", err, out, errOut)
	}
	var r struct {
		Violations map[string]int `json:"violations"`
		Counts     struct{ Accepted int }
	}
	b, _ := os.ReadFile(rj)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if fr := r.Violations["false_reject"]; fr < 25 || fr > 55 || fr+r.Counts.Accepted != 60 {
		t.Fatalf("false_reject %d, accepted %d; want about 2/3 of 60 rejected", fr, r.Counts.Accepted)
	}
	// The same placement on both sides finds every token.
	err, out, errOut = runLoad(t, "--memcached", "embedded:3", "--memcached-hashing", "ketama",
		"--urls", "60", "--duplicates", "1", "--delayed", "0")
	if err != nil {
		t.Fatalf("one placement: %v\n%s\n%s", err, out, errOut)
	}
	err, _, _ = runLoad(t, "--memcached-hashing", "crc32")
	if code := exitCode(err, &bytes.Buffer{}); code != exitBadUsage {
		t.Fatalf("--memcached-hashing crc32: exit %d (%v), want %d", code, err, exitBadUsage)
	}
}
