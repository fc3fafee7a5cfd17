package embedded

import (
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// Embedded server limits and defaults. They follow memcached 1.6.
const (
	// DefaultAddr listens on a free loopback port.
	DefaultAddr = "127.0.0.1:0"
	// DefaultMaxItemSize is memcached's -I: key, value and item header
	// together. Larger values get "SERVER_ERROR object too large for cache".
	DefaultMaxItemSize = 1 << 20
	// DefaultMaxBytes is memcached's default -m 64 in bytes.
	DefaultMaxBytes = int64(64) << 20
	// MaxKeyLength is memcached's key limit in bytes.
	MaxKeyLength = 250
	// MaxCommandLine bounds a command line, "\r\n" included. A longer line
	// gets "CLIENT_ERROR line too long" and the connection is closed.
	MaxCommandLine = 2048
	// Version is what the embedded server answers to `version`.
	Version = "1.6.0-uploadonce-embedded"
	// itemOverhead approximates memcached's per-item header, so that the
	// byte limit and the item size limit behave like the real server's.
	itemOverhead = 56
	// relativeExptimeMax is memcached's REALTIME_MAXDELTA (30 days): a
	// larger exptime is an absolute unix time.
	relativeExptimeMax = 60 * 60 * 24 * 30
	// reclaimDepth is how many items at the LRU tail each store examines
	// for expired ones, like the search depth of memcached's lru_pull_tail
	// when it allocates an item.
	reclaimDepth = 5
)

// Clock is the time source of expiry. A virtual clock makes TTLs testable
// without sleeping. It MUST be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

var _ Clock = realClock{}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("memcached: server closed")

// Option configures [New].
type Option func(*config)

type config struct {
	addr        string
	logger      zerolog.Logger
	clock       Clock
	maxItemSize int
	maxBytes    int64
}

// WithAddr sets the listen address; keep it on loopback.
func WithAddr(addr string) Option {
	return func(c *config) {
		if addr != "" {
			c.addr = addr
		}
	}
}

// WithLogger sets the logger; the default discards.
func WithLogger(l zerolog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithClock sets the clock that judges expiry; nil keeps real time.
func WithClock(clk Clock) Option {
	return func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithMaxItemSize sets the item size limit (memcached -I); values
// <= 0 keep DefaultMaxItemSize.
func WithMaxItemSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxItemSize = n
		}
	}
}

// WithMaxBytes sets the memory limit (memcached -m) before LRU
// eviction; 0 means unlimited, negative keeps DefaultMaxBytes.
func WithMaxBytes(n int64) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxBytes = n
		}
	}
}
