package memcached

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

// Client defaults for [NewClient].
const (
	// DefaultClientTimeout is the per-operation socket timeout. gomemcache's
	// own 500 ms default (memcache.DefaultTimeout) fails operations on 2 busy
	// cores; NewClient never goes below it either.
	DefaultClientTimeout = time.Second
	// MinIdleConns is the smallest idle pool NewClient configures. gomemcache
	// keeps 2 by default, which churns connections under load.
	MinIdleConns = 2
)

// NewClient returns a gomemcache client for addrs whose idle pool holds at
// least concurrency connections (and at least MinIdleConns), with Timeout
// max(DefaultClientTimeout, memcache.DefaultTimeout). Invalid addresses make
// every operation fail; validate them with ParseSpec first.
func NewClient(addrs []string, concurrency int) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = max(DefaultClientTimeout, memcache.DefaultTimeout)
	c.MaxIdleConns = max(concurrency, MinIdleConns)
	return c
}

// DefaultRefreshInterval is how often a discovering Client asks the
// configuration endpoint for the node list: the AWS cluster clients' 60 s.
const DefaultRefreshInterval = 60 * time.Second

// Discovery says where a Client's node list comes from.
type Discovery string

// Discovery modes, the values of MEMCACHED_DISCOVERY.
const (
	// DiscoveryNone: the addresses are the nodes.
	DiscoveryNone Discovery = ""
	// DiscoveryElastiCache: the addresses are ElastiCache configuration
	// endpoints (tried in order); the nodes are what `config get cluster`
	// lists, read at start and every refresh interval.
	DiscoveryElastiCache Discovery = "elasticache"
)

// ParseDiscovery reads "", "none" or "elasticache".
func ParseDiscovery(s string) (Discovery, error) {
	switch strings.TrimSpace(s) {
	case "", "none":
		return DiscoveryNone, nil
	case string(DiscoveryElastiCache):
		return DiscoveryElastiCache, nil
	}
	return "", fmt.Errorf("unknown memcached discovery %q: want elasticache or none", s)
}

// ClientOption configures [OpenClient].
type ClientOption func(*clientConfig)

type clientConfig struct {
	hashing   Hashing
	discovery Discovery
	interval  time.Duration
	clock     clock.Clock
	logger    zerolog.Logger
	pool      int
}

// WithHashing sets the key placement; the default is DefaultHashing.
func WithHashing(h Hashing) ClientOption { return func(c *clientConfig) { c.hashing = h } }

// WithDiscovery sets where the node list comes from; the default is
// DiscoveryNone.
func WithDiscovery(d Discovery) ClientOption { return func(c *clientConfig) { c.discovery = d } }

