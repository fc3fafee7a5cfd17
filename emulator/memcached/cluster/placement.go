package cluster

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/bradfitz/gomemcache/memcache"
)

// Hashing names a key placement: which node of a cluster holds a key. Two
// clients find each other's keys only when they place them alike.
type Hashing string

// Placements. The names are the values of --memcached-hashing and
// MEMCACHED_HASHING; README.md has the table of which client uses which.
const (
	// HashingModulo is gomemcache's ServerList: crc32(key) mod N over the
	// node list in the order given (the first 256 bytes of the key).
	// Adding a node to N moves about N/(N+1) of the keys.
	HashingModulo Hashing = "modulo"
	// HashingKetama is the AWS ElastiCache Cluster Client for Java's
	// placement since 1.2.0: spymemcached's KetamaNodeLocator (160 points
	// per node, four from each digest of "<node>-<i>"), hashing with
	// SHA-384. A node is named "ip:port", as the client names a node it
	// discovered ("host/ip:port" for a named host of a static list).
	HashingKetama Hashing = "ketama"
	// HashingKetamaMD5 is the same locator over MD5: upstream spymemcached's
	// KetamaConnectionFactory and the AWS client up to 1.1.x.
	HashingKetamaMD5 Hashing = "ketama-md5"
	// HashingRendezvous is pymemcache HashClient's RendezvousHash: the node
	// whose murmur3_32("<node>-<key>") is highest, the greater name on a
	// tie, a node named "host:port" as it was given (the AWS Lambda
	// ElastiCache tutorial gives discovered nodes as (ip, port)).
	HashingRendezvous Hashing = "rendezvous"
)

// DefaultHashing is gomemcache's own placement.
const DefaultHashing = HashingModulo

// Hashings lists every placement.
func Hashings() []Hashing {
	return []Hashing{HashingModulo, HashingKetama, HashingKetamaMD5, HashingRendezvous}
}

// ParseHashing reads a placement name; "" is DefaultHashing.
func ParseHashing(s string) (Hashing, error) {
	h := Hashing(strings.TrimSpace(s))
	if h == "" {
		return DefaultHashing, nil
	}
	if !slices.Contains(Hashings(), h) {
		names := make([]string, 0, 4)
		for _, k := range Hashings() {
			names = append(names, string(k))
		}
		return "", fmt.Errorf("unknown memcached hashing %q: want %s", s, strings.Join(names, ", "))
	}
	return h, nil
}

// Node is one memcached server as clients name it. IP may be empty for a
// host that was not resolved; Host is empty for a node known by its IP,
// as Auto Discovery knows the nodes it reads from the cluster
// configuration.
type Node struct {
	Host string
	IP   string
	Port int
}

// Addr is the HOST:PORT to dial: the IP when known.
func (n Node) Addr() string {
	return net.JoinHostPort(n.dialHost(), strconv.Itoa(n.Port))
}

func (n Node) dialHost() string {
	if n.IP != "" {
		return n.IP
	}
	return n.Host
}

// String is the node's address.
func (n Node) String() string { return n.Addr() }

// spyName is spymemcached's node key: its InetSocketAddress string
// without the leading "/", "host/ip:port" when the address knows a host
// name, else "ip:port".
func (n Node) spyName() string {
	if n.Host != "" && n.Host != n.IP && n.IP != "" {
		return n.Host + "/" + n.IP + ":" + strconv.Itoa(n.Port)
	}
	return n.dialHost() + ":" + strconv.Itoa(n.Port)
}

// pyName is pymemcache HashClient's node key, "%s:%s" % (host, port).
func (n Node) pyName() string {
	host := n.Host
	if host == "" {
		host = n.IP
	}
	return host + ":" + strconv.Itoa(n.Port)
}

func (n Node) validate() error {
	if n.Host == "" && n.IP == "" {
		return errors.New("node has neither host nor IP")
	}
	if n.Port < 1 || n.Port > 65535 {
		return fmt.Errorf("node %s: port %d must be in 1..65535", n.dialHost(), n.Port)
	}
	return nil
}

