package cluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
)

func TestReadConfig(t *testing.T) {
	// The example of AWS's "Adding Auto Discovery to your Memcached client
	// library", Output Format.
	aws := "12\nmyCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 " +
		"myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n"
	reply := func(payload string) string {
		return fmt.Sprintf("CONFIG cluster 0 %d\r\n%s\r\nEND\r\n", len(payload), payload)
	}
	cfg, err := cluster.ReadConfig(bufio.NewReader(strings.NewReader(reply(aws))))
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.Config{Version: 12, Nodes: []cluster.ConfigNode{
		{Host: "myCluster.pc4ldq.0001.use1.cache.amazonaws.com", IP: "10.82.235.120", Port: 11211},
		{Host: "myCluster.pc4ldq.0002.use1.cache.amazonaws.com", IP: "10.80.249.27", Port: 11211},
	}}
	if cfg.Version != want.Version || !slices.Equal(cfg.Nodes, want.Nodes) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	for _, tc := range []struct{ name, in string }{
		{"ERROR: plain memcached", "ERROR\r\n"},
		{"empty", ""},
		{"other reply", "VALUE x 0 1\r\n"},
		{"length past the data", "CONFIG cluster 0 99\r\n1\nh|1.2.3.4|1\n\r\nEND\r\n"},
		{"length huge", "CONFIG cluster 0 99999999999\r\n"},
		{"length negative", "CONFIG cluster 0 -1\r\n"},
		{"no END", strings.TrimSuffix(reply("1\nh|1.2.3.4|1\n"), "END\r\n")},
		{"no CRLF after data", "CONFIG cluster 0 12\r\n1\nh|1.2.3.4|1\nXXEND\r\n"},
		{"no nodes", reply("1\n\n")},
		{"bad version", reply("v1\nh|1.2.3.4|1\n")},
		{"two fields", reply("1\nh|11211\n")},
		{"port 0", reply("1\nh|1.2.3.4|0\n")},
		{"no host nor ip", reply("1\n||11211\n")},
		{"three lines", reply("1\nh|1.2.3.4|1\nh|1.2.3.4|2\n")},
	} {
		_, err := cluster.ReadConfig(bufio.NewReader(strings.NewReader(tc.in)))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if strings.HasPrefix(tc.name, "ERROR") && !errors.Is(err, cluster.ErrNoAutoDiscovery) {
			t.Errorf("%s: %v, want ErrNoAutoDiscovery", tc.name, err)
		}
	}
}

func FuzzReadConfig(f *testing.F) {
	f.Add("CONFIG cluster 0 20\r\n1\nh|127.0.0.1|11211\n\r\nEND\r\n")
	f.Add("ERROR\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := cluster.ReadConfig(bufio.NewReader(strings.NewReader(in)))
		if err == nil && len(cfg.Nodes) == 0 {
			t.Fatalf("no error and no nodes for %q", in)
		}
	})
}

// TestDiscoveryOfAPlainMemcachedFails: a server that answers ERROR, as the
// real memcached does, is not a configuration endpoint.
func TestDiscoveryOfAPlainMemcachedFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte("ERROR\r\n"))
			c.Close()
		}
	}()
	_, err = cluster.Open(context.Background(), []string{ln.Addr().String()},
		cluster.WithDiscovery(cluster.DiscoveryElastiCache))
	if !errors.Is(err, cluster.ErrNoAutoDiscovery) {
		t.Fatalf("OpenClient: %v, want ErrNoAutoDiscovery", err)
	}
}
