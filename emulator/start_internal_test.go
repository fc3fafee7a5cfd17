package emulator

import (
	"net"
	"testing"
)

// TestReachable: a wildcard listener's URL names loopback, never 0.0.0.0 or
// [::], which no client can call.
func TestReachable(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 4593}, "127.0.0.1:4593"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 4593}, "127.0.0.1:4593"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4566}, "127.0.0.1:4566"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 4566}, "[::1]:4566"},
	} {
		if got := reachable(tc.addr); got != tc.want {
			t.Errorf("reachable(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}
