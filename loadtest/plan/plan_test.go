package plan

import (
	"testing"
	"time"
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
