package memcached

import (
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
