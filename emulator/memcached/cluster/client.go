package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/rs/zerolog"
)

// Client defaults.
const (
	// DefaultTimeout is the per-operation socket timeout. gomemcache's own
	// 500 ms default fails operations on 2 busy cores; Open never goes below
	// either.
	DefaultTimeout = time.Second
	// MinIdleConns is the smallest idle pool Open configures.
	MinIdleConns = 2
)

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

// Option configures [Open].
type Option func(*options)

type options struct {
	hashing   Hashing
	discovery Discovery
	interval  time.Duration
	clock     Clock
	logger    zerolog.Logger
	pool      int
}

// WithHashing sets the key placement; the default is DefaultHashing.
func WithHashing(h Hashing) Option { return func(c *options) { c.hashing = h } }

// WithDiscovery sets where the node list comes from; the default is
// DiscoveryNone.
func WithDiscovery(d Discovery) Option { return func(c *options) { c.discovery = d } }

// WithRefreshInterval sets how often discovery refreshes the node list;
// values <= 0 keep DefaultRefreshInterval.
func WithRefreshInterval(d time.Duration) Option {
	return func(c *options) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithClock sets the clock that says when a refresh is due; nil keeps real
// time. On a virtual clock the node list follows the run clock: the first
// operation after the clock passed the due time refreshes, so a run sees a
// node change at a time it can predict.
func WithClock(clk Clock) Option {
	return func(c *options) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithLogger sets the logger of refreshes; the default discards.
func WithLogger(l zerolog.Logger) Option { return func(c *options) { c.logger = l } }

// WithPoolSize sizes the idle connection pool: at least MinIdleConns.
func WithPoolSize(n int) Option { return func(c *options) { c.pool = n } }

// Clock tells a Client the time; emulator/clock's clocks are Clocks.
type Clock interface {
	Now() time.Time
}

// Client is a gomemcache client with its own placement (a [Selector]) and,
// with DiscoveryElastiCache, a node list that follows the cluster: it asks
// the configuration endpoint at start and then at most once per refresh
// interval, and takes a list whose version is newer than the one it has.
//
// The AWS cluster clients poll from a background thread every 60 s. This
// client refreshes in the path of the first operation after the interval
// (every operation meanwhile waits for it), so that it starts no goroutine
// and needs no timer, and so that on a virtual clock the change lands at a
// time the run decides. A client nobody uses does not refresh; one in use
// sees a change at most one interval late either way.
//
// A key whose node changed is looked for on its new node: a token stored
// before the change is not found there.
type Client struct {
	*memcache.Client
	sel       *Selector
	endpoints []string
	cfg       options

	due     atomic.Int64 // unix ns of the next refresh; 0 without discovery
	mu      sync.Mutex   // held while refreshing
	version uint64       // under mu
	// configVersion is version for readers that must not wait on a refresh.
	configVersion atomic.Uint64
}

// Open returns a Client over addrs (HOST:PORT each): the nodes, or
// with DiscoveryElastiCache the configuration endpoints, of which one must
// answer now. It fails on a bad address or option, or when discovery finds
// no node.
func Open(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	cfg := options{hashing: DefaultHashing, interval: DefaultRefreshInterval, clock: realClock{}, logger: zerolog.Nop()}
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
		if cfg.hashing == HashingKetama || cfg.hashing == HashingKetamaMD5 {
			// spymemcached names a node by its resolved address,
			// "host/ip:port"; the others need no lookup.
			n = resolveNode(ctx, n)
		}
		nodes[i] = n
	}
	sel, err := NewSelector(cfg.hashing, nil)
	if err != nil {
		return nil, err
	}
	c := &Client{Client: memcache.NewFromSelector(sel), sel: sel, cfg: cfg}
	c.Client.Timeout = max(DefaultTimeout, memcache.DefaultTimeout)
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
		c.due.Store(cfg.clock.Now().Add(cfg.interval).UnixNano())
		sel.before = c.refreshIfDue
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
func (c *Client) ConfigVersion() uint64 { return c.configVersion.Load() }

// Refresh asks the configuration endpoints, in order, for the node list
// and takes it when its version is newer; changed says it did. Without
// discovery it does nothing.
func (c *Client) Refresh(ctx context.Context) (changed bool, err error) {
	if len(c.endpoints) == 0 {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.version
	err = c.refreshLocked(ctx)
	return c.version != before, err
}

// refreshLocked asks the endpoints in order and applies the first answer.
func (c *Client) refreshLocked(ctx context.Context) error {
	var errs []error
	for _, ep := range c.endpoints {
		cfg, err := GetConfig(ctx, ep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return c.apply(ctx, cfg)
	}
	return fmt.Errorf("memcached discovery: no configuration endpoint answered: %w", errors.Join(errs...))
}

// apply takes cfg when it is newer than the list in use; c.mu is held.
func (c *Client) apply(ctx context.Context, cfg Config) error {
	if c.version != 0 && cfg.Version <= c.version {
		return nil
	}
	if err := c.sel.SetNodes(discoveredNodes(ctx, cfg)); err != nil {
		return fmt.Errorf("memcached discovery: version %d: %w", cfg.Version, err)
	}
	old := c.version
	c.version = cfg.Version
	c.configVersion.Store(cfg.Version)
	if old != 0 {
		c.cfg.logger.Info().Uint64("version", cfg.Version).Uint64("was", old).Strs("nodes", c.Addrs()).
			Msg("memcached discovery: the cluster changed")
	}
	return nil
}

// refreshIfDue refreshes when the interval has passed: one caller asks
// the endpoint, the others wait for its answer. A failed refresh keeps the
// list and is tried again an interval later, as the AWS clients do.
func (c *Client) refreshIfDue() {
	now := c.cfg.clock.Now()
	if now.UnixNano() < c.due.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.UnixNano() < c.due.Load() {
		return // refreshed while this caller waited
	}
	if err := c.refreshLocked(context.Background()); err != nil {
		c.cfg.logger.Warn().Err(err).Msg("memcached discovery: refresh failed; the node list stays as it was")
	}
	c.due.Store(now.Add(c.cfg.interval).UnixNano())
}

// Close closes the idle connections; the client still answers afterwards.
func (c *Client) Close() error { return c.Client.Close() }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
