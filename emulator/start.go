package emulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// DefaultListen is the emulator's default address: loopback only.
const DefaultListen = "127.0.0.1:4566"

// DefaultIdleTimeout closes a keep-alive connection that sends no new
// request for this long, as S3 closes idle connections after about 20 s.
const DefaultIdleTimeout = 20 * time.Second

// maxReadHeaderTimeout bounds the wait for a request's headers.
const maxReadHeaderTimeout = 10 * time.Second

// StartOptions add a listener and a memcached provider to Config.
type StartOptions struct {
	Config
	// Listen is HOST:PORT; DefaultListen when empty, port 0 for any.
	Listen string
	// Memcached is a memcached.ParseSpec string; "auto" when empty. It is
	// not started for strategies that keep no tokens.
	Memcached string
	// MemcachedOptions go to memcached.Start.
	MemcachedOptions []memcached.Option
	// Concurrency sizes the memcached client's idle connection pool.
	Concurrency int
	// IdleTimeout closes connections idle between requests (and bounds the
	// wait for a request's headers); DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
	// MemcachedHashing is the memcached clients' key placement;
	// cluster.DefaultHashing when empty. VerifierMemcachedHashing, when
	// set and different, gives the verifier a client of its own that
	// places keys that way (see Config.VerifierCache).
	MemcachedHashing         cluster.Hashing
	VerifierMemcachedHashing cluster.Hashing
	// MemcachedRefresh is how often the clients of a memcached with a
	// configuration endpoint (embedded) rediscover its nodes, on Clock;
	// cluster.DefaultRefreshInterval when zero.
	MemcachedRefresh time.Duration
	// WrapCache, when set, wraps the memcached client the strategies use;
	// tests use it to force a schedule (see onetime/rendezvous).
	WrapCache func(onetime.Cache) onetime.Cache
}

// Running is an emulator serving HTTP, with the memcached it started.
type Running struct {
	*Emulator
	// URL is the base URL of the listener, e.g. http://127.0.0.1:4566.
	URL       string
	Memcached *memcached.Server
	// MemcachedClients are the issuer's client and, when it places keys
	// differently, the verifier's.
	MemcachedClients []*cluster.Client
	server           *http.Server
	done             chan error
}

// Start starts memcached (when the strategy needs it), the emulator and its
// HTTP listener. Close stops all three.
func Start(ctx context.Context, o StartOptions) (*Running, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Strategy == "" {
		o.Strategy = DefaultStrategy
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	r := &Running{URL: "http://" + reachable(ln.Addr()), done: make(chan error, 1)}
	cleanup := func() {
		ln.Close()
		r.closeClients()
		if r.Memcached != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = r.Memcached.Close(cctx)
		}
	}

	cfg := o.Config
	cfg.Endpoint = r.URL
	if onetime.UsesMemcached(o.Strategy) {
		spec, err := memcached.ParseSpec(orDefault(o.Memcached, memcached.KindAuto))
		if err != nil {
			cleanup()
			return nil, err
		}
		opts := append([]memcached.Option{memcached.WithLogger(o.Logger.With().Str("component", "memcached").Logger())}, o.MemcachedOptions...)
		if o.Clock != nil {
			opts = append(opts, memcached.WithClock(o.Clock))
		}
		r.Memcached, err = memcached.Start(ctx, spec, opts...)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("start memcached: %w", err)
		}
		if err := r.openClients(ctx, o, &cfg); err != nil {
			cleanup()
			return nil, err
		}
	}
	r.Emulator, err = New(cfg)
	if err != nil {
		cleanup()
		return nil, err
	}
	idle := cmp.Or(o.IdleTimeout, DefaultIdleTimeout)
	r.server = &http.Server{Handler: r.Emulator.Handler(), IdleTimeout: idle,
		ReadHeaderTimeout: min(idle, maxReadHeaderTimeout), ErrorLog: nil}
	go func() {
		err := r.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
	}()
	return r, nil
}

// openClients opens the issuer's memcached client and, for a different
// verifier placement, the verifier's, and describes them in cfg. A
// memcached with a configuration endpoint is discovered through it, as an
// ElastiCache cluster is, with refreshes due on the emulator's clock.
func (r *Running) openClients(ctx context.Context, o StartOptions, cfg *Config) error {
	mc := r.Memcached
	opts := []cluster.Option{
		cluster.WithPoolSize(max(o.Concurrency, o.Lambda.Concurrency, 64)),
		cluster.WithLogger(o.Logger.With().Str("component", "memcached-client").Logger()),
		cluster.WithRefreshInterval(o.MemcachedRefresh),
	}
	addrs := mc.Addrs()
	if ep := mc.ConfigEndpoint(); ep != "" {
		addrs = []string{ep}
		opts = append(opts, cluster.WithDiscovery(cluster.DiscoveryElastiCache))
		if o.Clock != nil {
			opts = append(opts, cluster.WithClock(o.Clock))
		}
	}
	hashing := orDefault(o.MemcachedHashing, cluster.DefaultHashing)
	issuer, err := cluster.Open(ctx, addrs, append(opts, cluster.WithHashing(hashing))...)
	if err != nil {
		return fmt.Errorf("memcached client: %w", err)
	}
	r.MemcachedClients = append(r.MemcachedClients, issuer)
	cfg.Cache = issuer
	if o.WrapCache != nil {
		cfg.Cache = o.WrapCache(cfg.Cache)
	}
	cfg.Memcache = MemcachedInfo{Kind: mc.Kind(), Addrs: mc.Addrs(), Nodes: mc.Addrs, ConfigEndpoint: mc.ConfigEndpoint(),
		Hashing: string(hashing)}
	if v := o.VerifierMemcachedHashing; v != "" && v != hashing {
		verifier, err := cluster.Open(ctx, addrs, append(opts, cluster.WithHashing(v))...)
		if err != nil {
			return fmt.Errorf("verifier memcached client: %w", err)
		}
		r.MemcachedClients = append(r.MemcachedClients, verifier)
		cfg.VerifierCache = verifier
		if o.WrapCache != nil {
			cfg.VerifierCache = o.WrapCache(verifier)
		}
		cfg.Memcache.VerifierHashing = string(v)
	}
	return nil
}

func (r *Running) closeClients() {
	for _, c := range r.MemcachedClients {
		_ = c.Close()
	}
}

// Done reports the listener's end: nil after Close, or the serve error.
func (r *Running) Done() <-chan error { return r.done }

// Close shuts the listener down gracefully, then stops the invoker and
// memcached (removing its container or process).
func (r *Running) Close(ctx context.Context) error {
	var errs []error
	if err := r.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	r.Emulator.Close()
	r.closeClients()
	if r.Memcached != nil {
		if err := r.Memcached.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop memcached: %w", err))
		}
	}
	return errors.Join(errs...)
}

// reachable is addr as a client can call it: a wildcard listener (0.0.0.0,
// [::]) is reached on this host through loopback.
func reachable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

func orDefault[S ~string](s, d S) S {
	if s == "" {
		return d
	}
	return s
}
