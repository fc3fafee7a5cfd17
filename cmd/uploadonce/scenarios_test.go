package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// passLine is the summary run prints when every run of its files held.
var passLine = regexp.MustCompile(`(?m)^PASS: \d+ runs of 1 files$`)

// TestEveryScenario runs each file in scenarios/ with its expectations, as
// "uploadonce run FILE" does: a scenario whose expect block no longer
// holds fails CI. The files run in parallel (each on its own emulator and
// embedded memcached); the whole set takes about a minute on 2 cores.
func TestEveryScenario(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The reference clients must be among them (DESIGN.md section 6).
	for _, name := range []string{"upload1x", "upload2x", "upload3x", "upload_with_delay"} {
		if !slices.Contains(files, "../../scenarios/"+name+".yaml") {
			t.Fatalf("scenarios/%s.yaml is missing; found %v", name, files)
		}
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, out, errOut := runCLI(t, "run", "--log-level", "warn", file)
			if code != exitOK || !passLine.MatchString(out) || strings.Contains(out, "FAIL") {
				t.Fatalf("exit %d, want 0 and a PASS line\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
		})
	}
}
