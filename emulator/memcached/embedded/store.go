package embedded

import (
	"container/list"
	"strconv"
	"time"
)

// --- store (callers hold e.mu) ---

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

func (e *Server) dropAllLocked() {
	clear(e.items)
	e.lru.Init()
	e.bytes = 0
}

func (e *Server) expiredLocked(it *item, now time.Time) bool {
	if !it.exp.IsZero() && !now.Before(it.exp) {
		return true
	}
	return !e.flushAt.IsZero() && !now.Before(e.flushAt) && !it.stored.After(e.flushAt)
}

// lookupLocked returns the live item for key, reclaiming an expired one.
func (e *Server) lookupLocked(key string, now time.Time) *item {
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

func (e *Server) unlinkLocked(it *item) {
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
func (e *Server) reclaimTailLocked(now time.Time) {
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
func (e *Server) evictLocked(extra int64, now time.Time) {
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
func (e *Server) linkLocked(key string, value []byte, flags uint32, exp, now time.Time) (*item, bool) {
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

func (e *Server) store(mode storeMode, key string, flags uint32, exptime int64, data []byte, casIn uint64) string {
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
func (e *Server) tooLarge(mode storeMode, key string) {
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

func (e *Server) get(keys []string, touch bool, exptime int64) []hit {
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

func (e *Server) delete(key string) string {
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

func (e *Server) touch(key string, exptime int64) string {
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

func (e *Server) incrDecr(incr bool, key string, delta uint64) string {
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

func (e *Server) flush(delay int64) {
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
