package memcached

import (
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// Defaults for [Start]. The zero configuration works: Start(ctx, spec) with no
// options uses these.
const (
	// DefaultMemoryMB is memcached's -m (megabytes of item memory).
	DefaultMemoryMB = 64
	// DefaultImage is the image users elsewhere pull. Machines without a
	// registry build LocalImage instead (make memcached-image), which Start
	// prefers when it is present and ImageEnv is unset.
	DefaultImage = "memcached:1.6-alpine"
	// LocalImage is the tag build/memcached-image/build.sh produces.
	LocalImage = "uploadonce/memcached:local"
	// ImageEnv overrides DefaultImage when WithImage is not given.
	ImageEnv = "UPLOADONCE_MEMCACHED_IMAGE"
	// DefaultStartTimeout bounds every start, restart and readiness wait.
	DefaultStartTimeout = 60 * time.Second
	// DefaultProbeTimeout bounds one `version` probe.
	DefaultProbeTimeout = 2 * time.Second
)

// Clock is the time source of the embedded server's expiry. A virtual clock
// makes TTLs testable without sleeping. It MUST be safe for concurrent use.
type Clock = embedded.Clock

// Option configures [Start].
type Option func(*config)

type config struct {
	logger       zerolog.Logger
	memoryMB     int
	image        string
	startTimeout time.Duration
	clock        Clock
}

func newConfig(opts []Option) config {
	c := config{
		logger:       zerolog.Nop(),
		memoryMB:     DefaultMemoryMB,
		startTimeout: DefaultStartTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// DefaultImageFromEnv returns $UPLOADONCE_MEMCACHED_IMAGE when set, else
// DefaultImage.
//
// It does not ask Docker; Start does, through [ResolveImage], and prefers
// LocalImage to DefaultImage when the engine has it.
func DefaultImageFromEnv() string {
	if img := os.Getenv(ImageEnv); img != "" {
		return img
	}
	return DefaultImage
}

// WithLogger sets the logger; the default discards.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMemoryMB sets memcached's -m; values below 1 keep DefaultMemoryMB. The
// embedded server uses it as its byte limit before LRU eviction.
func WithMemoryMB(mb int) Option {
	return func(c *config) {
		if mb > 0 {
			c.memoryMB = mb
		}
	}
}

// WithImage sets the container image; "" lets [ResolveImage] choose:
// $UPLOADONCE_MEMCACHED_IMAGE, else LocalImage when present, else
// DefaultImage.
func WithImage(image string) Option {
	return func(c *config) {
		if image != "" {
			c.image = image
		}
	}
}

// WithStartTimeout bounds start and restart; values <= 0 keep
// DefaultStartTimeout.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.startTimeout = d
		}
	}
}

// WithClock sets the embedded server's clock; nil keeps real time. Real
// memcached servers always use their own clock.
func WithClock(clk Clock) Option {
	return func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	}
}
