package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// invocation is one event on its way through an environment.
type invocation struct {
	id       string
	payload  []byte
	timeout  time.Duration
	deadline time.Time // set when handed to the runtime
	done     chan outcome
	once     sync.Once
}

type outcome struct {
	body []byte
	err  error
}

func newInvocation(payload []byte, timeout time.Duration) *invocation {
	return &invocation{id: newRequestID(), payload: payload, timeout: timeout, done: make(chan outcome, 1)}
}

// finish records the first outcome; later ones are ignored.
func (inv *invocation) finish(o outcome) bool {
	first := false
	inv.once.Do(func() { inv.done <- o; first = true })
	return first
}

// environment is one function process and the Runtime API it talks to.
type environment struct {
	pool *Pool
	id   int
	ln   net.Listener
	srv  *http.Server
	cmd  *exec.Cmd

	handoff chan *invocation // to the runtime's waiting /next
	ready   chan struct{}    // closed at the first /next: init is over
	exited  chan struct{}    // closed when the process has exited

	mu        sync.Mutex
	readyOnce sync.Once
	current   *invocation
	lastID    string // the latest invocation's id, for output that trails it
	initErr   *FunctionError
	exitErr   error
	killed    bool
}

// startEnvironment listens on loopback and starts the function process.
func startEnvironment(p *Pool, id int) (*environment, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	e := &environment{pool: p, id: id, ln: ln, handoff: make(chan *invocation),
		ready: make(chan struct{}), exited: make(chan struct{})}
	e.srv = &http.Server{Handler: e.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()

	cfg := p.cfg
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Env = e.environ()
	cmd.Stdout = &lineLogger{env: e, stream: "stdout"}
	cmd.Stderr = &lineLogger{env: e, stream: "stderr"}
	cmd.WaitDelay = time.Second
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		_ = e.srv.Close()
		return nil, fmt.Errorf("start function %q: %w", cfg.Command[0], err)
	}
	e.cmd = cmd
	p.log.Debug().Int("env", id).Int("pid", cmd.Process.Pid).Str("api", ln.Addr().String()).Msg("function process started")
	go e.wait()
	return e, nil
}

// environ is the process environment Lambda gives a custom runtime
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
// then Config.Env.
func (e *environment) environ() []string {
	cfg := e.pool.cfg
	env := cfg.BaseEnv
	if env == nil {
		env = []string{"PATH=" + orDefault(os.Getenv("PATH"), "/usr/local/bin:/usr/bin:/bin"), "LANG=en_US.UTF-8", "TZ=:UTC"}
	}
	env = append(append([]string(nil), env...),
		"AWS_LAMBDA_RUNTIME_API="+e.ln.Addr().String(),
		"_HANDLER="+cfg.Handler,
		"AWS_LAMBDA_FUNCTION_NAME="+cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_STREAM_NAME=uploadonce/"+strconv.Itoa(e.id),
		"AWS_REGION="+cfg.Region,
		"AWS_DEFAULT_REGION="+cfg.Region,
	)
	return append(env, cfg.Env...)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (e *environment) wait() {
	err := e.cmd.Wait()
	e.mu.Lock()
	e.exitErr = err
	if err == nil {
		e.exitErr = errors.New("exit status 0")
	}
	id := e.lastID
	e.mu.Unlock()
	// Log before announcing the exit: whoever waits for it (Close) may
	// retire the logger.
	e.pool.log.Debug().Int("env", e.id).Str("request_id", id).AnErr("exit", err).Msg("function process exited")
	close(e.exited)
}

// alive reports whether the process runs and has not been killed.
func (e *environment) alive() bool {
	e.mu.Lock()
	killed := e.killed
	e.mu.Unlock()
	if killed {
		return false
	}
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

// stop kills the process (if it still runs) and closes the listener.
func (e *environment) stop() {
	e.kill()
	<-e.exited
	_ = e.srv.Close()
}

func (e *environment) kill() {
	e.mu.Lock()
	e.killed = true
	e.mu.Unlock()
	if e.cmd != nil && e.cmd.Process != nil {
		killProcessGroup(e.cmd)
	}
}

// run hands inv to the runtime and waits for its outcome, killing the
// process when the timeout passes.
func (e *environment) run(ctx context.Context, inv *invocation) ([]byte, error) {
	if err := e.awaitInit(ctx, inv); err != nil {
		return nil, err
	}
	timer := time.NewTimer(inv.timeout)
	defer timer.Stop()
	inv.deadline = time.Now().Add(inv.timeout)
	select {
	case e.handoff <- inv:
	case <-e.exited:
		return nil, errNotDelivered
	case <-timer.C:
		e.kill()
		return nil, timeoutError(inv.id, inv.timeout)
	case <-ctx.Done():
		e.kill()
		return nil, ctx.Err()
	}
	select {
	case o := <-inv.done:
		return o.body, o.err
	case <-e.exited:
		// A runtime may post its error and then exit (aws-lambda-go does
		// after a panic): the posted outcome wins.
		select {
		case o := <-inv.done:
			return o.body, o.err
		default:
		}
		return nil, e.exitError(inv)
	case <-timer.C:
		e.kill()
		e.pool.log.Warn().Str("request_id", inv.id).Dur("timeout", inv.timeout).Msg("function timed out; process killed")
		return nil, timeoutError(inv.id, inv.timeout)
	case <-ctx.Done():
		e.kill()
		return nil, ctx.Err()
	}
}

// awaitInit waits for a new process's first /next, its init error or its
// exit.
func (e *environment) awaitInit(ctx context.Context, inv *invocation) error {
	select {
	case <-e.ready:
		return nil
	default:
	}
	timer := time.NewTimer(InitTimeout)
	defer timer.Stop()
	select {
	case <-e.ready:
		return nil
	case <-e.exited:
	case <-timer.C:
		e.kill()
		<-e.exited
		return &FunctionError{RequestID: inv.id, Cause: CauseInit, Type: "Runtime.InitTimeout",
			Message: "init did not finish within " + InitTimeout.String()}
	case <-ctx.Done():
		e.kill()
		return ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.initErr != nil {
		fe := *e.initErr
		fe.RequestID = inv.id
		return &fe
	}
	return &FunctionError{RequestID: inv.id, Cause: CauseInit, Type: "Runtime.ExitError",
		Message: fmt.Sprintf("RequestId: %s Error: Runtime exited during init: %v", inv.id, e.exitErr)}
}

func (e *environment) exitError(inv *invocation) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &FunctionError{RequestID: inv.id, Cause: CauseExit, Type: "Runtime.ExitError",
		Message: fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.id, e.exitErr)}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
