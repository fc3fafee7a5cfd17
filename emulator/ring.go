package emulator

// ring is a bounded log keeping the newest limit items. Every item gets a
// sequence number, from 1 up, that survives the item's eviction: a cursor
// into the log ("the items from seq N on") stays meaningful as the log
// turns, and the items a reader missed are countable.
type ring[T any] struct {
	buf     []T
	next    int // where the next item goes once the ring is full
	full    bool
	limit   int
	seq     uint64 // sequence number of the newest item; 0 when empty
	dropped uint64 // items evicted so far
}

func newRing[T any](n int) *ring[T] { return &ring[T]{limit: max(n, 1)} }

func (r *ring[T]) add(v T) {
	r.seq++
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.limit
	r.full = true
	r.dropped++
}

// oldest is the sequence number of the oldest item kept.
func (r *ring[T]) oldest() uint64 { return r.seq - uint64(len(r.buf)) + 1 }

// at returns the i-th oldest item kept.
func (r *ring[T]) at(i int) T {
	if r.full {
		return r.buf[(r.next+i)%r.limit]
	}
	return r.buf[i]
}

func (r *ring[T]) items() []T {
	out, _ := r.query(0, 0, nil)
	return out
}

// query returns the items kept with sequence number since or later that
// match (nil: all), oldest first, at most limit of them (<= 0: no limit),
// and the cursor to pass as since for the items after them.
func (r *ring[T]) query(since uint64, limit int, match func(T) bool) ([]T, uint64) {
	first := r.oldest()
	start := 0
	if since > first {
		start = int(min(since-first, uint64(len(r.buf))))
	}
	var out []T
	for i := start; i < len(r.buf); i++ {
		v := r.at(i)
		if match != nil && !match(v) {
			continue
		}
		out = append(out, v)
		if limit > 0 && len(out) == limit {
			return out, first + uint64(i) + 1
		}
	}
	return out, r.seq + 1
}
