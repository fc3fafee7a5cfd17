package memcached

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Embedded server limits and defaults. They follow memcached 1.6.
const (
	// DefaultEmbeddedAddr listens on a free loopback port.
	DefaultEmbeddedAddr = "127.0.0.1:0"
	// DefaultMaxItemSize is memcached's -I: key, value and item header
	// together. Larger values get "SERVER_ERROR object too large for cache".
	DefaultMaxItemSize = 1 << 20
	// DefaultEmbeddedMaxBytes is memcached's -m 64 in bytes.
	DefaultEmbeddedMaxBytes = int64(DefaultMemoryMB) << 20
	// MaxKeyLength is memcached's key limit in bytes.
	MaxKeyLength = 250
	// MaxCommandLine bounds a command line, "\r\n" included. A longer line
	// gets "CLIENT_ERROR line too long" and the connection is closed.
	MaxCommandLine = 2048
	// EmbeddedVersion is what the embedded server answers to `version`.
	EmbeddedVersion = "1.6.0-uploadonce-embedded"
	// itemOverhead approximates memcached's per-item header, so that the
	// byte limit and the item size limit behave like the real server's.
	itemOverhead = 56
	// relativeExptimeMax is memcached's REALTIME_MAXDELTA (30 days): a
	// larger exptime is an absolute unix time.
	relativeExptimeMax = 60 * 60 * 24 * 30
	// reclaimDepth is how many items at the LRU tail each store examines
	// for expired ones, like the search depth of memcached's lru_pull_tail
	// when it allocates an item.
	reclaimDepth = 5
)

// EmbeddedOption configures [NewEmbedded].
type EmbeddedOption func(*embeddedConfig)

type embeddedConfig struct {
	addr        string
	logger      zerolog.Logger
	clock       Clock
	maxItemSize int
	maxBytes    int64
}

// WithEmbeddedAddr sets the listen address; keep it on loopback.
func WithEmbeddedAddr(addr string) EmbeddedOption {
	return func(c *embeddedConfig) {
		if addr != "" {
			c.addr = addr
		}
	}
}

// WithEmbeddedLogger sets the logger; the default discards.
func WithEmbeddedLogger(l zerolog.Logger) EmbeddedOption {
	return func(c *embeddedConfig) { c.logger = l }
}

