package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is what an ElastiCache configuration endpoint answers to
// `config get cluster`: a version that grows with every change of the node
// list, and the nodes (host|ip|port).
type Config struct {
	Version uint64
	Nodes   []ConfigNode
}

// ConfigNode is one node of a Config.
type ConfigNode struct {
	Host string
	IP   string
	Port int
}

// DefaultDiscoveryTimeout bounds one `config get cluster` and one host
// name lookup.
const DefaultDiscoveryTimeout = 2 * time.Second

// ErrNoAutoDiscovery is returned by GetConfig when the server does not
// know `config get cluster`: a plain memcached, not an ElastiCache
// configuration endpoint (or an ElastiCache engine older than 1.4.14).
var ErrNoAutoDiscovery = errors.New("memcached: the server does not answer config get cluster (not an ElastiCache configuration endpoint)")

// maxClusterPayload bounds the reply GetConfig reads: ElastiCache
// clusters have at most 60 nodes, about 100 bytes each.
const maxClusterPayload = 64 << 10

// GetConfig asks endpoint (HOST:PORT) `config get cluster` once, on a
// connection of its own, within ctx and at most DefaultDiscoveryTimeout.
func GetConfig(ctx context.Context, endpoint string) (Config, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultDiscoveryTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return Config{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, "config get cluster\r\n"); err != nil {
		return Config{}, err
	}
	cfg, err := ReadConfig(bufio.NewReader(conn))
	if err != nil {
		return Config{}, fmt.Errorf("memcached %s: config get cluster: %w", endpoint, err)
	}
	return cfg, nil
}

// ReadConfig reads the reply to `config get cluster` (AWS, "Adding
// Auto Discovery to your Memcached client library", Output Format):
//
//	CONFIG cluster 0 <bytes>\r\n<version>\n<host|ip|port> ...\n\r\nEND\r\n
//
// An ERROR reply is ErrNoAutoDiscovery; anything malformed is an error.
func ReadConfig(r *bufio.Reader) (Config, error) {
	header, err := readReplyLine(r)
	if err != nil {
		return Config{}, err
	}
	if header == "ERROR" {
		return Config{}, ErrNoAutoDiscovery
	}
	f := strings.Fields(header)
	if len(f) != 4 || f[0] != "CONFIG" || f[1] != "cluster" {
		return Config{}, fmt.Errorf("unexpected reply %q", header)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n < 0 || n > maxClusterPayload {
		return Config{}, fmt.Errorf("reply %q: bad length", header)
	}
	payload := make([]byte, n+2)
	if _, err := io.ReadFull(r, payload); err != nil {
		return Config{}, fmt.Errorf("reading %d bytes of cluster configuration: %w", n, err)
	}
	if string(payload[n:]) != "\r\n" {
		return Config{}, errors.New("cluster configuration not followed by CRLF")
	}
	if end, err := readReplyLine(r); err != nil || end != "END" {
		return Config{}, fmt.Errorf("cluster configuration not followed by END (got %q, %v)", end, err)
	}
	return parseClusterPayload(string(payload[:n]))
}

func readReplyLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseClusterPayload reads "<version>\n<host|ip|port> ...\n"; a CR before
// either newline is tolerated.
func parseClusterPayload(p string) (Config, error) {
	lines := strings.Split(strings.TrimRight(p, "\r\n"), "\n")
	if len(lines) != 2 {
		return Config{}, fmt.Errorf("cluster configuration %q: want a version line and a node line", p)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil {
		return Config{}, fmt.Errorf("cluster configuration version %q: %w", lines[0], err)
	}
	cfg := Config{Version: v}
	for _, n := range strings.Fields(lines[1]) {
		f := strings.Split(n, "|")
		if len(f) != 3 {
			return Config{}, fmt.Errorf("cluster node %q: want host|ip|port", n)
		}
		port, err := strconv.Atoi(f[2])
		if err != nil || port < 1 || port > 65535 || (f[0] == "" && f[1] == "") {
			return Config{}, fmt.Errorf("cluster node %q: want host|ip|port with a port in 1..65535", n)
		}
		cfg.Nodes = append(cfg.Nodes, ConfigNode{Host: f[0], IP: f[1], Port: port})
	}
	if len(cfg.Nodes) == 0 {
		return Config{}, errors.New("cluster configuration lists no nodes")
	}
	return cfg, nil
}

// discoveredNodes are the nodes a client connects to, as the AWS Java client
// does: by IP when the configuration gives one (the node is then known by
// its IP alone), else by the host name, resolved.
func discoveredNodes(ctx context.Context, cfg Config) []Node {
	nodes := make([]Node, 0, len(cfg.Nodes))
	for _, cn := range cfg.Nodes {
		if cn.IP != "" {
			nodes = append(nodes, Node{IP: cn.IP, Port: cn.Port})
			continue
		}
		nodes = append(nodes, resolveNode(ctx, Node{Host: cn.Host, Port: cn.Port}))
	}
	return nodes
}

// resolveNode fills in the IP of a named node, as a Java InetSocketAddress
// resolves its host; a failed lookup leaves it unresolved (dialling it
// fails the same way).
func resolveNode(ctx context.Context, n Node) Node {
	if n.Host == "" || n.IP != "" {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultDiscoveryTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", n.Host)
	if err != nil || len(ips) == 0 {
		return n
	}
	n.IP = ips[0].String()
	for _, ip := range ips {
		if ip.To4() != nil {
			n.IP = ip.String()
			break
		}
	}
	return n
}
