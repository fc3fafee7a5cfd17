package memcached

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// node is what each provider implements behind [Server].
type node interface {
	// restart loses the node's data and MUST come back on the same addresses.
	restart(ctx context.Context) error
	// close stops what the provider started; it is called at most once.
	close(ctx context.Context) error
}

// Server is a running memcached (one or more nodes) of a concrete kind.
//
// Guarantees:
//  1. Addrs are loopback HOST:PORT strings for every kind but external, and
//     they stay the same across Restart.
//  2. Close is idempotent and stops and removes only what Start started; it
//     never touches an external server.
//  3. The methods are safe for concurrent use, but Restart and Close SHOULD
//     NOT race each other.
type Server struct {
	kind  string
	desc  string
	image string
	addrs []string // the nodes of every kind but embedded
	node  node
	emb   *embeddedCluster // kind embedded, else nil

	mu     sync.Mutex
	closed bool
}

// Kind is the concrete kind running: embedded, process, container or
// external (never auto).
func (s *Server) Kind() string { return s.kind }

// Addrs returns a copy of the node addresses, in a stable order: of an
// embedded cluster, the nodes it has now (see AddNode).
func (s *Server) Addrs() []string {
	if s.emb != nil {
		return s.emb.addrs()
	}
	return append([]string(nil), s.addrs...)
}

// Describe is a human string such as
// "container (uploadonce/memcached:local) at 127.0.0.1:32768".
func (s *Server) Describe() string { return s.desc }

// Image is the container image running for kind container (see
// [ResolveImage]), else "".
func (s *Server) Image() string { return s.image }

// Embedded returns the in-process server for kind embedded (to reach its
// fault knobs), else nil. Of an embedded:N cluster it is the first node; see
// EmbeddedNodes.
func (s *Server) Embedded() *Embedded {
	if s.emb == nil {
		return nil
	}
	return s.emb.snapshot()[0]
}

// EmbeddedNodes returns every in-process server of kind embedded, in the
// order of Addrs, else nil.
func (s *Server) EmbeddedNodes() []*Embedded {
	if s.emb == nil {
		return nil
	}
	return s.emb.snapshot()
}

// ConfigEndpoint is the address an ElastiCache Auto Discovery client asks
// `config get cluster` for kind embedded (every node answers it; this is
// the first), else "": the real memcached lacks the extension.
func (s *Server) ConfigEndpoint() string {
	if s.emb == nil {
		return ""
	}
	return s.emb.addrs()[0]
}

// Restart loses all data, as a memcached restart does: a process is killed
// and started again on the same port, a container is stopped and started with
// the same port binding, and the embedded server drops its data and its client
// connections. External servers cannot be restarted; Restart returns
// ErrUnsupported for them.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return s.node.restart(ctx)
}