// ParseNode reads HOST:PORT. An IP literal becomes the node's IP, anything
// else its Host (unresolved). It does no I/O.
func ParseNode(addr string) (Node, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return Node{}, fmt.Errorf("memcached node %q: want HOST:PORT: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	switch {
	case host == "" || strings.ContainsAny(host, " \t/"):
		return Node{}, fmt.Errorf("memcached node %q: want a host", addr)
	case err != nil || p < 1 || p > 65535:
		return Node{}, fmt.Errorf("memcached node %q: port %q must be an integer in 1..65535", addr, port)
	}
	if net.ParseIP(host) != nil {
		return Node{IP: host, Port: p}, nil
	}
	return Node{Host: host, Port: p}, nil
}

// Selector is a gomemcache ServerSelector with a placement and a node list
// that can change while it is used (SetNodes), as Auto Discovery changes
// it. It is safe for concurrent use.
type Selector struct {
	hashing Hashing
	state   atomic.Pointer[placed]
	// before, when set, runs before every pick: a Client's due refresh.
	before func()
}

var _ memcache.ServerSelector = (*Selector)(nil)

// placed is one node list with its placement built.
type placed struct {
	nodes []Node
	addrs []net.Addr
	pick  func(key string) int // index into nodes; len(nodes) > 0
}

// NewSelector returns a selector placing keys by h over nodes.
func NewSelector(h Hashing, nodes []Node) (*Selector, error) {
	if _, err := ParseHashing(string(h)); err != nil {
		return nil, err
	}
	if h == "" {
		h = DefaultHashing
	}
	s := &Selector{hashing: h}
	if err := s.SetNodes(nodes); err != nil {
		return nil, err
	}
	return s, nil
}

// Hashing returns the selector's placement.
func (s *Selector) Hashing() Hashing { return s.hashing }

// SetNodes replaces the node list; on an error the list stays as it was.
// An empty list makes every pick fail with memcache.ErrNoServers.
func (s *Selector) SetNodes(nodes []Node) error {
	p := &placed{nodes: slices.Clone(nodes), addrs: make([]net.Addr, len(nodes))}
	for i, n := range nodes {
		if err := n.validate(); err != nil {
			return err
		}
		p.addrs[i] = tcpAddr(n.Addr())
	}
	if len(nodes) > 0 {
		switch s.hashing {
		case HashingKetama:
			p.pick = newKetama(nodes, sha384Digest).pick
		case HashingKetamaMD5:
			p.pick = newKetama(nodes, md5Digest).pick
		case HashingRendezvous:
			p.pick = newRendezvous(nodes).pick
		default:
			p.pick = moduloPick(len(nodes))
		}
	}
	s.state.Store(p)
	return nil
}

// Nodes returns a copy of the node list.
func (s *Selector) Nodes() []Node { return slices.Clone(s.state.Load().nodes) }

// Pick returns the node that holds key; false when there is none.
func (s *Selector) Pick(key string) (Node, bool) {
	p := s.state.Load()
	if len(p.nodes) == 0 {
		return Node{}, false
	}
	return p.nodes[p.pick(key)], true
}

// PickServer implements memcache.ServerSelector.
func (s *Selector) PickServer(key string) (net.Addr, error) {
	if s.before != nil {
		s.before()
	}
	p := s.state.Load()
	if len(p.nodes) == 0 {
		return nil, memcache.ErrNoServers
	}
	return p.addrs[p.pick(key)], nil
}

// Each implements memcache.ServerSelector.
func (s *Selector) Each(f func(net.Addr) error) error {
	if s.before != nil {
		s.before()
	}
	for _, a := range s.state.Load().addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// tcpAddr is a net.Addr that is only a name: gomemcache dials
// Network()/String(), and keys its connection pool by String().
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// moduloPick is gomemcache ServerList.PickServer's choice: crc32 (IEEE) of
// at most the key's first 256 bytes (its pooled buffer's size), mod n.
func moduloPick(n int) func(string) int {
	if n == 1 {
		return func(string) int { return 0 }
	}
	return func(key string) int {
		if len(key) > moduloKeyBytes {
			key = key[:moduloKeyBytes]
		}
		return int(crc32.ChecksumIEEE([]byte(key)) % uint32(n))
	}
}

const moduloKeyBytes = 256
