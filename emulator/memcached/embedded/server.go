package embedded

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Server is an in-process memcached speaking the text protocol, in the
// spirit of miniredis: a stand-in that needs no binary, judges expiry on an
// injected clock and has fault knobs.
//
// Guarantees:
//  1. Each command is atomic: add, delete, cas and incr of one key from many
//     connections have exactly one winner, as on memcached.
//  2. Replies are memcached's, byte for byte, for the commands it knows:
//     get gets gat gats set add replace append prepend cas delete touch incr
//     decr flush_all version verbosity stats quit, and ElastiCache's
//     `config get cluster` (see SetClusterConfig).
//  3. Bad input never stops the server: a bad command gets ERROR or
//     CLIENT_ERROR, and only a framing error (a line over MaxCommandLine,
//     a short data block at EOF) closes that one connection.
//  4. CAS unique ids increase monotonically for the server's lifetime,
//     across Restart, so a stale id never matches a new item.
//
// Differences from memcached: decr does not pad a shorter result with
// spaces; a delayed flush_all judges an item by its store time, not its
// last access; there is no slab allocator, so the memory limit counts
// key+value+56 bytes per item.
//
// All methods are safe for concurrent use.
type Server struct {
	cfg  config
	done chan struct{}

	mu      sync.Mutex
	items   map[string]*item
	lru     *list.List // front is most recently used
	bytes   int64
	lastCAS uint64
	flushAt time.Time // a pending delayed flush_all; zero when none
	started time.Time
	st      Stats // counters other than connection and derived ones

	cluster  atomic.Pointer[ClusterConfig] // nil: a one-node cluster of itself
	latency  atomic.Int64                  // time.Duration
	maxConns atomic.Int64
	pauseMu  sync.Mutex
	resumed  chan struct{} // non-nil while paused; closed by Resume
	panics   atomic.Uint64

	connMu    sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]uint64 // value: accept sequence, to close the newest first
	connSeq   uint64
	totalConn uint64
	rejected  uint64
	closed    bool
	wg        sync.WaitGroup
}

// New returns a server that is not yet listening; call Start.
func New(opts ...Option) *Server {
	cfg := config{
		addr:        DefaultAddr,
		logger:      zerolog.Nop(),
		clock:       realClock{},
		maxItemSize: DefaultMaxItemSize,
		maxBytes:    DefaultMaxBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Server{
		cfg:   cfg,
		done:  make(chan struct{}),
		items: make(map[string]*item),
		lru:   list.New(),
		conns: make(map[net.Conn]uint64),
	}
	e.started = cfg.clock.Now()
	return e
}

// Start listens and serves in the background until Close.
func (e *Server) Start(ctx context.Context) error {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.ln != nil {
		return errors.New("memcached embedded: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.cfg.addr)
	if err != nil {
		return fmt.Errorf("memcached embedded: listen %s: %w", e.cfg.addr, err)
	}
	e.ln = ln
	e.wg.Add(1)
	go e.acceptLoop(ln)
	e.cfg.logger.Info().Str("addr", ln.Addr().String()).Msg("memcached embedded server listening")
	return nil
}

// Addr is the listen address, "" before Start.
func (e *Server) Addr() string {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Close stops listening, closes every connection and waits for their
// goroutines. It is idempotent.
func (e *Server) Close() error {
	e.connMu.Lock()
	if e.closed {
		e.connMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	var err error
	if e.ln != nil {
		err = e.ln.Close()
	}
	for c := range e.conns {
		_ = c.Close()
	}
	e.connMu.Unlock()
	e.wg.Wait()
	return err
}

func (e *Server) acceptLoop(ln net.Listener) {
	defer e.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-e.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.cfg.logger.Warn().Err(err).Msg("memcached embedded: accept")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		e.ServeConn(c)
	}
}

// ServeConn serves the text protocol on c in a new goroutine and closes c
// when done. It is how the listener serves each connection, and lets a
// caller serve any net.Conn (such as one end of net.Pipe). The connection
// counts against SetMaxConns and is closed by Restart and Close.
func (e *Server) ServeConn(c net.Conn) {
	e.connMu.Lock()
	if e.closed {
		e.connMu.Unlock()
		_ = c.Close()
		return
	}
	if limit := e.maxConns.Load(); limit > 0 && int64(len(e.conns)) >= limit {
		e.rejected++
		e.wg.Add(1)
		e.connMu.Unlock()
		go func() {
			defer e.wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, "ERROR Too many open connections\r\n")
			_ = c.Close()
		}()
		return
	}
	e.connSeq++
	e.conns[c] = e.connSeq
	e.totalConn++
	e.wg.Add(1)
	e.connMu.Unlock()
	go func() {
		defer e.wg.Done()
		defer func() {
			e.connMu.Lock()
			delete(e.conns, c)
			e.connMu.Unlock()
			_ = c.Close()
		}()
		defer func() {
			if r := recover(); r != nil {
				e.panics.Add(1)
				e.cfg.logger.Error().Interface("panic", r).Bytes("stack", debug.Stack()).Msg("memcached embedded: internal error; connection closed")
			}
		}()
		e.serve(c)
	}()
}

// Restart emulates a memcached restart: all items and counters are dropped
// and every client connection is closed, but the server keeps listening on

// Stats returns a snapshot of the counters.
func (e *Server) Stats() Stats {
	e.mu.Lock()
	s := e.st
	s.CurrItems = uint64(len(e.items))
	s.Bytes = e.bytes
	s.LimitMaxBytes = e.cfg.maxBytes
	e.mu.Unlock()
	e.connMu.Lock()
	s.CurrConnections = uint64(len(e.conns))
	s.TotalConnections = e.totalConn
	s.RejectedConnections = e.rejected
	e.connMu.Unlock()
	s.InternalErrors = e.panics.Load()
	return s
}
