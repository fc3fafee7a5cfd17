package embedded

import (
	"net"
	"time"
)

// Restart emulates a memcached restart: all items and counters are dropped
// and every client connection is closed, but the server keeps listening on
// the same address and CAS ids keep increasing.
func (e *Server) Restart() {
	e.mu.Lock()
	e.dropAllLocked()
	e.flushAt = time.Time{}
	e.st = Stats{}
	e.started = e.cfg.clock.Now()
	e.mu.Unlock()

	e.connMu.Lock()
	for c := range e.conns {
		_ = c.Close()
	}
	e.totalConn, e.rejected = 0, 0
	e.connMu.Unlock()
	e.cfg.logger.Info().Msg("memcached embedded: restarted (data dropped, connections closed)")
}

// FlushAll drops every item now, like `flush_all`.
func (e *Server) FlushAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.CmdFlush++
	e.dropAllLocked()
	e.flushAt = time.Time{}
}

// SetLatency delays the handling of every following command by d; 0 removes
// the delay.
func (e *Server) SetLatency(d time.Duration) { e.latency.Store(int64(max(d, 0))) }

// Pause stops answering, like a SIGSTOPped memcached: connections stay open
// and commands wait (clients time out) until Resume.
func (e *Server) Pause() {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if e.resumed == nil {
		e.resumed = make(chan struct{})
	}
}

// Resume answers again; waiting commands run.
func (e *Server) Resume() {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if e.resumed != nil {
		close(e.resumed)
		e.resumed = nil
	}
}

// waitUnpaused blocks while paused; false when the server closes meanwhile.
func (e *Server) waitUnpaused() bool {
	e.pauseMu.Lock()
	ch := e.resumed
	e.pauseMu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-e.done:
		return false
	}
}

// SetMaxConns refuses connections beyond n with "ERROR Too many open
// connections", as memcached does, and closes the newest open connections
// beyond n. 0 means unlimited.
func (e *Server) SetMaxConns(n int) {
	n = max(n, 0)
	e.maxConns.Store(int64(n))
	if n == 0 {
		return
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	for len(e.conns) > n {
		var newest net.Conn
		var seq uint64
		for c, s := range e.conns {
			if s >= seq {
				newest, seq = c, s
			}
		}
		_ = newest.Close()
		delete(e.conns, newest) // its goroutine's delete is then a no-op
	}
}

// SetMaxBytes sets the memory limit; items are evicted least recently used
// first until the held bytes fit. 0 means unlimited.
func (e *Server) SetMaxBytes(n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.maxBytes = max(n, 0)
	e.evictLocked(0, e.cfg.clock.Now())
}
