package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runLoad(t *testing.T, args ...string) (error, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, append([]string{"loadtest", "--memcached", "embedded"}, args...), &out, &errOut)
	return err, out.String(), errOut.String()
}

func TestLoadtestCleanCAS(t *testing.T) {
	rj := filepath.Join(t.TempDir(), "r.json")
	err, out, errOut := runLoad(t, "--urls", "50", "--duplicates", "3", "--strategy", "cas", "--report-json", rj)
	if code := exitCode(err, &bytes.Buffer{}); code != exitOK {
		t.Fatalf("exit %d (%v)\n%s\n%s", code, err, out, errOut)
	}
	b, err := os.ReadFile(rj)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		OK     bool `json:"ok"`
		Counts struct {
			Tokens, Uploads, Accepted int
		} `json:"counts"`
		Violations map[string]int `json:"violations"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// --delayed 0.1 of 50 URLs: 5 are uploaded too late, so 45 are accepted.
	if !r.OK || r.Counts.Tokens != 50 || r.Counts.Uploads != 150 || r.Counts.Accepted != 45 || r.Violations["double_accept"] != 0 {
		t.Fatalf("report %s", b)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(rj), "r-history.jsonl")); err == nil {
		t.Fatal("a passing run left a history file")
	}
}

func TestLoadtestGetDeleteFails(t *testing.T) {
	dir := t.TempDir()
	rj := filepath.Join(dir, "gd.json")
	// The embedded server answers fast; many URLs with many concurrent
	// duplicates make the get/delete window show reliably.
	err, out, errOut := runLoad(t, "--urls", "400", "--duplicates", "4", "--concurrency", "64", "--strategy", "get-delete",
		"--delayed", "0", "--report-json", rj)
	if !errors.Is(err, errFailed) || exitCode(err, &bytes.Buffer{}) != exitFailed {
		t.Fatalf("err %v\n%s\n%s", err, out, errOut)
	}
	var r struct {
		OK         bool           `json:"ok"`
		Violations map[string]int `json:"violations"`
		History    string         `json:"history_file"`
	}
	b, _ := os.ReadFile(rj)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Violations["double_accept"] == 0 {
		t.Fatalf("report %s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "gd-history.jsonl")); err != nil {
		t.Fatalf("no history file: %v\n%s", err, errOut)
	}
}

func TestLoadtestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--urls", "0"},
		{"--duplicates", "-1"},
		{"--delayed", "1.5"},
		{"--strategy", "nope"},
		{"--method", "get"},
		{"--clock", "sundial"},
		{"--window", "-1"},
		{"--no-such-flag"},
		{"extra-arg"},
	} {
		err, _, _ := runLoad(t, args...)
		if code := exitCode(err, &bytes.Buffer{}); code != exitBadUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, code, err, exitBadUsage)
		}
	}
}

// TestLoadtestProfiles: --cpuprofile and --memprofile leave profiles (pprof
// writes gzipped protobuf), and a run in windows reports so.
func TestLoadtestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	err, out, errOut := runLoad(t, "--urls", "60", "--duplicates", "2", "--window", "25", "--cpuprofile", cpu, "--memprofile", mem)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	for _, path := range []string{cpu, mem, mem + ".end"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("%s: %d bytes, not a gzipped profile", path, len(b))
		}
	}
	if !strings.Contains(out, "windows of 25") {
		t.Fatalf("no window note in\n%s", out)
	}
}
