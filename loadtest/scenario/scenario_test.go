package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/expect"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestScenarioFiles loads and validates every file in scenarios/ (STYLE
// habit 10), and checks that each starts with a header comment (habit 12).
func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found %d scenario files, want at least 7", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(f)
			if !strings.HasPrefix(string(data), "# ") {
				t.Error("the file must start with a comment saying what it reproduces and expects")
			}
			plans := s.Plans()
			if len(plans) != len(s.StrategyNames()) {
				t.Fatalf("%d plans for %d strategies", len(plans), len(s.StrategyNames()))
			}
			for _, p := range plans {
				if err := p.Validate(); err != nil {
					t.Errorf("plan %s: %v", p.Stack.Strategy, err)
				}
			}
		})
	}
}

func TestReferenceScenarios(t *testing.T) {
	s, err := Load("../../scenarios/upload_with_delay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Plans()[0]
	if p.Stack.Clock != "virtual" || p.Stack.URLExpiry != 30*time.Second || p.Groups[0].Uploads[0].At != 40*time.Second {
		t.Errorf("upload_with_delay plan = %+v", p)
	}
	s, err = Load("../../scenarios/upload2x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p = s.Plans()[0]
	if s.Name != "upload2x" || p.Stack.Strategy != "get-delete" || !p.Groups[0].Uploads[1].AfterPrevious || p.Groups[0].Uploads[1].Content != plan.ContentSame {
		t.Errorf("upload2x plan = %+v", p)
	}
}

// decodeErr decodes and validates src as file.yaml and returns the error.
func decodeErr(src string) error {
	s, err := Decode("file.yaml", []byte(src))
	if err != nil {
		return err
	}
	return s.Validate()
}

const minimal = "groups:\n  - name: g\n    uploads: [{at: 0s}]\n"

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings of the error text; nil means no error
	}{
		// The smallest valid file.
		{"minimal", minimal, nil},
		// A typo in a field name is an error at its line, naming the field.
		{"unknown top-level field", "strategy: cas\nstrategee: cas\n" + minimal, []string{"file.yaml:2:1", "strategee", `unknown field "strategee"`}},
		{"unknown nested field", "groups:\n  - name: g\n    uploads:\n      - at: 0s\n        sise: 3\n", []string{"file.yaml:5:9", "groups[0].uploads[0].sise"}},
		{"unknown expectation field", minimal + "expect:\n  groups:\n    g: {acepted: 1}\n", []string{"file.yaml:6:9", "acepted"}},
		// Wrong types name the field and what was wanted.
		{"string for int", "groups:\n  - name: g\n    tokens: many\n", []string{"file.yaml:3:13", "groups[0].tokens", "wrong type"}},
		{"list for string", "strategy: [cas]\n" + minimal, []string{"file.yaml:1:", "strategy", "wrong type"}},
		{"mapping for list", "groups: {name: g}\n", []string{"file.yaml:1:", "groups", "sequence is expected"}},
		// Durations need a unit.
		{"bad duration", "groups:\n  - name: g\n    uploads:\n      - at: 40x\n", []string{"file.yaml:4:13", "groups[0].uploads[0].at", `bad duration "40x"`}},
		{"duration without unit", "url_expiry: 30\n" + minimal, []string{"file.yaml:1:13", "url_expiry", "needs a unit"}},
		{"bare zero duration", "url_expiry: 0\n" + minimal, nil},
		// Values are checked by Validate, at the line they came from.
		{"unknown strategy", "strategies: [cas, get-dlete]\n" + minimal, []string{"file.yaml:1:", "strategies[1]", `unknown strategy "get-dlete"`}},
		{"strategy and strategies", "strategy: cas\nstrategies: [delete]\n" + minimal, []string{"file.yaml:2:", "not both"}},
		{"negative count", "groups:\n  - name: g\n    tokens: -1\n    uploads: [{at: 0s}]\n", []string{"file.yaml:3:13", "groups[0].tokens", "negative"}},
		{"negative offset", "groups:\n  - name: g\n    uploads:\n      - after_previous: -1s\n", []string{"file.yaml:4:", "after_previous", "negative"}},
		{"too many tokens", "groups:\n  - name: g\n    tokens: 2000001\n", []string{"file.yaml:3:", "bound is 2000000"}},
		{"body too large", "groups:\n  - name: g\n    uploads: [{size: 67108865}]\n", []string{"file.yaml:3:", "size"}},
		{"too many bytes in all", "groups:\n  - name: g\n    tokens: 100\n    uploads: [{size: 67108864}]\n", []string{"file.yaml:1:", "groups", "2 GiB"}},
		{"expectation on unknown group", minimal + "expect:\n  groups:\n    h: {accepted: 1}\n", []string{"file.yaml:6:", "expect.groups.h", `group "h"`}},
		{"statuses count", minimal + "expect:\n  groups:\n    g: {statuses: [204, 204]}\n", []string{"file.yaml:6:", "2 statuses for 1 uploads"}},
		{"unknown violation", minimal + "expect:\n  violations: {dubble_accept: 0}\n", []string{"file.yaml:5:", "dubble_accept"}},
		{"expectation for a strategy not run", "strategy: cas\n" + minimal + "expect:\n  strategies:\n    delete: {}\n", []string{"file.yaml:7:", "expect.strategies.delete", "does not run"}},
		{"bad comparison", minimal + "expect:\n  violations: {double_accept: \">x\"}\n", []string{"file.yaml:5:", "bad comparison"}},
		{"comparison syntax", minimal + "expect:\n  violations: {double_accept: \">0\", wrong_bytes: \">=1\", late_accept: \"<=2\", false_reject: any}\n", nil},
		// The same rule and words as serve --upload-method post and
		// loadtest --method post (plan.ErrIfNoneMatchPOST).
		{"if-none-match refuses post", "strategy: if-none-match\nmethod: post\n" + minimal, []string{"file.yaml:2:", "method: " + plan.ErrIfNoneMatchPOST.Error()}},
		{"if-none-match defaults to put", "strategy: if-none-match\n" + minimal, nil},
		{"if-none-match with put", "strategy: if-none-match\nmethod: put\n" + minimal, nil},
		{"bad memcached spec", "memcached: memcache\n" + minimal, []string{"file.yaml:1:12", "memcached", "unknown kind"}},
		{"bad hashing", "memcached: embedded:3\nmemcached_hashing: crc\n" + minimal, []string{"file.yaml:2:20", "memcached_hashing", `unknown memcached hashing "crc"`}},
		{"bad verifier hashing", "verifier_memcached_hashing: md5\n" + minimal, []string{"file.yaml:1:29", "verifier_memcached_hashing", "want modulo, ketama"}},
		{"mixed hashing", "memcached: embedded:3\nmemcached_hashing: rendezvous\nverifier_memcached_hashing: modulo\n" + minimal, nil},
		{"node change on a process", "memcached: process\n" + minimal + "faults:\n  - {kind: memcached-add-node, at: 1s}\n", []string{"file.yaml:6:", "faults[0].kind", "config get cluster"}},
		{"node change on embedded:3", "memcached: embedded:3\n" + minimal + "faults:\n  - {kind: memcached-remove-node, at: 1s}\n", nil},
		{"range", minimal + "expect:\n  explained: {token-lost-to-node-change: 70..90}\n", nil},
		{"bad range", minimal + "expect:\n  explained: {token-lost-to-node-change: 90..70}\n", []string{"file.yaml:5:", "bad comparison", "A..B"}},
		{"probability out of range", "events: {duplicates: 1.5}\n" + minimal, []string{"file.yaml:1:", "events.duplicates"}},
		{"bad event delay", "events: {delay: soon}\n" + minimal, []string{"file.yaml:1:", "events.delay"}},
		{"lambda retries", "lambda: {retries: 3}\n" + minimal, []string{"file.yaml:1:", "lambda.retries"}},
		{"unknown fault", minimal + "faults:\n  - {kind: memcached-explode, at: 1s}\n", []string{"file.yaml:5:", "faults[0].kind"}},
		{"pause needs duration", minimal + "faults:\n  - {kind: memcached-pause, at: 1s}\n", []string{"file.yaml:5:", "faults[0]", "positive duration"}},
		{"duplicate group", "groups:\n  - name: g\n  - name: g\n", []string{"file.yaml:3:", "defined twice"}},
		{"real clock needs a timeout", "clock: real\ntimeout: 10s\ngroups:\n  - name: g\n    uploads: [{at: 40s}]\n", []string{"file.yaml:2:", "timeout"}},
		// Whole-file problems.
		{"empty", "", []string{"file.yaml: empty scenario"}},
		{"not a mapping", "- a\n- b\n", []string{"file.yaml:1:", "mapping of fields"}},
		{"two documents", minimal + "---\n" + minimal, []string{"file.yaml:4:", "more than one YAML document"}},
		{"syntax error", "groups: [\n", []string{"file.yaml:1:"}},
		{"duplicate key", "name: a\nname: b\n" + minimal, []string{"file.yaml:2:", "already defined"}},
		// A missing field has no line; the error names the field.
		{"no groups", "name: x\n", []string{"file.yaml: groups:", "at least one group"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeErr(tc.src)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want one containing %q", tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not an *Error: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOverrideNamesFlag(t *testing.T) {
	s, err := Decode("file.yaml", []byte("memcached: embedded\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	s.OverrideMemcached("bogus")
	err = s.Validate()
	if err == nil || !strings.Contains(err.Error(), "memcached (set by --memcached)") {
		t.Fatalf("error %v does not name the flag", err)
	}
}

func TestCheck(t *testing.T) {
	s, err := Load("../../scenarios/storm-2x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obs := expect.Observed{Violations: map[string]int{expect.DoubleAccept: 3}, TokenCount: 2000, UploadCount: 4000}
	for i := 0; i < 2000; i++ {
		to := expect.TokenObserved{Key: "k", Group: "pair", Statuses: []int{204, 204}, Accepted: 1, Rejected: 1, Events: 2}
		if i < 3 {
			to.Accepted, to.Rejected = 2, 0
		}
		obs.Tokens = append(obs.Tokens, to)
	}
	failed := func(outs []expect.Outcome) []string {
		var f []string
		for _, o := range outs {
			if !o.OK {
				f = append(f, o.String())
			}
		}
		return f
	}
	// get-delete expects the race.
	if f := failed(s.Check("get-delete", obs)); len(f) != 0 {
		t.Errorf("get-delete: unexpected failures %q", f)
	}
	// cas must see exactly one accept per token and no double accept.
	f := failed(s.Check("cas", obs))
	if len(f) != 3 {
		t.Fatalf("cas: failures %q, want accepted, rejected and double_accept", f)
	}
	if !strings.Contains(f[0], "3 of 2000 tokens fail") {
		t.Errorf("cas: %q does not say how many tokens fail", f[0])
	}
	obs.Assumptions = map[string]int{"2xx-upload-without-event": 1}
	if f := failed(s.Check("get-delete", obs)); len(f) != 1 || !strings.Contains(f[0], "checker assumptions") {
		t.Errorf("a failed assumption must fail the run: %q", f)
	}
}