// WithRefreshInterval sets how often discovery refreshes the node list;
// values <= 0 keep DefaultRefreshInterval.
func WithRefreshInterval(d time.Duration) ClientOption {
	return func(c *clientConfig) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithRefreshClock sets the clock that schedules refreshes; nil keeps real
// time. On a virtual clock a refresh happens when the clock is moved past
// it, and runs as the fired timer, so a run that waits for the clock's
// callbacks sees the new node list deterministically.
func WithRefreshClock(clk clock.Clock) ClientOption {
	return func(c *clientConfig) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithClientLogger sets the logger of refreshes; the default discards.
func WithClientLogger(l zerolog.Logger) ClientOption { return func(c *clientConfig) { c.logger = l } }

// WithPoolSize sizes the idle connection pool as NewClient's concurrency
// does.
func WithPoolSize(n int) ClientOption { return func(c *clientConfig) { c.pool = n } }

// Client is a gomemcache client with its own placement (a [Selector]) and,
// with DiscoveryElastiCache, a node list that follows the cluster: it asks
// the configuration endpoint at start and every refresh interval, and
// takes a list whose version is newer than the one it has.
//
// A key whose node changed is looked for on its new node: a token stored
// before the change is not found there. Close stops the refreshes.
type Client struct {
	*memcache.Client
	sel       *Selector
	endpoints []string
	cfg       clientConfig

	mu      sync.Mutex
	version uint64
	timer   clock.Timer
	closed  bool
}

// OpenClient returns a Client over addrs (HOST:PORT each): the nodes, or
// with DiscoveryElastiCache the configuration endpoints, of which one must
// answer now. It fails on a bad address or option, or when discovery finds
// no node.
func OpenClient(ctx context.Context, addrs []string, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{hashing: DefaultHashing, interval: DefaultRefreshInterval, clock: clock.Real{}, logger: zerolog.Nop()}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := ParseHashing(string(cfg.hashing)); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("memcached client: no addresses")
	}
	nodes := make([]Node, len(addrs))
	for i, a := range addrs {
		n, err := ParseNode(a)
		if err != nil {
			return nil, err
		}
		nodes[i] = resolveNode(ctx, n)
	}
	sel, err := NewSelector(cfg.hashing, nil)
	if err != nil {
		return nil, err
	}
	c := &Client{Client: memcache.NewFromSelector(sel), sel: sel, cfg: cfg}
	c.Client.Timeout = max(DefaultClientTimeout, memcache.DefaultTimeout)
	c.Client.MaxIdleConns = max(cfg.pool, MinIdleConns)
	switch cfg.discovery {
	case DiscoveryNone:
		if err := sel.SetNodes(nodes); err != nil {
			return nil, err
		}
		return c, nil
	case DiscoveryElastiCache:
		c.endpoints = append([]string(nil), addrs...)
		if _, err := c.Refresh(ctx); err != nil {
			return nil, err
		}
		c.schedule()
		return c, nil
	}
	return nil, fmt.Errorf("memcached client: unknown discovery %q", cfg.discovery)
}

// Hashing returns the client's placement.
func (c *Client) Hashing() Hashing { return c.sel.Hashing() }

// Selector returns the client's selector.
func (c *Client) Selector() *Selector { return c.sel }

// Nodes returns the nodes the client places keys on now.
func (c *Client) Nodes() []Node { return c.sel.Nodes() }

// Addrs returns the nodes' addresses.
func (c *Client) Addrs() []string {
	nodes := c.sel.Nodes()
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr()
	}
	return out
}

// ConfigEndpoint returns the configuration endpoint discovery asks first,
// "" without discovery.
func (c *Client) ConfigEndpoint() string {
	if len(c.endpoints) == 0 {
		return ""
	}
	return c.endpoints[0]
}

// ConfigVersion returns the version of the cluster configuration in use, 0
// without discovery.
func (c *Client) ConfigVersion() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Refresh asks the configuration endpoints, in order, for the node list
// and takes it when its version is newer; changed says it did. Without
// discovery it does nothing.
func (c *Client) Refresh(ctx context.Context) (changed bool, err error) {
	if len(c.endpoints) == 0 {
		return false, nil
	}
	var errs []error
	for _, ep := range c.endpoints {
		cfg, err := GetClusterConfig(ctx, ep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return c.apply(ctx, cfg)
	}
	return false, fmt.Errorf("memcached discovery: no configuration endpoint answered: %w", errors.Join(errs...))
}

func (c *Client) apply(ctx context.Context, cfg ClusterConfig) (bool, error) {
	nodes := discoveredNodes(ctx, cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != 0 && cfg.Version <= c.version {
		return false, nil
	}
	if err := c.sel.SetNodes(nodes); err != nil {
		return false, fmt.Errorf("memcached discovery: version %d: %w", cfg.Version, err)
	}
	old := c.version
	c.version = cfg.Version
	if old != 0 {
		c.cfg.logger.Info().Uint64("version", cfg.Version).Uint64("was", old).Strs("nodes", c.Addrs()).
			Msg("memcached discovery: the cluster changed")
	}
	return true, nil
}

// schedule arms the next refresh unless the client is closed.
func (c *Client) schedule() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.timer = c.cfg.clock.AfterFunc(c.cfg.interval, c.tick)
	}
}

// tick refreshes, synchronously in the timer's callback, then arms the next.
func (c *Client) tick() {
	if _, err := c.Refresh(context.Background()); err != nil {
		c.cfg.logger.Warn().Err(err).Msg("memcached discovery: refresh failed; the node list stays as it was")
	}
	c.schedule()
}

// Close stops the refreshes and closes the idle connections. The client
// still answers afterwards, on the last node list.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	return c.Client.Close()
}
