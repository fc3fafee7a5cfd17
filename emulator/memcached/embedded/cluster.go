package embedded

import (
	"net"
	"strconv"
	"strings"
)

// ClusterNode is one node of an ElastiCache cluster configuration, as
// `config get cluster` lists it: host|ip|port.
type ClusterNode struct {
	Host string
	IP   string
	Port int
}

// ClusterConfig is what `config get cluster` answers: ElastiCache's Auto
// Discovery extension. Version grows each time the node list changes.
type ClusterConfig struct {
	Version uint64
	Nodes   []ClusterNode
}

// SetClusterConfig sets the configuration `config get cluster` answers.
// Until it is called the server answers a one-node cluster of itself,
// version 1.
func (e *Server) SetClusterConfig(cfg ClusterConfig) {
	cfg.Nodes = append([]ClusterNode(nil), cfg.Nodes...)
	e.cluster.Store(&cfg)
}

// ClusterConfig returns the configuration `config get cluster` answers.
func (e *Server) ClusterConfig() ClusterConfig {
	if c := e.cluster.Load(); c != nil {
		return ClusterConfig{Version: c.Version, Nodes: append([]ClusterNode(nil), c.Nodes...)}
	}
	cfg := ClusterConfig{Version: 1}
	if host, port, err := net.SplitHostPort(e.Addr()); err == nil {
		p, _ := strconv.Atoi(port)
		cfg.Nodes = []ClusterNode{{Host: host, IP: host, Port: p}}
	}
	return cfg
}

// clusterPayload is the data block of the reply: the version line and the
// node line, each ended by a bare "\n" (AWS, "Adding Auto Discovery to your
// Memcached client library", Output Format).
func clusterPayload(cfg ClusterConfig) string {
	nodes := make([]string, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		nodes[i] = n.Host + "|" + n.IP + "|" + strconv.Itoa(n.Port)
	}
	return strconv.FormatUint(cfg.Version, 10) + "\n" + strings.Join(nodes, " ") + "\n"
}

// config answers `config get cluster`:
//
//	CONFIG cluster 0 <bytes>\r\n<version>\n<host|ip|port ...>\n\r\nEND\r\n
//
// Any other config sub-command or key is unknown, as on memcached: ERROR.
func (s *session) config(tok []string) {
	if len(tok) != 3 || tok[1] != "get" || tok[2] != "cluster" {
		s.writeLine(replyError)
		return
	}
	payload := clusterPayload(s.e.ClusterConfig())
	s.writeLine("CONFIG cluster 0 " + strconv.Itoa(len(payload)))
	s.writeLine(payload)
	s.writeLine("END")
}
