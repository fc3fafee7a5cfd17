package memcached

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// processStopGrace is how long a SIGTERMed memcached may take before SIGKILL.
const processStopGrace = 3 * time.Second

// processNode is a memcached child process on a fixed loopback port.
type processNode struct {
	bin      string
	port     int
	memoryMB int
	timeout  time.Duration
	logger   zerolog.Logger

	mu   sync.Mutex
	proc *runningProcess
}

var _ node = (*processNode)(nil)

type runningProcess struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed after Wait returns
	err      error         // Wait's result, valid after done
	addrUsed bool          // memcached said its address was in use; valid after done
}

// processStartAttempts bounds how often Start picks another port after
// memcached found its port taken.
const processStartAttempts = 5

func startProcess(ctx context.Context, cfg config) (*Server, error) {
	bin, err := findMemcachedBinary()
	if err != nil {
		return nil, fmt.Errorf("memcached process: %w", err)
	}
	n := &processNode{bin: bin, memoryMB: cfg.memoryMB, timeout: cfg.startTimeout, logger: cfg.logger}
	// memcached cannot take a listener from us, so the port is free when
	// picked but may be taken before memcached binds it: on EADDRINUSE, and
	// only then, pick another.
	var lastErr error
	for range processStartAttempts {
		if n.port, err = freeLoopbackPort(); err != nil {
			return nil, fmt.Errorf("memcached process: %w", err)
		}
		lastErr = n.start(ctx)
		if lastErr == nil {
			addr := n.addr()
			return &Server{
				kind:  KindProcess,
				desc:  fmt.Sprintf("process (%s) at %s", bin, addr),
				addrs: []string{addr},
				node:  n,
			}, nil
		}
		if !errors.Is(lastErr, syscall.EADDRINUSE) || ctx.Err() != nil {
			break
		}
		n.logger.Info().Int("port", n.port).Msg("memcached process: port taken before memcached bound it; trying another")
	}
	return nil, fmt.Errorf("memcached process: %w", lastErr)
}

func (n *processNode) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
}

func (n *processNode) args() []string {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(n.port), "-U", "0",
		"-m", strconv.Itoa(n.memoryMB), "-c", "4096"}
	if os.Geteuid() == 0 && !childDropsRoot {
		// memcached refuses to run as root without -u.
		args = append(args, "-u", "nobody")
	}
	return args
}

// start runs memcached and waits until it answers version. An error wraps
// syscall.EADDRINUSE when memcached exited because its port was taken.
func (n *processNode) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	p, err := n.spawn()
	if err != nil {
		return err
	}
	// A probe that reached whoever holds a taken port would wait for its
	// timeout; end it as soon as memcached exits.
	ctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		select {
		case <-p.done:
			stopWatch()
		case <-ctx.Done():
		}
	}()
	alive := func() error {
		select {
		case <-p.done:
			if p.addrUsed {
				return fmt.Errorf("memcached exited during start: %v: %w", p.err, syscall.EADDRINUSE)
			}
			return fmt.Errorf("memcached exited during start: %v", p.err)
		default:
			return nil
		}
	}
	v, err := waitReady(ctx, n.addr(), alive)
	if err != nil {
		p.stop()
		return err
	}
	n.logger.Info().Int("pid", p.cmd.Process.Pid).Str("addr", n.addr()).Str("version", v).Strs("args", n.args()).Msg("memcached process ready")
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return nil
}

// spawn starts the child and the goroutines that log its stderr and reap
// it. The child is started on a goroutine locked to its OS thread until the
// child exits: Pdeathsig fires when the starting thread ends, and Go may
// end a thread that a locked goroutine left, which would kill a healthy
// memcached.
func (n *processNode) spawn() (*runningProcess, error) {
	// Not CommandContext: the process must outlive start's context.
	cmd := exec.Command(n.bin, n.args()...)
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &runningProcess{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		<-p.done
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", n.bin, err)
	}
	logger := n.logger.With().Int("pid", cmd.Process.Pid).Str("addr", n.addr()).Logger()
	go func() {
		// Wait closes the pipe; read it to the end first.
		p.addrUsed = logLines(stderr, logger)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// logLines logs memcached's stderr and reports whether memcached said its
// address was in use. memcached reports a failed bind only as text, as
// "failed to listen on one of interface(s) 127.0.0.1: Address already in
// use" (strerror), then exits with 71.
func logLines(r io.Reader, logger zerolog.Logger) (addrUsed bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(strings.ToLower(line), syscall.EADDRINUSE.Error()) {
			addrUsed = true
		}
		logger.Warn().Str("stderr", line).Msg("memcached process")
	}
	return addrUsed
}

// stop sends SIGTERM, then SIGKILL after processStopGrace, and reaps.
func (p *runningProcess) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(processStopGrace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return nil
}

// restart stops memcached and starts it again on the same port. Another
// process may take the port meanwhile, so a start that finds it in use is
// retried until the start timeout.
func (n *processNode) restart(ctx context.Context) error {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	n.mu.Unlock()
	if p != nil {
		if err := p.stop(); err != nil {
			return fmt.Errorf("memcached process restart: stop: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	err := retryInUse(ctx, func() error { return n.start(ctx) })
	if err != nil {
		return fmt.Errorf("memcached process restart on %s: %w", n.addr(), err)
	}
	return nil
}

// rebindRetryInterval is the pause between attempts to rebind a taken port.
const rebindRetryInterval = 100 * time.Millisecond

// retryInUse runs start until it succeeds, fails for a reason other than
// EADDRINUSE, or ctx ends.
func retryInUse(ctx context.Context, start func() error) error {
	for {
		err := start()
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(rebindRetryInterval):
		}
	}
}

func (n *processNode) close(context.Context) error {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop()
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var _ pauser = (*processNode)(nil)

func (p *processNode) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.proc.cmd.Process == nil {
		return ErrClosed
	}
	return p.proc.cmd.Process.Signal(sig)
}

// pause stops the process and waits until the kernel reports it stopped:
// the signal is asynchronous, and a command sent before the stop lands
// would still be answered.
func (p *processNode) pause(ctx context.Context) error {
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	p.mu.Lock()
	pid := p.proc.cmd.Process.Pid
	p.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil // no procfs: best effort
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'T' || stat[i+2] == 't') {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("memcached process %d did not stop after SIGSTOP", pid)
}
func (p *processNode) resume(context.Context) error { return p.signal(syscall.SIGCONT) }
