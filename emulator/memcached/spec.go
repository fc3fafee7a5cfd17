package memcached

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Provider kinds. A [Spec] names one of them; [Server.Kind] reports the
// concrete kind that runs, never [KindAuto].
const (
	// KindAuto picks the best provider available: container, then process,
	// then embedded.
	KindAuto = "auto"
	// KindEmbedded is the in-process [Embedded] server.
	KindEmbedded = "embedded"
	// KindProcess is a memcached binary started as a child process.
	KindProcess = "process"
	// KindContainer is one or more memcached containers (testcontainers-go).
	KindContainer = "container"
	// KindExternal is a list of memcached servers someone else runs.
	KindExternal = "external"
)

// MaxContainerNodes bounds container:N so that a typo cannot start hundreds
// of containers on a 2-core machine.
const MaxContainerNodes = 16

// MaxEmbeddedNodes bounds embedded:N likewise.
const MaxEmbeddedNodes = 16

// Spec says which memcached to use. The zero Spec is not valid; build one
// with [ParseSpec] or set Kind explicitly.
type Spec struct {
	// Kind is one of the Kind constants.
	Kind string
	// Nodes is the number of containers for KindContainer, or of embedded
	// servers run as one ElastiCache-like cluster for KindEmbedded; 0 means
	// 1. It is ignored for the other kinds.
	Nodes int
	// Addrs are the HOST:PORT addresses for KindExternal, in the order given.
	Addrs []string
}

// String returns the spec in the syntax ParseSpec accepts.
func (s Spec) String() string {
	switch s.Kind {
	case KindContainer:
		if s.Nodes > 1 {
			return KindContainer + ":" + strconv.Itoa(s.Nodes)
		}
		return KindContainer
	case KindEmbedded:
		if s.Nodes > 1 {
			return KindEmbedded + ":" + strconv.Itoa(s.Nodes)
		}
		return KindEmbedded
	case KindExternal:
		return strings.Join(s.Addrs, ",")
	default:
		return s.Kind
	}
}

// ParseSpec parses the --memcached syntax:
//
//	auto | embedded | embedded:N | process | container | container:N | HOST:PORT[,HOST:PORT...]
//
// N is 1..MaxContainerNodes (MaxEmbeddedNodes for embedded). An external address MUST be HOST:PORT with a
// non-empty host and a port in 1..65535; ParseSpec does not resolve or dial
// it. Errors name the part that is wrong.
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Spec{}, fmt.Errorf("memcached spec is empty (want %s)", specSyntax)
	case KindAuto, KindEmbedded, KindProcess:
		return Spec{Kind: s}, nil
	case KindContainer:
		return Spec{Kind: KindContainer, Nodes: 1}, nil
	}
	for kind, limit := range map[string]int{KindContainer: MaxContainerNodes, KindEmbedded: MaxEmbeddedNodes} {
		if n, ok := strings.CutPrefix(s, kind+":"); ok {
			nodes, err := strconv.Atoi(n)
			if err != nil || nodes < 1 || nodes > limit {
				return Spec{}, fmt.Errorf("memcached spec %q: %s count %q must be an integer in 1..%d", s, kind, n, limit)
			}
			return Spec{Kind: kind, Nodes: nodes}, nil
		}
	}
	if !strings.Contains(s, ":") {
		return Spec{}, fmt.Errorf("memcached spec %q: unknown kind (want %s)", s, specSyntax)
	}
	for _, k := range []string{KindAuto, KindProcess} {
		if strings.HasPrefix(s, k+":") {
			return Spec{}, fmt.Errorf("memcached spec %q: only container and embedded take a count (container:N, embedded:N)", s)
		}
	}
	parts := strings.Split(s, ",")
	addrs := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if err := checkHostPort(p); err != nil {
			return Spec{}, fmt.Errorf("memcached spec %q: address %d %q: %w", s, i+1, p, err)
		}
		addrs = append(addrs, p)
	}
	return Spec{Kind: KindExternal, Addrs: addrs}, nil
}

const specSyntax = "auto|embedded|embedded:N|process|container|container:N|HOST:PORT[,HOST:PORT...]"

func checkHostPort(addr string) error {
	if addr == "" {
		return fmt.Errorf("empty address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT: %w", err)
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("invalid host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q must be an integer in 1..65535", port)
	}
	return nil
}
