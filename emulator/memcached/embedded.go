package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// The embedded server lives in package embedded. These names keep the API
// that callers of this package were written against.

// Embedded is the in-process server of kind embedded; see [embedded.Server].
type Embedded = embedded.Server

// EmbeddedOption configures [NewEmbedded].
type EmbeddedOption = embedded.Option

// Stats are the embedded server's counters; see [embedded.Stats].
type Stats = embedded.Stats

// Embedded server limits and defaults; see package embedded.
const (
	DefaultEmbeddedAddr     = embedded.DefaultAddr
	DefaultMaxItemSize      = embedded.DefaultMaxItemSize
	DefaultEmbeddedMaxBytes = int64(DefaultMemoryMB) << 20
	MaxKeyLength            = embedded.MaxKeyLength
	MaxCommandLine          = embedded.MaxCommandLine
	EmbeddedVersion         = embedded.Version
)

// NewEmbedded returns a server that is not yet listening; call Start.
func NewEmbedded(opts ...EmbeddedOption) *Embedded { return embedded.New(opts...) }

// WithEmbeddedAddr sets the listen address; keep it on loopback.
func WithEmbeddedAddr(addr string) EmbeddedOption { return embedded.WithAddr(addr) }

// WithEmbeddedLogger sets the logger; the default discards.
func WithEmbeddedLogger(l zerolog.Logger) EmbeddedOption { return embedded.WithLogger(l) }

// WithEmbeddedClock sets the clock that judges expiry; nil keeps real time.
func WithEmbeddedClock(clk Clock) EmbeddedOption { return embedded.WithClock(clk) }

// WithEmbeddedMaxItemSize sets the item size limit (memcached -I); values
// <= 0 keep DefaultMaxItemSize.
func WithEmbeddedMaxItemSize(n int) EmbeddedOption { return embedded.WithMaxItemSize(n) }

// WithEmbeddedMaxBytes sets the memory limit (memcached -m) before LRU
// eviction; 0 means unlimited, negative keeps DefaultEmbeddedMaxBytes.
func WithEmbeddedMaxBytes(n int64) EmbeddedOption { return embedded.WithMaxBytes(n) }

// embeddedNodes are the servers of kind embedded: one, or an embedded:N
// cluster whose nodes each answer `config get cluster` with all of them.
type embeddedNodes []*Embedded

var (
	_ node   = embeddedNodes(nil)
	_ pauser = embeddedNodes(nil)
)

func (ns embeddedNodes) restart(context.Context) error {
	for _, e := range ns {
		e.Restart()
	}
	return nil
}

func (ns embeddedNodes) pause(context.Context) error {
	for _, e := range ns {
		e.Pause()
	}
	return nil
}

func (ns embeddedNodes) resume(context.Context) error {
	for _, e := range ns {
		e.Resume()
	}
	return nil
}

func (ns embeddedNodes) close(context.Context) error {
	var errs []error
	for _, e := range ns {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// startEmbedded starts n embedded servers, each on its own free loopback
// port, and gives each the cluster configuration listing all n.
func startEmbedded(ctx context.Context, cfg config, n int) (*Server, error) {
	ns := make(embeddedNodes, 0, n)
	cluster := embedded.ClusterConfig{Version: 1}
	for range n {
		e := NewEmbedded(
			WithEmbeddedLogger(cfg.logger),
			WithEmbeddedClock(cfg.clock),
			WithEmbeddedMaxBytes(int64(cfg.memoryMB)<<20),
		)
		if err := e.Start(ctx); err != nil {
			return nil, errors.Join(err, ns.close(ctx))
		}
		ns = append(ns, e)
		host, port, err := net.SplitHostPort(e.Addr())
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return nil, errors.Join(fmt.Errorf("memcached embedded: listen address %q: %w", e.Addr(), errors.Join(err, perr)), ns.close(ctx))
		}
		cluster.Nodes = append(cluster.Nodes, embedded.ClusterNode{Host: host, IP: host, Port: p})
	}
	addrs := make([]string, len(ns))
	for i, e := range ns {
		e.SetClusterConfig(cluster)
		addrs[i] = e.Addr()
	}
	desc := "embedded (in-process) at " + addrs[0]
	if n > 1 {
		desc = fmt.Sprintf("embedded x%d (in-process cluster, config endpoint %s) at %s", n, addrs[0], strings.Join(addrs, ","))
	}
	return &Server{kind: KindEmbedded, desc: desc, addrs: addrs, node: ns, embs: ns}, nil
}
