package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

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

// embeddedCluster is the servers of kind embedded: one, or an embedded:N
// cluster whose nodes each answer `config get cluster` with all of them.
// Nodes can be added and removed while it runs; each change publishes a
// configuration with a higher version on every node, as ElastiCache does.
type embeddedCluster struct {
	cfg config

	mu      sync.Mutex
	nodes   []*Embedded
	version uint64
}

var (
	_ node   = (*embeddedCluster)(nil)
	_ pauser = (*embeddedCluster)(nil)
	_ scaler = (*embeddedCluster)(nil)
)

// snapshot returns the nodes now, in the order of the configuration.
func (c *embeddedCluster) snapshot() []*Embedded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Embedded(nil), c.nodes...)
}

func (c *embeddedCluster) addrs() []string {
	ns := c.snapshot()
	out := make([]string, len(ns))
	for i, e := range ns {
		out[i] = e.Addr()
	}
	return out
}

func (c *embeddedCluster) restart(context.Context) error {
	for _, e := range c.snapshot() {
		e.Restart()
	}
	return nil
}

func (c *embeddedCluster) pause(context.Context) error {
	for _, e := range c.snapshot() {
		e.Pause()
	}
	return nil
}

func (c *embeddedCluster) resume(context.Context) error {
	for _, e := range c.snapshot() {
		e.Resume()
	}
	return nil
}

func (c *embeddedCluster) close(context.Context) error {
	var errs []error
	for _, e := range c.snapshot() {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// startNode starts one more server on a free loopback port.
func (c *embeddedCluster) startNode(ctx context.Context) (*Embedded, error) {
	e := NewEmbedded(
		WithEmbeddedLogger(c.cfg.logger),
		WithEmbeddedClock(c.cfg.clock),
		WithEmbeddedMaxBytes(int64(c.cfg.memoryMB)<<20),
	)
	if err := e.Start(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// publishLocked gives every node the configuration listing all of them,
// one version higher.
func (c *embeddedCluster) publishLocked() error {
	cluster := embedded.ClusterConfig{Version: c.version + 1}
	for _, e := range c.nodes {
		host, port, err := net.SplitHostPort(e.Addr())
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return fmt.Errorf("memcached embedded: listen address %q: %w", e.Addr(), errors.Join(err, perr))
		}
		cluster.Nodes = append(cluster.Nodes, embedded.ClusterNode{Host: host, IP: host, Port: p})
	}
	for _, e := range c.nodes {
		e.SetClusterConfig(cluster)
	}
	c.version = cluster.Version
	return nil
}

// addNode starts a node and publishes it.
func (c *embeddedCluster) addNode(ctx context.Context) (string, error) {
	e, err := c.startNode(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) >= MaxEmbeddedNodes {
		return "", errors.Join(fmt.Errorf("memcached embedded: a cluster has at most %d nodes", MaxEmbeddedNodes), e.Close())
	}
	c.nodes = append(c.nodes, e)
	if err := c.publishLocked(); err != nil {
		return "", err
	}
	return e.Addr(), nil
}

// removeNode removes the newest node (never the first, which is the
// configuration endpoint), publishes the smaller list and stops the node:
// its items are gone and its connections dropped.
func (c *embeddedCluster) removeNode(context.Context) (string, error) {
	c.mu.Lock()
	if len(c.nodes) < 2 {
		c.mu.Unlock()
		return "", errors.New("memcached embedded: the last node cannot be removed")
	}
	e := c.nodes[len(c.nodes)-1]
	c.nodes = c.nodes[:len(c.nodes)-1]
	err := c.publishLocked()
	c.mu.Unlock()
	return e.Addr(), errors.Join(err, e.Close())
}

// startEmbedded starts n embedded servers, each on its own free loopback
// port, and gives each the cluster configuration listing all n.
func startEmbedded(ctx context.Context, cfg config, n int) (*Server, error) {
	c := &embeddedCluster{cfg: cfg}
	for range n {
		e, err := c.startNode(ctx)
		if err != nil {
			return nil, errors.Join(err, c.close(ctx))
		}
		c.nodes = append(c.nodes, e)
	}
	if err := c.publishLocked(); err != nil {
		return nil, errors.Join(err, c.close(ctx))
	}
	addrs := c.addrs()
	desc := "embedded (in-process) at " + addrs[0]
	if n > 1 {
		desc = fmt.Sprintf("embedded x%d (in-process cluster, config endpoint %s) at %s", n, addrs[0], strings.Join(addrs, ","))
	}
	return &Server{kind: KindEmbedded, desc: desc, addrs: addrs, node: c, emb: c}, nil
}
