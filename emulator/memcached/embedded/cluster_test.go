package embedded_test

import (
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// readExactly reads len(want) bytes and compares them with want.
func (r *raw) readExactly(want string) {
	r.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.r, got); err != nil {
		r.t.Fatalf("read %d bytes: %v (got %q)", len(want), err, got)
	}
	if string(got) != want {
		r.t.Fatalf("got %q, want %q", got, want)
	}
}

func TestConfigGetClusterOneNode(t *testing.T) {
	e := startEmbedded(t)
	host, port, _ := net.SplitHostPort(e.Addr())
	r := dialRaw(t, e.Addr())
	payload := "1\n" + host + "|" + host + "|" + port + "\n"
	r.send("config get cluster\r\n")
	r.readExactly("CONFIG cluster 0 " + strconv.Itoa(len(payload)) + "\r\n" + payload + "\r\nEND\r\n")
	// The connection goes on as usual.
	r.expect("version\r\n", "VERSION "+embedded.Version)
}

func TestConfigGetClusterSetNodes(t *testing.T) {
	e := startEmbedded(t)
	e.SetClusterConfig(embedded.ClusterConfig{Version: 12, Nodes: []embedded.ClusterNode{
		{Host: "mycluster.0001.cache.amazonaws.com", IP: "10.82.235.120", Port: 11211},
		{Host: "mycluster.0002.cache.amazonaws.com", IP: "10.80.249.27", Port: 11211},
	}})
	r := dialRaw(t, e.Addr())
	const payload = "12\n" +
		"mycluster.0001.cache.amazonaws.com|10.82.235.120|11211 mycluster.0002.cache.amazonaws.com|10.80.249.27|11211\n"
	r.send("config get cluster\r\n")
	r.readExactly("CONFIG cluster 0 112\r\n" + payload + "\r\nEND\r\n")
	if len(payload) != 112 {
		t.Fatalf("payload is %d bytes", len(payload))
	}
	if got := e.ClusterConfig(); got.Version != 12 || len(got.Nodes) != 2 || got.Nodes[1].IP != "10.80.249.27" {
		t.Fatalf("ClusterConfig() = %+v", got)
	}
}

func TestConfigOtherCommandsAreUnknown(t *testing.T) {
	e := startEmbedded(t)
	r := dialRaw(t, e.Addr())
	for _, cmd := range []string{"config\r\n", "config get\r\n", "config get other\r\n", "config set cluster\r\n", "config get cluster x\r\n"} {
		r.expect(cmd, "ERROR")
	}
}
