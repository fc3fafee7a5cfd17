// Package runtimeapi runs a function as Lambda runs one: it serves the
// Lambda Runtime API on loopback and keeps a pool of function processes,
// each an execution environment that handles one invocation at a time.
//
// The protocol is the 2018-06-01 Runtime API for custom runtimes
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
// GET /runtime/invocation/next, POST /runtime/invocation/{id}/response and
// /{id}/error, and POST /runtime/init/error. Each process gets its own
// listener, named by AWS_LAMBDA_RUNTIME_API, so the pool always knows which
// process holds which invocation and can kill exactly that one.
//
// Failures behave as in Lambda's execution environment lifecycle
// (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
// an invocation that outlives the timeout fails with "Task timed out" and
// its process is killed; a process that exits, during init or an
// invocation, fails that invocation and is replaced by a fresh one on the
// next invoke; an init error reported to /init/error fails the invocation
// that was waiting for the environment. Retrying is the caller's business,
// as it is Lambda's asynchronous invoke's, not the environment's.
package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults.
const (
	// DefaultTimeout is the reference's function timeout.
	DefaultTimeout = 10 * time.Second
	// InitTimeout bounds a process's init phase, as Lambda's 10 s does for
	// on-demand functions.
	InitTimeout        = 10 * time.Second
	DefaultConcurrency = 16
	DefaultMemoryMB    = 128
	DefaultRegion      = "us-east-1"
	// MaxResponseBytes is Lambda's payload limit for a synchronous
	// invocation's response (6 MB).
	MaxResponseBytes = 6 << 20
	// maxEventBytes bounds what an error body may hold.
	maxErrorBytes = 1 << 20
)

// Config describes one function. Command is required.
type Config struct {
	// Command is the program and its arguments (see Split).
	Command []string
	// Handler goes into _HANDLER.
	Handler      string
	FunctionName string // "uploadonce-<Handler>" when empty
	MemoryMB     int    // DefaultMemoryMB when zero
	Region       string // DefaultRegion when empty
	Timeout      time.Duration
	Concurrency  int
	// Env is added to the process environment after the Lambda variables,
	// K=V each; a later entry overrides an earlier one with the same K.
	Env []string
	// BaseEnv is the environment every process starts from; a minimal
	// PATH, LANG and TZ when nil.
	BaseEnv []string
	Logger  zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.FunctionName == "" {
		c.FunctionName = "uploadonce-" + c.Handler
	}
	if c.MemoryMB <= 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	return c
}

// Stats counts what the pool did.
type Stats struct {
	Starts         int64 `json:"starts"`
	Invocations    int64 `json:"invocations"`
	FunctionErrors int64 `json:"function_errors"`
	Timeouts       int64 `json:"timeouts"`
	InitErrors     int64 `json:"init_errors"`
	Exits          int64 `json:"exits"`
}

// Pool runs invocations on up to Config.Concurrency processes.
type Pool struct {
	cfg   Config
	log   zerolog.Logger
	slots chan struct{}

	mu     sync.Mutex
	idle   []*environment
	live   map[*environment]struct{}
	nextID int
	stats  Stats
	closed bool
}

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("runtime API pool closed")

// New returns a pool for cfg. Processes start on demand.
func New(cfg Config) (*Pool, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.Join(ErrBadCommand, errors.New("empty command"))
	}
	cfg = cfg.withDefaults()
	return &Pool{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Concurrency),
		live: map[*environment]struct{}{}}, nil
}

// Config returns the effective configuration.
func (p *Pool) Config() Config { return p.cfg }

// Invoke runs one invocation with payload as its event and returns the
// function's response. A failure of the function (an error it reported, a
// timeout, an exit, an init error) is a *FunctionError; other errors come
// from ctx or Close. Invoke waits while every process is busy.
func (p *Pool) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.slots }()
	inv := newInvocation(payload, p.cfg.Timeout)
	for tries := 1; ; tries++ {
		env, err := p.acquire()
		if err != nil {
			return nil, err
		}
		out, err := env.run(ctx, inv)
		p.release(env, err)
		// A warm process that exits between invocations (aws-lambda-go
		// exits after reporting a panic) never received this one: Lambda
		// would run it in a fresh environment, and so do we.
		if errors.Is(err, errNotDelivered) && tries < maxDeliveries {
			continue
		}
		if errors.Is(err, errNotDelivered) {
			err = env.exitError(inv)
		}
		return out, err
	}
}

// maxDeliveries bounds the environments one invocation is offered to.
const maxDeliveries = 3

// errNotDelivered: the process exited before it asked for the invocation.
var errNotDelivered = errors.New("the function process exited before taking the invocation")

// acquire returns an idle environment, or starts one.
func (p *Pool) acquire() (*environment, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		env := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return env, nil
	}
	p.nextID++
	id := p.nextID
	p.stats.Starts++
	p.mu.Unlock()
	env, err := startEnvironment(p, id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		env.stop()
		return nil, ErrClosed
	}
	p.live[env] = struct{}{}
	return env, nil
}

// release puts env back, or retires it when its process is gone.
func (p *Pool) release(env *environment, err error) {
	p.mu.Lock()
	if !errors.Is(err, errNotDelivered) {
		p.stats.Invocations++
	}
	var fe *FunctionError
	if errors.As(err, &fe) {
		p.stats.FunctionErrors++
		switch fe.Cause {
		case CauseTimeout:
			p.stats.Timeouts++
		case CauseInit:
			p.stats.InitErrors++
		case CauseExit:
			p.stats.Exits++
		}
	}
	alive := env.alive() && !p.closed
	if alive {
		p.idle = append(p.idle, env)
	} else {
		delete(p.live, env)
	}
	p.mu.Unlock()
	if !alive {
		env.stop()
	}
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close kills every process and stops their listeners.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	envs := make([]*environment, 0, len(p.live))
	for env := range p.live {
		envs = append(envs, env)
	}
	p.live = map[*environment]struct{}{}
	p.idle = nil
	p.mu.Unlock()
	for _, env := range envs {
		env.stop()
	}
}

// Cause says how an invocation failed.
type Cause string

// Causes of a FunctionError.
const (
	CauseHandler Cause = "handler" // the function posted to /{id}/error
	CauseTimeout Cause = "timeout"
	CauseInit    Cause = "init"
	CauseExit    Cause = "exit"
	CauseTooBig  Cause = "response-too-large"
)

// FunctionError is a failed invocation, as Lambda reports one: the
// function's errorType and errorMessage, or Lambda's own for a timeout or
// an exit.
type FunctionError struct {
	RequestID string `json:"-"`
	Cause     Cause  `json:"-"`
	Type      string `json:"errorType"`
	Message   string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error (%s) in request %s: %s: %s", e.Cause, e.RequestID, e.Type, e.Message)
}

func timeoutError(id string, d time.Duration) *FunctionError {
	return &FunctionError{RequestID: id, Cause: CauseTimeout, Type: "Sandbox.Timedout",
		Message: "Task timed out after " + strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " seconds"}
}
