package emulator

import (
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// inFlight counts, per object key, the event deliveries not yet finished.
// A delivery is in flight from the moment the queue schedules it (before
// the S3 request that caused it returns) until the queue drops it for its
// age, or until its invocation is final: decided, dropped for age or out of
// retries. The queue's count of a delivery ends only after its sink has
// handed it to the invoker, which counts it from then on, so a key's count
// does not touch zero between the two.
//
// A key's entry is deleted when its count reaches zero, so the map holds
// only keys with events on their way.
type inFlight struct {
	mu    sync.Mutex
	n     map[string]int
	total int
	// zero is closed when a key's count drops to zero; it is made only when
	// someone waits.
	zero chan struct{}
}

var _ s3event.Observer = (*inFlight)(nil)

func newInFlight() *inFlight { return &inFlight{n: make(map[string]int)} }

func keyOf(rec events.S3EventRecord) string { return rec.S3.Object.URLDecodedKey }

// Scheduled counts a delivery the queue will make.
func (f *inFlight) Scheduled(rec events.S3EventRecord) { f.add(keyOf(rec)) }

// Ended ends a delivery the queue made or dropped.
func (f *inFlight) Ended(rec events.S3EventRecord, _ bool) { f.done(keyOf(rec)) }

func (f *inFlight) add(key string) {
	f.mu.Lock()
	f.n[key]++
	f.total++
	f.mu.Unlock()
}

// done ends one delivery of key; a key with nothing in flight is left alone.
func (f *inFlight) done(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.n[key]
	if !ok {
		return
	}
	f.total--
	if c > 1 {
		f.n[key] = c - 1
		return
	}
	delete(f.n, key)
	if f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

// idle reports whether no key has anything in flight, and if not returns a
// channel closed when some key's count next drops to zero.
func (f *inFlight) idle() (bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.total == 0 {
		return true, nil
	}
	return false, f.waitLocked()
}

// firstBusy returns the index of the first key at or after from with
// something in flight, or len(keys), and with a busy key a channel closed
// when some key's count next drops to zero.
func (f *inFlight) firstBusy(keys []string, from int) (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := from; i < len(keys); i++ {
		if f.n[keys[i]] > 0 {
			return i, f.waitLocked()
		}
	}
	return len(keys), nil
}

func (f *inFlight) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total == 0
}

func (f *inFlight) busy(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[key] > 0
}

func (f *inFlight) keys() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.n)
}

func (f *inFlight) waitLocked() <-chan struct{} {
	if f.zero == nil {
		f.zero = make(chan struct{})
	}
	return f.zero
}
