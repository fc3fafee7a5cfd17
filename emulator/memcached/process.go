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
	"strconv"
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
	cmd  *exec.Cmd
	done chan struct{} // closed after Wait returns
	err  error         // Wait's result, valid after done
}

func startProcess(ctx context.Context, cfg config) (*Server, error) {
	bin, err := findMemcachedBinary()
	if err != nil {
		return nil, fmt.Errorf("memcached process: %w", err)
	}
	n := &processNode{bin: bin, memoryMB: cfg.memoryMB, timeout: cfg.startTimeout, logger: cfg.logger}
	// A free port can be taken between probing and memcached's bind; try a
	// few ports before giving up.
	var lastErr error
	for range 3 {
		if n.port, err = freeLoopbackPort(); err != nil {
			return nil, fmt.Errorf("memcached process: %w", err)
		}
		if lastErr = n.start(ctx); lastErr == nil {
			addr := n.addr()
			return &Server{
				kind:  KindProcess,
				desc:  fmt.Sprintf("process (%s) at %s", bin, addr),
				addrs: []string{addr},
				node:  n,
			}, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("memcached process: %w", lastErr)
}

func (n *processNode) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
}

func (n *processNode) args() []string {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(n.port), "-U", "0",
		"-m", strconv.Itoa(n.memoryMB), "-c", "4096"}
	if os.Geteuid() == 0 {
		// memcached refuses to run as root without -u.
		args = append(args, "-u", "nobody")
	}
	return args
}

// start runs memcached and waits until it answers version.
func (n *processNode) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	// Not CommandContext: the process must outlive ctx.
	cmd := exec.Command(n.bin, n.args()...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.bin, err)
	}
	p := &runningProcess{cmd: cmd, done: make(chan struct{})}
	logger := n.logger.With().Int("pid", cmd.Process.Pid).Str("addr", n.addr()).Logger()
	var logged sync.WaitGroup
	logged.Add(1)
	go func() {
		defer logged.Done()
		logLines(stderr, logger)
	}()
	go func() {
		logged.Wait() // Wait closes the pipe; read it to the end first.
		p.err = cmd.Wait()
		close(p.done)
	}()
	alive := func() error {
		select {
		case <-p.done:
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
	logger.Info().Str("version", v).Strs("args", n.args()).Msg("memcached process ready")
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return nil
}

func logLines(r io.Reader, logger zerolog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		logger.Warn().Str("stderr", sc.Text()).Msg("memcached process")
	}
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
	if err := n.start(ctx); err != nil {
		return fmt.Errorf("memcached process restart on %s: %w", n.addr(), err)
	}
	return nil
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
