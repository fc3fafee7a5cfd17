package plan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fault
		bad  bool
	}{
		{in: "memcached-restart@5s", want: Fault{Kind: FaultMemcachedRestart, At: 5 * time.Second}},
		{in: "memcached-flush@0s", want: Fault{Kind: FaultMemcachedFlush}},
		{in: "memcached-pause@5s:90s", want: Fault{Kind: FaultMemcachedPause, At: 5 * time.Second, Duration: 90 * time.Second}},
		{in: "memcached-latency@0s:2ms", want: Fault{Kind: FaultMemcachedLatency, Duration: 2 * time.Millisecond}},
		{in: "memcached-evict@5s:4096", want: Fault{Kind: FaultMemcachedEvict, At: 5 * time.Second, Value: 4096}},
		{in: "memcached-conn-limit@1s:2", want: Fault{Kind: FaultMemcachedConnLimit, At: time.Second, Value: 2}},
		{in: "memcached-conn-limit@1s:2:30s", want: Fault{Kind: FaultMemcachedConnLimit, At: time.Second, Value: 2, Duration: 30 * time.Second}},
		{in: "memcached-restart", bad: true},          // no offset
		{in: "memcached-restart@5", bad: true},        // no unit
		{in: "memcached-restart@5s:1s", bad: true},    // takes nothing
		{in: "memcached-pause@5s", bad: true},         // needs a duration
		{in: "memcached-evict@5s", bad: true},         // needs a value
		{in: "memcached-evict@5s:0", bad: true},       // a positive value
		{in: "memcached-evict@5s:1k", bad: true},      // an integer
		{in: "memcached-explode@5s", bad: true},       // unknown kind
		{in: "memcached-pause@-1s:1s", bad: true},     // negative offset
		{in: "memcached-latency@0s:2ms:1", bad: true}, // too many parts
	} {
		got, err := ParseFault(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("%s: parsed as %+v, want an error", tc.in, got)
		case !tc.bad && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case !tc.bad && got != tc.want:
			t.Errorf("%s = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestFaultEnds(t *testing.T) {
	if end, ok := (Fault{Kind: FaultMemcachedPause, At: time.Second, Duration: 2 * time.Second}).Ends(); !ok || end != 3*time.Second {
		t.Fatalf("pause ends %v %v", end, ok)
	}
	if _, ok := (Fault{Kind: FaultMemcachedConnLimit, Value: 2}).Ends(); ok {
		t.Fatal("a conn-limit without duration lasts to the end of the run")
	}
	if _, ok := (Fault{Kind: FaultMemcachedLatency, Duration: time.Second}).Ends(); ok {
		t.Fatal("latency lasts to the end of the run")
	}
}

// TestPlanJSON: a report's plan is snake_case with durations as text.
func TestPlanJSON(t *testing.T) {
	p := Plan{Name: "x", Seed: 3, Stack: DefaultStack(), Concurrency: 8, Timeout: time.Minute,
		Groups: []Group{{Name: "g", Tokens: 2, Uploads: []Upload{{At: 40 * time.Second, Size: 16}}}},
		Faults: []Fault{{Kind: FaultMemcachedPause, At: 5 * time.Second, Duration: 90 * time.Second}}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"url_expiry":"30s"`, `"token_ttl":"15m0s"`, `"timeout":"1m0s"`, `"at":"40s"`,
		`"duration":"1m30s"`, `"strategy":"cas"`, `"method":"post"`, `"memcached":"auto"`, `"lambda_retries":2`,
		`"memcached_hashing":"modulo"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("plan JSON lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "URLExpiry") || strings.Contains(string(b), "30000000000") || strings.Contains(string(b), "verifier_") {
		t.Errorf("plan JSON has Go names, nanoseconds or a verifier placement of its own:\n%s", b)
	}
	p.Stack.MemcachedHashing, p.Stack.VerifierMemcachedHashing = cluster.HashingRendezvous, cluster.HashingModulo
	if b, _ = json.Marshal(p); !strings.Contains(string(b), `"memcached_hashing":"rendezvous","verifier_memcached_hashing":"modulo"`) {
		t.Errorf("mixed placement missing from the plan JSON:\n%s", b)
	}
}

// TestStackValidate: each rule of a stack, by the field it names.
func TestStackValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Stack)
		field string // "" for valid
	}{
		{"default", func(*Stack) {}, ""},
		{"if-none-match takes put by default", func(s *Stack) { s.Strategy = onetime.IfNoneMatch }, ""},
		{"if-none-match refuses post", func(s *Stack) { s.Strategy, s.Method = onetime.IfNoneMatch, onetime.MethodPOST }, "method"},
		{"unknown strategy", func(s *Stack) { s.Strategy = "lock" }, "strategy"},
		{"bad method", func(s *Stack) { s.Method = "patch" }, "method"},
		{"bad clock", func(s *Stack) { s.Clock = "sundial" }, "clock"},
		{"URL expiry under 1s", func(s *Stack) { s.URLExpiry = 500 * time.Millisecond }, "url_expiry"},
		{"URL expiry over 7 days", func(s *Stack) { s.URLExpiry = MaxURLExpiry + time.Second }, "url_expiry"},
		{"token TTL under 1s", func(s *Stack) { s.TokenTTL = 0 }, "token_ttl"},
		{"memory too small", func(s *Stack) { s.MemcachedMemoryMB = 1 }, "memcached_memory_mb"},
		{"memory of an external memcached", func(s *Stack) {
			s.MemcachedMemoryMB, s.Memcached = 8, memcached.Spec{Kind: memcached.KindExternal, Addrs: []string{"127.0.0.1:1"}}
		}, "memcached_memory_mb"},
		{"duplicates over 1", func(s *Stack) { s.Delivery.Duplicates = 1.5 }, "events.duplicates"},
		{"negative reorder", func(s *Stack) { s.Delivery.ReorderWindow = -time.Second }, "events.reorder"},
		{"retries over 2", func(s *Stack) { s.LambdaRetries = 3 }, "lambda.retries"},
		{"no retries is fine", func(s *Stack) { s.LambdaRetries = 0 }, ""},
		{"concurrency 0", func(s *Stack) { s.LambdaConcurrency = 0 }, "lambda.concurrency"},
		{"event age under 60s", func(s *Stack) { s.MaxEventAge = time.Second }, "events.max_age"},
		{"error rate over 1", func(s *Stack) { s.LambdaErrorRate = 2 }, "lambda.error_rate"},
		{"unknown hashing", func(s *Stack) { s.MemcachedHashing = "crc" }, "memcached_hashing"},
		{"unknown verifier hashing", func(s *Stack) { s.VerifierMemcachedHashing = "md5" }, "verifier_memcached_hashing"},
		{"mixed hashing", func(s *Stack) { s.MemcachedHashing, s.VerifierMemcachedHashing = "rendezvous", "modulo" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultStack()
			tc.edit(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one on field %s", err, tc.field)
			}
		})
	}
	s := DefaultStack()
	s.Strategy, s.Method = onetime.IfNoneMatch, onetime.MethodPOST
	if err := s.Validate(); !errors.Is(err, ErrIfNoneMatchPOST) {
		t.Errorf("if-none-match with post: %v, want ErrIfNoneMatchPOST", err)
	}
	s.Method = ""
	if m, note := s.UploadMethod(); m != onetime.MethodPUT || !strings.Contains(note, "upload method put") {
		t.Errorf("if-none-match default: %s %q", m, note)
	}
}