// WithEmbeddedClock sets the clock that judges expiry; nil keeps real time.
func WithEmbeddedClock(clk Clock) EmbeddedOption {
	return func(c *embeddedConfig) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithEmbeddedMaxItemSize sets the item size limit (memcached -I); values
// <= 0 keep DefaultMaxItemSize.
func WithEmbeddedMaxItemSize(n int) EmbeddedOption {
	return func(c *embeddedConfig) {
		if n > 0 {
			c.maxItemSize = n
		}
	}
}

// WithEmbeddedMaxBytes sets the memory limit (memcached -m) before LRU
// eviction; 0 means unlimited, negative keeps DefaultEmbeddedMaxBytes.
func WithEmbeddedMaxBytes(n int64) EmbeddedOption {
	return func(c *embeddedConfig) {
		if n >= 0 {
			c.maxBytes = n
		}
	}
}

// Stats are the embedded server's counters, named after memcached's `stats`.
type Stats struct {
	CurrItems           uint64 // items held, including expired ones not yet reclaimed
	TotalItems          uint64 // items ever stored
	Bytes               int64  // bytes held, with a per-item overhead
	LimitMaxBytes       int64  // 0 means unlimited
	CurrConnections     uint64
	TotalConnections    uint64
	RejectedConnections uint64 // refused by SetMaxConns
	CmdGet              uint64 // keys requested by get, gets, gat, gats
	CmdSet              uint64 // storage commands that read their data block
	CmdTouch            uint64
	CmdFlush            uint64
	GetHits             uint64
	GetMisses           uint64
	GetExpired          uint64
	DeleteHits          uint64
	DeleteMisses        uint64
	IncrHits            uint64
	IncrMisses          uint64
	DecrHits            uint64
	DecrMisses          uint64
	CasHits             uint64
	CasBadval           uint64
	CasMisses           uint64
	TouchHits           uint64
	TouchMisses         uint64
	Evictions           uint64 // live items evicted by the memory limit
	Reclaimed           uint64 // expired items removed
	// InternalErrors counts connections closed after a recovered panic. It
	// MUST stay 0; anything else is a bug in the embedded server.
	InternalErrors uint64
}

type item struct {
	key    string
	value  []byte // never modified after the item is linked
	flags  uint32
	exp    time.Time // zero: never expires
	stored time.Time // judged by a delayed flush_all
	cas    uint64
	size   int64
	elem   *list.Element
}

// Embedded is an in-process memcached speaking the text protocol, in the
// spirit of miniredis: a stand-in that needs no binary, judges expiry on an
// injected clock and has fault knobs.
//
// Guarantees:
//  1. Each command is atomic: add, delete, cas and incr of one key from many
//     connections have exactly one winner, as on memcached.
//  2. Replies are memcached's, byte for byte, for the commands it knows:
//     get gets gat gats set add replace append prepend cas delete touch incr
//     decr flush_all version verbosity stats quit.
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
type Embedded struct {
	cfg  embeddedConfig
	done chan struct{}

	mu      sync.Mutex
	items   map[string]*item
	lru     *list.List // front is most recently used
	bytes   int64
	lastCAS uint64
	flushAt time.Time // a pending delayed flush_all; zero when none
	started time.Time
	st      Stats // counters other than connection and derived ones

	latency  atomic.Int64 // time.Duration
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

// NewEmbedded returns a server that is not yet listening; call Start.
func NewEmbedded(opts ...EmbeddedOption) *Embedded {
	cfg := embeddedConfig{
		addr:        DefaultEmbeddedAddr,
		logger:      zerolog.Nop(),
		clock:       realClock{},
		maxItemSize: DefaultMaxItemSize,
		maxBytes:    DefaultEmbeddedMaxBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Embedded{
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
func (e *Embedded) Start(ctx context.Context) error {
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
func (e *Embedded) Addr() string {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Close stops listening, closes every connection and waits for their
// goroutines. It is idempotent.
func (e *Embedded) Close() error {
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

func (e *Embedded) acceptLoop(ln net.Listener) {
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
func (e *Embedded) ServeConn(c net.Conn) {
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
// the same address and CAS ids keep increasing.
func (e *Embedded) Restart() {
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
func (e *Embedded) FlushAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.CmdFlush++
	e.dropAllLocked()
	e.flushAt = time.Time{}
}

// SetLatency delays the handling of every following command by d; 0 removes
// the delay.
func (e *Embedded) SetLatency(d time.Duration) { e.latency.Store(int64(max(d, 0))) }

// Pause stops answering, like a SIGSTOPped memcached: connections stay open
// and commands wait (clients time out) until Resume.
func (e *Embedded) Pause() {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if e.resumed == nil {
		e.resumed = make(chan struct{})
	}
}

// Resume answers again; waiting commands run.
func (e *Embedded) Resume() {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if e.resumed != nil {
		close(e.resumed)
		e.resumed = nil
	}
}

// waitUnpaused blocks while paused; false when the server closes meanwhile.
func (e *Embedded) waitUnpaused() bool {
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
func (e *Embedded) SetMaxConns(n int) {
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
func (e *Embedded) SetMaxBytes(n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.maxBytes = max(n, 0)
	e.evictLocked(0, e.cfg.clock.Now())
}

// Stats returns a snapshot of the counters.
func (e *Embedded) Stats() Stats {
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

// --- store (callers hold e.mu) ---

func (e *Embedded) dropAllLocked() {
	clear(e.items)
	e.lru.Init()
	e.bytes = 0
}

func (e *Embedded) expiredLocked(it *item, now time.Time) bool {
	if !it.exp.IsZero() && !now.Before(it.exp) {
		return true
	}
	return !e.flushAt.IsZero() && !now.Before(e.flushAt) && !it.stored.After(e.flushAt)
}

// lookupLocked returns the live item for key, reclaiming an expired one.
func (e *Embedded) lookupLocked(key string, now time.Time) *item {
	it := e.items[key]
	if it == nil {
		return nil
	}
	if e.expiredLocked(it, now) {
		e.unlinkLocked(it)
		e.st.Reclaimed++
		return nil
	}
	return it
}

func (e *Embedded) unlinkLocked(it *item) {
	delete(e.items, it.key)
	e.lru.Remove(it.elem)
	e.bytes -= it.size
}

// reclaimTailLocked unlinks the expired items among the reclaimDepth least
// recently used ones, as memcached does on each item allocation, so that an
// expired item that is never read again is freed by later stores instead of
// being held until eviction. Live items stay where they are: LRU order, and
// so evictions and every reply, are unchanged. It costs O(1) per store. A
// live item at the tail holds back the expired ones beyond the window until
// it expires, is read (and so moves to the front) or is evicted; memcached's
// LRU crawler, which this server lacks, would find those.
func (e *Embedded) reclaimTailLocked(now time.Time) {
	el := e.lru.Back()
	for range reclaimDepth {
		if el == nil {
			return
		}
		prev := el.Prev() // before unlinking el
		if it := el.Value.(*item); e.expiredLocked(it, now) {
			e.unlinkLocked(it)
			e.st.Reclaimed++
		}
		el = prev
	}
}

// evictLocked frees memory until extra more bytes fit under the limit.
func (e *Embedded) evictLocked(extra int64, now time.Time) {
	if e.cfg.maxBytes <= 0 {
		return
	}
	for e.bytes+extra > e.cfg.maxBytes {
		back := e.lru.Back()
		if back == nil {
			return
		}
		it := back.Value.(*item)
		if e.expiredLocked(it, now) {
			e.st.Reclaimed++
		} else {
			e.st.Evictions++
		}
		e.unlinkLocked(it)
	}
}

// linkLocked stores a new item for key, replacing any old one. It reports
// false when the item can never fit under the memory limit.
func (e *Embedded) linkLocked(key string, value []byte, flags uint32, exp, now time.Time) (*item, bool) {
	size := int64(len(key) + len(value) + itemOverhead)
	if e.cfg.maxBytes > 0 && size > e.cfg.maxBytes {
		return nil, false
	}
	if old := e.items[key]; old != nil {
		e.unlinkLocked(old)
	}
	e.reclaimTailLocked(now)
	e.evictLocked(size, now)
	e.lastCAS++
	it := &item{key: key, value: value, flags: flags, exp: exp, stored: now, cas: e.lastCAS, size: size}
	it.elem = e.lru.PushFront(it)
	e.items[key] = it
	e.bytes += size
	e.st.TotalItems++
	return it, true
}

// expiry converts a memcached exptime to a deadline on now's clock:
// 0 never, negative already expired, above 30 days an absolute unix time,
// else seconds from now.
func expiry(now time.Time, exptime int64) time.Time {
	switch {
	case exptime == 0:
		return time.Time{}
	case exptime < 0:
		return now
	case exptime > relativeExptimeMax:
		return time.Unix(exptime, 0)
	default:
		return now.Add(time.Duration(exptime) * time.Second)
	}
}

type storeMode int

const (
	modeSet storeMode = iota
	modeAdd
	modeReplace
	modeAppend
	modePrepend
	modeCAS
)

var storeModes = map[string]storeMode{
	"set": modeSet, "add": modeAdd, "replace": modeReplace,
	"append": modeAppend, "prepend": modePrepend, "cas": modeCAS,
}

func (e *Embedded) store(mode storeMode, key string, flags uint32, exptime int64, data []byte, casIn uint64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.clock.Now()
	e.st.CmdSet++
	old := e.lookupLocked(key, now)
	exp := expiry(now, exptime)
	switch mode {
	case modeAdd:
		if old != nil {
			e.lru.MoveToFront(old.elem) // memcached bumps the item on a failed add
			return "NOT_STORED"
		}
	case modeReplace:
		if old == nil {
			return "NOT_STORED"
		}
	case modeAppend, modePrepend:
		if old == nil {
			return "NOT_STORED"
		}
		joined := make([]byte, 0, len(old.value)+len(data))
		if mode == modeAppend {
			joined = append(append(joined, old.value...), data...)
		} else {
			joined = append(append(joined, data...), old.value...)
		}
		if len(key)+len(joined)+itemOverhead > e.cfg.maxItemSize {
			return "SERVER_ERROR out of memory storing object"
		}
		data, flags, exp = joined, old.flags, old.exp
	case modeCAS:
		switch {
		case old == nil:
			e.st.CasMisses++
			return "NOT_FOUND"
		case old.cas != casIn:
			e.st.CasBadval++
			return "EXISTS"
		}
		e.st.CasHits++
	}
	if _, ok := e.linkLocked(key, data, flags, exp, now); !ok {
		return "SERVER_ERROR out of memory storing object"
	}
	return "STORED"
}

// tooLarge handles a value over the item size limit: like memcached, a set
// of a too-large value also removes the key's old value.
func (e *Embedded) tooLarge(mode storeMode, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.CmdSet++
	if mode == modeSet {
		if it := e.items[key]; it != nil {
			e.unlinkLocked(it)
		}
	}
}

type hit struct {
	key   string
	flags uint32
	value []byte
	cas   uint64
}

func (e *Embedded) get(keys []string, touch bool, exptime int64) []hit {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.clock.Now()
	hits := make([]hit, 0, len(keys))
	for _, k := range keys {
		e.st.CmdGet++
		if touch {
			e.st.CmdTouch++
		}
		if old := e.items[k]; old != nil && e.expiredLocked(old, now) {
			e.st.GetExpired++
		}
		it := e.lookupLocked(k, now)
		if it == nil {
			e.st.GetMisses++
			if touch {
				e.st.TouchMisses++
			}
			continue
		}
		e.st.GetHits++
		if touch {
			e.st.TouchHits++
			it.exp = expiry(now, exptime)
		}
		e.lru.MoveToFront(it.elem)
		hits = append(hits, hit{key: it.key, flags: it.flags, value: it.value, cas: it.cas})
	}
	return hits
}

func (e *Embedded) delete(key string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	it := e.lookupLocked(key, e.cfg.clock.Now())
	if it == nil {
		e.st.DeleteMisses++
		return "NOT_FOUND"
	}
	e.unlinkLocked(it)
	e.st.DeleteHits++
	return "DELETED"
}

func (e *Embedded) touch(key string, exptime int64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.clock.Now()
	e.st.CmdTouch++
	it := e.lookupLocked(key, now)
	if it == nil {
		e.st.TouchMisses++
		return "NOT_FOUND"
	}
	e.st.TouchHits++
	it.exp = expiry(now, exptime)
	e.lru.MoveToFront(it.elem)
	return "TOUCHED"
}

func (e *Embedded) incrDecr(incr bool, key string, delta uint64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.clock.Now()
	it := e.lookupLocked(key, now)
	if it == nil {
		if incr {
			e.st.IncrMisses++
		} else {
			e.st.DecrMisses++
		}
		return "NOT_FOUND"
	}
	v, ok := parseCounter(it.value)
	if !ok {
		return "CLIENT_ERROR cannot increment or decrement non-numeric value"
	}
	if incr {
		v += delta // wraps at 2^64, as memcached does
		e.st.IncrHits++
	} else {
		v -= min(v, delta) // stops at 0
		e.st.DecrHits++
	}
	s := strconv.FormatUint(v, 10)
	if _, ok := e.linkLocked(key, []byte(s), it.flags, it.exp, now); !ok {
		return "SERVER_ERROR out of memory storing object"
	}
	return s
}

// parseCounter accepts what memcached's strtoull accepts for a stored
// counter: decimal digits, optionally followed by spaces (decr padding).
func parseCounter(b []byte) (uint64, bool) {
	end := len(b)
	for end > 0 && b[end-1] == ' ' {
		end--
	}
	if end == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:end]), 10, 64)
	return v, err == nil
}

func (e *Embedded) flush(delay int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.CmdFlush++
	if delay <= 0 {
		e.dropAllLocked()
		e.flushAt = time.Time{}
		return
	}
	e.flushAt = expiry(e.cfg.clock.Now(), delay)
}

// --- protocol ---

// reply constants: exactly memcached's.
const (
	replyError     = "ERROR"
	replyBadFormat = "CLIENT_ERROR bad command line format"
	replyBadChunk  = "CLIENT_ERROR bad data chunk"
	replyTooLarge  = "SERVER_ERROR object too large for cache"
	replyBadExp    = "CLIENT_ERROR invalid exptime argument"
	replyBadDelta  = "CLIENT_ERROR invalid numeric delta argument"
	replyLineLong  = "CLIENT_ERROR line too long"
	replyDeleteUse = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
)

type session struct {
	e *Embedded
	r *bufio.Reader
	w *bufio.Writer
}

func (e *Embedded) serve(c net.Conn) {
	s := &session{e: e, r: bufio.NewReaderSize(c, MaxCommandLine), w: bufio.NewWriter(c)}
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.writeLine(replyLineLong)
			_ = s.w.Flush()
			return
		}
		if err != nil {
			return // EOF or a closed connection; a partial line is dropped
		}
		// Tokens are copied out of the reader's buffer before a data block
		// is read into it.
		tokens := splitTokens(line)
		if d := time.Duration(e.latency.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-e.done:
				t.Stop()
				return
			}
		}
		if !e.waitUnpaused() {
			return
		}
		if quit := s.dispatch(tokens); quit {
			_ = s.w.Flush()
			return
		}
		// Flush once a pipelined batch is answered, not after each reply.
		if s.r.Buffered() == 0 {
			if err := s.w.Flush(); err != nil {
				return
			}
		}
	}
}

// splitTokens splits a command line on spaces, as memcached does (a tab is
// part of a token), dropping the line end.
func splitTokens(line []byte) []string {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	var out []string
	for i := 0; i < n; {
		for i < n && line[i] == ' ' {
			i++
		}
		j := i
		for j < n && line[j] != ' ' {
			j++
		}
		if j > i {
			out = append(out, string(line[i:j]))
		}
		i = j
	}
	return out
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

func (s *session) writeLine(l string) {
	_, _ = s.w.WriteString(l)
	_, _ = s.w.WriteString("\r\n")
}

// reply writes l unless the command asked for noreply.
func (s *session) reply(noreply bool, l string) {
	if !noreply {
		s.writeLine(l)
	}
}

// dispatch runs one command and reports whether to close the connection.
func (s *session) dispatch(tok []string) (quit bool) {
	if len(tok) == 0 {
		s.writeLine(replyError)
		return false
	}
	switch cmd := tok[0]; cmd {
	case "get", "gets":
		s.get(tok[1:], cmd == "gets", false, 0)
	case "gat", "gats":
		if len(tok) < 3 {
			s.writeLine(replyError)
			return false
		}
		exptime, err := strconv.ParseInt(tok[1], 10, 32)
		if err != nil {
			s.writeLine(replyBadExp)
			return false
		}
		s.get(tok[2:], cmd == "gats", true, exptime)
	case "set", "add", "replace", "append", "prepend", "cas":
		return s.storage(storeModes[cmd], tok)
	case "delete":
		s.delete(tok)
	case "touch":
		s.touch(tok)
	case "incr", "decr":
		s.incrDecr(cmd == "incr", tok)
	case "flush_all":
		s.flushAll(tok)
	case "version":
		s.writeLine("VERSION " + EmbeddedVersion)
	case "verbosity":
		if len(tok) < 2 || len(tok) > 3 {
			s.writeLine(replyError)
			return false
		}
		s.reply(tok[len(tok)-1] == "noreply" && len(tok) == 3, "OK")
	case "stats":
		s.stats(tok[1:])
	case "quit":
		return true
	default:
		s.writeLine(replyError)
	}
	return false
}

func (s *session) get(keys []string, withCAS, touch bool, exptime int64) {
	if len(keys) == 0 {
		s.writeLine(replyError)
		return
	}
	for _, k := range keys {
		if !validKey(k) {
			s.writeLine(replyBadFormat)
			return
		}
	}
	buf := make([]byte, 0, 64)
	for _, h := range s.e.get(keys, touch, exptime) {
		buf = append(buf[:0], "VALUE "...)
		buf = append(buf, h.key...)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, uint64(h.flags), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(h.value)), 10)
		if withCAS {
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, h.cas, 10)
		}
		buf = append(buf, "\r\n"...)
		_, _ = s.w.Write(buf)
		_, _ = s.w.Write(h.value)
		_, _ = s.w.WriteString("\r\n")
	}
	s.writeLine("END")
}

// storage handles set/add/replace/append/prepend/cas:
//
//	<cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]\r\n<data>\r\n
func (s *session) storage(mode storeMode, tok []string) (quit bool) {
	want := 5
	if mode == modeCAS {
		want = 6
	}
	if len(tok) != want && len(tok) != want+1 {
		s.writeLine(replyError)
		return false
	}
	noreply := len(tok) == want+1 && tok[want] == "noreply"
	key := tok[1]
	flags, err1 := strconv.ParseUint(tok[2], 10, 32)
	exptime, err2 := strconv.ParseInt(tok[3], 10, 32)
	vlen, err3 := strconv.ParseInt(tok[4], 10, 32)
	var casIn uint64
	var err4 error
	if mode == modeCAS {
		casIn, err4 = strconv.ParseUint(tok[5], 10, 64)
	}
	// Like memcached, a bad command line does not swallow the data block:
	// the client's data line is then read as a command.
	if !validKey(key) || err1 != nil || err2 != nil || err3 != nil || err4 != nil || vlen < 0 {
		s.reply(noreply, replyBadFormat)
		return false
	}
	if int64(len(key))+vlen+itemOverhead > int64(s.e.cfg.maxItemSize) {
		s.e.tooLarge(mode, key)
		if _, err := io.CopyN(io.Discard, s.r, vlen+2); err != nil {
			return true
		}
		s.reply(noreply, replyTooLarge)
		return false
	}
	data := make([]byte, vlen+2)
	if _, err := io.ReadFull(s.r, data); err != nil {
		return true
	}
	if data[vlen] != '\r' || data[vlen+1] != '\n' {
		s.reply(noreply, replyBadChunk)
		return false
	}
	s.reply(noreply, s.e.store(mode, key, uint32(flags), exptime, data[:vlen:vlen], casIn))
	return false
}

// delete <key> [0] [noreply]; the 0 is a legacy time that memcached still
// accepts.
func (s *session) delete(tok []string) {
	if len(tok) < 2 || len(tok) > 4 {
		s.writeLine(replyError)
		return
	}
	noreply := len(tok) > 2 && tok[len(tok)-1] == "noreply"
	rest := tok[2:]
	if noreply {
		rest = rest[:len(rest)-1]
	}
	if len(rest) > 1 || len(rest) == 1 && rest[0] != "0" {
		s.reply(noreply, replyDeleteUse)
		return
	}
	if !validKey(tok[1]) {
		s.reply(noreply, replyBadFormat)
		return
	}
	s.reply(noreply, s.e.delete(tok[1]))
}

// keyArg checks a "<cmd> <key> <arg> [noreply]" line: it answers ERROR to
// a wrong number of tokens and a bad format to a bad key, and reports
// whether the command goes on.
func (s *session) keyArg(tok []string) (noreply, ok bool) {
	if len(tok) != 3 && len(tok) != 4 {
		s.writeLine(replyError)
		return false, false
	}
	noreply = len(tok) == 4 && tok[3] == "noreply"
	if !validKey(tok[1]) {
		s.reply(noreply, replyBadFormat)
		return noreply, false
	}
	return noreply, true
}

// touch <key> <exptime> [noreply]
func (s *session) touch(tok []string) {
	noreply, ok := s.keyArg(tok)
	if !ok {
		return
	}
	exptime, err := strconv.ParseInt(tok[2], 10, 32)
	if err != nil {
		s.reply(noreply, replyBadExp)
		return
	}
	s.reply(noreply, s.e.touch(tok[1], exptime))
}

// incr|decr <key> <delta> [noreply]
func (s *session) incrDecr(incr bool, tok []string) {
	noreply, ok := s.keyArg(tok)
	if !ok {
		return
	}
	delta, err := strconv.ParseUint(tok[2], 10, 64)
	if err != nil {
		s.reply(noreply, replyBadDelta)
		return
	}
	s.reply(noreply, s.e.incrDecr(incr, tok[1], delta))
}

// flush_all [delay] [noreply]
func (s *session) flushAll(tok []string) {
	if len(tok) > 3 {
		s.writeLine(replyError)
		return
	}
	noreply := len(tok) > 1 && tok[len(tok)-1] == "noreply"
	args := tok[1:]
	if noreply {
		args = args[:len(args)-1]
	}
	var delay int64
	if len(args) == 1 {
		d, err := strconv.ParseInt(args[0], 10, 32)
		if err != nil {
			s.reply(noreply, replyBadFormat)
			return
		}
		delay = d
	} else if len(args) > 1 {
		s.reply(noreply, replyError)
		return
	}
	s.e.flush(delay)
	s.reply(noreply, "OK")
}

func (s *session) stats(args []string) {
	if len(args) == 1 && args[0] == "reset" {
		s.e.mu.Lock()
		s.e.st = Stats{TotalItems: s.e.st.TotalItems}
		s.e.mu.Unlock()
		s.writeLine("RESET")
		return
	}
	if len(args) > 0 {
		s.writeLine(replyError)
		return
	}
	st := s.e.Stats()
	s.e.mu.Lock()
	now := s.e.cfg.clock.Now()
	uptime := int64(now.Sub(s.e.started) / time.Second)
	s.e.mu.Unlock()
	stat := func(name string, v any) { s.writeLine(fmt.Sprintf("STAT %s %v", name, v)) }
	stat("pid", os.Getpid())
	stat("uptime", uptime)
	stat("time", now.Unix())
	stat("version", EmbeddedVersion)
	stat("curr_connections", st.CurrConnections)
	stat("total_connections", st.TotalConnections)
	stat("rejected_connections", st.RejectedConnections)
	stat("cmd_get", st.CmdGet)
	stat("cmd_set", st.CmdSet)
	stat("cmd_flush", st.CmdFlush)
	stat("cmd_touch", st.CmdTouch)
	stat("get_hits", st.GetHits)
	stat("get_misses", st.GetMisses)
	stat("get_expired", st.GetExpired)
	stat("delete_misses", st.DeleteMisses)
	stat("delete_hits", st.DeleteHits)
	stat("incr_misses", st.IncrMisses)
	stat("incr_hits", st.IncrHits)
	stat("decr_misses", st.DecrMisses)
	stat("decr_hits", st.DecrHits)
	stat("cas_misses", st.CasMisses)
	stat("cas_hits", st.CasHits)
	stat("cas_badval", st.CasBadval)
	stat("touch_hits", st.TouchHits)
	stat("touch_misses", st.TouchMisses)
	stat("limit_maxbytes", st.LimitMaxBytes)
	stat("bytes", st.Bytes)
	stat("curr_items", st.CurrItems)
	stat("total_items", st.TotalItems)
	stat("evictions", st.Evictions)
	stat("reclaimed", st.Reclaimed)
	s.writeLine("END")
}
