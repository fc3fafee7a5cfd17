package memcached_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    memcached.Spec
		wantErr string // substring of the error; "" means success
	}{
		// The four named kinds.
		{in: "auto", want: memcached.Spec{Kind: memcached.KindAuto}},
		{in: "embedded", want: memcached.Spec{Kind: memcached.KindEmbedded}},
		{in: "process", want: memcached.Spec{Kind: memcached.KindProcess}},
		{in: " container ", want: memcached.Spec{Kind: memcached.KindContainer, Nodes: 1}},
		// A cluster of containers, bounded.
		{in: "container:3", want: memcached.Spec{Kind: memcached.KindContainer, Nodes: 3}},
		{in: "container:0", wantErr: `container count "0"`},
		{in: "container:17", wantErr: "1..16"},
		{in: "container:x", wantErr: `container count "x"`},
		// An ElastiCache-like cluster of embedded servers, bounded.
		{in: "embedded:3", want: memcached.Spec{Kind: memcached.KindEmbedded, Nodes: 3}},
		{in: "embedded:1", want: memcached.Spec{Kind: memcached.KindEmbedded, Nodes: 1}},
		{in: "embedded:0", wantErr: `embedded count "0"`},
		{in: "embedded:17", wantErr: "1..16"},
		// Only container and embedded take a count.
		{in: "process:2", wantErr: "only container and embedded take a count"},
		{in: "auto:2", wantErr: "only container and embedded take a count"},
		// External addresses, one or many, spaces tolerated.
		{in: "127.0.0.1:11211", want: memcached.Spec{Kind: memcached.KindExternal, Addrs: []string{"127.0.0.1:11211"}}},
		{in: "a.example:1, [::1]:2", want: memcached.Spec{Kind: memcached.KindExternal, Addrs: []string{"a.example:1", "[::1]:2"}}},
		{in: "localhost:0", wantErr: `address 1 "localhost:0": port "0"`},
		{in: "localhost:65536", wantErr: "1..65535"},
		{in: "h:1,h:x", wantErr: `address 2 "h:x"`},
		{in: ":11211", wantErr: "missing host"},
		{in: "h:1,", wantErr: "empty address"},
		// Typos are unknown kinds, not hosts.
		{in: "contianer", wantErr: `unknown kind`},
		{in: "", wantErr: "empty"},
	} {
		got, err := memcached.ParseSpec(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSpec(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got.Kind != tc.want.Kind || got.Nodes != tc.want.Nodes || !slices.Equal(got.Addrs, tc.want.Addrs) {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		// String round-trips.
		again, err := memcached.ParseSpec(got.String())
		if err != nil || again.Kind != got.Kind || !slices.Equal(again.Addrs, got.Addrs) {
			t.Errorf("ParseSpec(%q).String() = %q does not round-trip: %+v %v", tc.in, got.String(), again, err)
		}
	}
}

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		concurrency, wantIdle int
	}{
		{0, memcached.MinIdleConns}, // the floor
		{1, memcached.MinIdleConns}, // still the floor
		{64, 64},                    // one idle connection per worker
	} {
		c := memcached.NewClient([]string{"127.0.0.1:1"}, tc.concurrency)
		if c.MaxIdleConns != tc.wantIdle || c.Timeout < memcached.DefaultClientTimeout {
			t.Errorf("NewClient(_, %d): MaxIdleConns %d, Timeout %v; want %d and >= %v",
				tc.concurrency, c.MaxIdleConns, c.Timeout, tc.wantIdle, memcached.DefaultClientTimeout)
		}
	}
}