// Flush sends flush_all to every node and expects OK from each.
func (s *Server) Flush(ctx context.Context) error {
	var errs []error
	for _, a := range s.Addrs() {
		if err := command(ctx, a, "flush_all", "OK"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops and removes what Start started. Calling it again returns nil.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.node.close(ctx)
}

// pauser is the optional capability of nodes that can stop answering.
type pauser interface {
	pause(ctx context.Context) error
	resume(ctx context.Context) error
}

// Pause makes every node stop answering while keeping its data and its
// connections, as a stalled server or a network partition does: a process
// gets SIGSTOP, a container is paused (docker pause), the embedded server
// holds its replies. Clients then time out. External servers cannot be
// paused (ErrUnsupported).
func (s *Server) Pause(ctx context.Context) error {
	p, ok := s.node.(pauser)
	if !ok {
		return ErrUnsupported
	}
	return p.pause(ctx)
}

// Resume undoes Pause.
func (s *Server) Resume(ctx context.Context) error {
	p, ok := s.node.(pauser)
	if !ok {
		return ErrUnsupported
	}
	return p.resume(ctx)
}

// scaler is the optional capability of clusters whose node list can change.
type scaler interface {
	addNode(ctx context.Context) (addr string, err error)
	removeNode(ctx context.Context) (addr string, err error)
}

// AddNode adds a node to the cluster and publishes a configuration with a
// higher version on every node: clients that discover the cluster (see
// OpenClient) place keys on it from their next refresh, and tokens whose
// keys move to it are not found there. Only embedded clusters can grow
// (ErrUnsupported for the other kinds): the real memcached does not answer
// `config get cluster`, so no client would see the new node.
func (s *Server) AddNode(ctx context.Context) (addr string, err error) {
	sc, ok := s.node.(scaler)
	if !ok {
		return "", ErrUnsupported
	}
	return sc.addNode(ctx)
}

// RemoveNode stops the newest node (never the configuration endpoint, the
// first), losing its items, and publishes the smaller configuration. It
// refuses to remove the last node. ErrUnsupported as for AddNode.
func (s *Server) RemoveNode(ctx context.Context) (addr string, err error) {
	sc, ok := s.node.(scaler)
	if !ok {
		return "", ErrUnsupported
	}
	return sc.removeNode(ctx)
}

// ErrClosed is returned by Restart after Close.
var ErrClosed = embedded.ErrClosed

// ErrUnsupported is returned by fault hooks a kind cannot honour.
var ErrUnsupported = errors.New("memcached: operation not supported for this kind")

// Start starts (or, for external, checks) the memcached that spec names.
//
// For container it sets TESTCONTAINERS_RYUK_DISABLED=true and
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 in the process environment when they
// are unset (DESIGN.md §7), before the first container starts.
//
// For auto it chooses container when the Docker engine answers and the image
// is present locally, else process when a memcached binary is found, else
// embedded, and logs a warning saying why it fell back.
func Start(ctx context.Context, spec Spec, opts ...Option) (*Server, error) {
	cfg := newConfig(opts)
	switch spec.Kind {
	case KindAuto:
		return startAuto(ctx, cfg)
	case KindEmbedded:
		n := max(spec.Nodes, 1)
		if n > MaxEmbeddedNodes {
			return nil, fmt.Errorf("memcached: embedded count %d must be in 1..%d", n, MaxEmbeddedNodes)
		}
		return startEmbedded(ctx, cfg, n)
	case KindProcess:
		return startProcess(ctx, cfg)
	case KindContainer:
		n := spec.Nodes
		if n == 0 {
			n = 1
		}
		if n < 0 || n > MaxContainerNodes {
			return nil, fmt.Errorf("memcached: container count %d must be in 1..%d", n, MaxContainerNodes)
		}
		return startContainers(ctx, cfg, n)
	case KindExternal:
		return startExternal(ctx, cfg, spec.Addrs)
	default:
		return nil, fmt.Errorf("memcached: unknown kind %q (want %s)", spec.Kind, specSyntax)
	}
}

func startAuto(ctx context.Context, cfg config) (*Server, error) {
	var why []string
	image, err := autoImage(ctx, cfg.image)
	switch present, err := autoImagePresent(ctx, image, err); {
	case err != nil:
		why = append(why, err.Error())
	case !present:
		why = append(why, fmt.Sprintf("image %q is not present locally (run make memcached-image or set %s)", image, ImageEnv))
	default:
		cfg.image = image
		return startContainers(ctx, cfg, 1)
	}
	if _, err := findMemcachedBinary(); err != nil {
		why = append(why, err.Error())
	} else {
		cfg.logger.Info().Strs("skipped", why).Msg("memcached auto: using a local memcached process")
		return startProcess(ctx, cfg)
	}
	cfg.logger.Warn().Strs("why", why).Msg("memcached auto: fell back to the embedded server")
	return startEmbedded(ctx, cfg, 1)
}

// autoImage resolves the image auto would run, within 5 s.
func autoImage(ctx context.Context, image string) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !DockerAvailable(pctx) {
		return "", errors.New("docker engine does not answer")
	}
	return ResolveImage(pctx, image)
}

func autoImagePresent(ctx context.Context, image string, resolveErr error) (bool, error) {
	if resolveErr != nil {
		return false, resolveErr
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return ImagePresent(pctx, image)
}

func findMemcachedBinary() (string, error) {
	if p, err := exec.LookPath("memcached"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/memcached"
	if p, err := exec.LookPath(debian); err == nil {
		return p, nil
	}
	return "", errors.New("no memcached binary in PATH or /usr/bin (apt-get install -y memcached)")
}

type externalNode struct{}

var _ node = externalNode{}

func (externalNode) restart(context.Context) error { return ErrUnsupported }
func (externalNode) close(context.Context) error   { return nil }

func startExternal(ctx context.Context, cfg config, addrs []string) (*Server, error) {
	if len(addrs) == 0 {
		return nil, errors.New("memcached: external spec has no addresses")
	}
	for _, a := range addrs {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("memcached: external address %q: %w", a, err)
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
		v, err := Probe(pctx, a)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("memcached: external %s: %w", a, err)
		}
		cfg.logger.Info().Str("addr", a).Str("version", v).Msg("memcached external node answers")
	}
	return &Server{
		kind:  KindExternal,
		desc:  "external at " + strings.Join(addrs, ","),
		addrs: append([]string(nil), addrs...),
		node:  externalNode{},
	}, nil
}

// Probe sends `version` to addr once and returns the version string. It
// honours ctx and never waits longer than DefaultProbeTimeout.
func Probe(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
	defer cancel()
	line, err := roundTrip(ctx, addr, "version")
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(line, "VERSION ")
	if !ok {
		return "", fmt.Errorf("memcached %s: unexpected reply to version: %q", addr, line)
	}
	return v, nil
}

// waitReady probes addr until it answers or ctx ends. alive, when not nil,
// reports a provider failure (such as an exited process) that makes waiting
// pointless.
func waitReady(ctx context.Context, addr string, alive func() error) (string, error) {
	var lastErr error
	for {
		if alive != nil {
			if err := alive(); err != nil {
				return "", err
			}
		}
		v, err := Probe(ctx, addr)
		if err == nil {
			return v, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if alive != nil {
				if err := alive(); err != nil {
					return "", err
				}
			}
			return "", fmt.Errorf("memcached %s not ready: %w (last probe: %v)", addr, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// command sends one line and expects want as the whole reply line.
func command(ctx context.Context, addr, line, want string) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
	defer cancel()
	got, err := roundTrip(ctx, addr, line)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("memcached %s: %s: got %q, want %q", addr, line, got, want)
	}
	return nil
}

func roundTrip(ctx context.Context, addr, line string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	reply, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("memcached %s: reading reply to %s: %w", addr, line, err)
	}
	return strings.TrimRight(reply, "\r\n"), nil
}
