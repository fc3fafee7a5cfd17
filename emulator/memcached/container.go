package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/rs/zerolog"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

const memcachedPort = "11211/tcp"

// ImageMissingError says the container image is not present locally. There
// is no registry on the project's machines, so Start does not try to pull.
type ImageMissingError struct{ Image string }

func (e *ImageMissingError) Error() string {
	return fmt.Sprintf("memcached image %q is not present locally and cannot be pulled here: "+
		"run `make memcached-image` (build/memcached-image/build.sh) or set %s to an image you have",
		e.Image, ImageEnv)
}

// DockerAvailable reports whether a Docker engine answers a ping within ctx
// (and at most 5 s).
func DockerAvailable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err == nil
}

// ImagePresent reports whether image is in the local Docker image store. It
// never pulls. A missing image is (false, nil); an engine error is an error.
func ImagePresent(ctx context.Context, image string) (bool, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return false, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("docker image inspect %s: %w", image, err)
	}
	return true, nil
}

// setTestcontainersEnv applies DESIGN.md §7 before the first container
// starts, without overriding what the user set.
func setTestcontainersEnv() error {
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

type containerNode struct {
	image   string
	timeout time.Duration
	logger  zerolog.Logger
	ctrs    []*testcontainers.DockerContainer
	addrs   []string
}

var _ node = (*containerNode)(nil)

func startContainers(ctx context.Context, cfg config, n int) (*Server, error) {
	if err := setTestcontainersEnv(); err != nil {
		return nil, fmt.Errorf("memcached container: %w", err)
	}
	quietTestcontainers()
	ctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	image, err := ResolveImage(ctx, cfg.image)
	if err != nil {
		return nil, fmt.Errorf("memcached container: %w", err)
	}
	if present, err := ImagePresent(ctx, image); err != nil {
		return nil, fmt.Errorf("memcached container: %w", err)
	} else if !present {
		return nil, fmt.Errorf("memcached container: %w", &ImageMissingError{Image: image})
	}
	if _, err := sweepOrphans(ctx, cfg.logger); err != nil {
		cfg.logger.Warn().Err(err).Msg("memcached container: could not remove every container left by dead runs")
	}
	cn := &containerNode{image: image, timeout: cfg.startTimeout, logger: cfg.logger}
	for i := range n {
		c, addr, err := cn.startOne(ctx, cfg.memoryMB)
		if err != nil {
			cerr := cn.close(context.WithoutCancel(ctx))
			return nil, errors.Join(fmt.Errorf("memcached container %d/%d: %w", i+1, n, err), cerr)
		}
		cn.ctrs = append(cn.ctrs, c)
		cn.addrs = append(cn.addrs, addr)
	}
	desc := fmt.Sprintf("container (%s) at %s", image, strings.Join(cn.addrs, ","))
	if n > 1 {
		desc = fmt.Sprintf("container x%d (%s) at %s", n, image, strings.Join(cn.addrs, ","))
	}
	return &Server{kind: KindContainer, desc: desc, image: image, addrs: append([]string(nil), cn.addrs...), node: cn}, nil
}

// ResolveImage returns the container image to run: image when not empty,
// else $UPLOADONCE_MEMCACHED_IMAGE when set, else LocalImage when the
// Docker engine has it, else DefaultImage. It never pulls.
func ResolveImage(ctx context.Context, image string) (string, error) {
	return chooseImage(image, os.Getenv(ImageEnv), func() (bool, error) { return ImagePresent(ctx, LocalImage) })
}

func chooseImage(image, env string, localPresent func() (bool, error)) (string, error) {
	switch {
	case image != "":
		return image, nil
	case env != "":
		return env, nil
	}
	present, err := localPresent()
	if err != nil {
		return "", err
	}
	if present {
		return LocalImage, nil
	}
	return DefaultImage, nil
}

var quietOnce sync.Once

// quietTestcontainers silences the banner testcontainers prints through its
// package-level logger when it first connects to Docker ("Connected to
// docker: ...", about 10 lines per process). Each container's own messages
// still reach the configured logger at debug level (tcLogger). The setting is
// global, so it is made once, before any container starts.
func quietTestcontainers() {
	quietOnce.Do(func() { tclog.SetDefault(tclog.NewNoopLogger()) })
}

// portTaken reports whether Docker failed to publish a port because the host
// port is in use. The Docker API says so only in its message text.
func portTaken(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

// asPortTaken wraps a Docker port conflict so that callers can test it with
// errors.Is(err, syscall.EADDRINUSE).
func asPortTaken(err error) error {
	if err != nil && portTaken(err) && !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (%w)", err, syscall.EADDRINUSE)
	}
	return err
}

// startOne starts a container whose 11211/tcp is published on a host port
// chosen here, on 127.0.0.1 only, so that a restart keeps the address.
func (cn *containerNode) startOne(ctx context.Context, memoryMB int) (*testcontainers.DockerContainer, string, error) {
	var lastErr error
	for range processStartAttempts {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, "", err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ctrPort := network.MustParsePort(memcachedPort)
		c, err := testcontainers.Run(ctx, cn.image,
			testcontainers.WithLogger(tcLogger{cn.logger}),
			testcontainers.WithLabels(ownerLabels(runID, os.Getpid())),
			testcontainers.WithCmd("-m", strconv.Itoa(memoryMB), "-U", "0", "-c", "4096"),
			testcontainers.WithExposedPorts(memcachedPort),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{ctrPort: {{
					HostIP:   netip.MustParseAddr("127.0.0.1"),
					HostPort: strconv.Itoa(port),
				}}}
			}),
			testcontainers.WithWaitStrategyAndDeadline(cn.timeout, versionWait{addr: addr}),
		)
		if err == nil {
			cn.logger.Info().Str("id", shortID(c.GetContainerID())).Str("addr", addr).Str("image", cn.image).Msg("memcached container ready")
			return c, addr, nil
		}
		lastErr = asPortTaken(err)
		if c != nil {
			_ = c.Terminate(context.WithoutCancel(ctx))
		}
		// Docker cannot publish a port it did not choose without this race,
		// and a port Docker chooses would change on restart: a lost race for
		// the host port, and only that, is worth another port.
		if ctx.Err() != nil || !errors.Is(lastErr, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, "", lastErr
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (cn *containerNode) restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	var errs []error
	grace := 2 * time.Second
	for i, c := range cn.ctrs {
		if err := c.Stop(ctx, &grace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", cn.addrs[i], err))
			continue
		}
		// Start runs the wait strategy again, so the node answers on return.
		// Another process may have taken the host port meanwhile: retry it.
		if err := retryInUse(ctx, func() error { return asPortTaken(c.Start(ctx)) }); err != nil {
			errs = append(errs, fmt.Errorf("start %s: %w", cn.addrs[i], err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("memcached container restart: %w", err)
	}
	return nil
}

func (cn *containerNode) close(ctx context.Context) error {
	var errs []error
	for _, c := range cn.ctrs {
		if err := c.Terminate(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	cn.ctrs = nil
	return errors.Join(errs...)
}

// versionWait is ready when memcached answers `version` on addr. The image
// has no shell, so testcontainers' port strategies (which exec into the
// container) cannot be used.
type versionWait struct{ addr string }

var _ wait.Strategy = versionWait{}

func (w versionWait) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	alive := func() error {
		st, err := target.State(ctx)
		if err != nil {
			return err
		}
		if !st.Running {
			return fmt.Errorf("container is %s (exit code %d)", st.Status, st.ExitCode)
		}
		return nil
	}
	_, err := waitReady(ctx, w.addr, alive)
	return err
}

// tcLogger sends testcontainers' messages to zerolog at debug level.
type tcLogger struct{ l zerolog.Logger }

var _ tclog.Logger = tcLogger{}

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug().Str("component", "testcontainers").Msgf(strings.TrimSpace(format), v...)
}

var _ pauser = (*containerNode)(nil)

// pause runs docker pause on every container of the node.
func (cn *containerNode) pause(ctx context.Context) error { return cn.each(ctx, true) }

// resume runs docker unpause.
func (cn *containerNode) resume(ctx context.Context) error { return cn.each(ctx, false) }

func (cn *containerNode) each(ctx context.Context, pause bool) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	var errs []error
	for i, c := range cn.ctrs {
		if pause {
			_, err = cli.ContainerPause(ctx, c.GetContainerID(), client.ContainerPauseOptions{})
		} else {
			_, err = cli.ContainerUnpause(ctx, c.GetContainerID(), client.ContainerUnpauseOptions{})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cn.addrs[i], err))
		}
	}
	return errors.Join(errs...)
}
