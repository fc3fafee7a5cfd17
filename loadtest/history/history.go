// Package history records what a load run did and what the emulated system
// answered, one Token per issued URL, on one monotonic base, so that the
// checker can judge the run and a failing run can be re-checked offline.
//
// Client-side facts (issue, uploads) come from the load generator; the
// server-side log (event deliveries and verifier decisions) comes from the
// emulator's subscriptions and is the ground truth, as etcd's robustness
// tests patch client histories with the WAL.
//
// Every timestamp is nanoseconds since the Recorder's base, read with
// time.Since(base) so that it is monotonic. Server-side stamps are taken
// under the recorder's lock, so their order in a token's slices is the order
// of their timestamps.
//
// A history file is JSON Lines: one meta record, one record per token, one
// per orphan decision. A long run writes token records with a TokenWriter as
// its tokens become final, and WriteWithTokens assembles the file; Read
// takes records in any order.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Upload is one upload of a token as the client saw it.
type Upload struct {
	Index int `json:"i"`
	// At is the plan offset from the token's issue on the run clock.
	At time.Duration `json:"at"`
	// Intended, Sent and Returned are ns since base: when the upload was due,
	// when its request started, and when its answer (or error) came back.
	Intended int64 `json:"intended_ns"`
	Sent     int64 `json:"sent_ns"`
	Returned int64 `json:"returned_ns"`
	// Late is true when the upload was sent at or after the URL's expiry on
	// the run clock: S3 must refuse it.
	Late   bool   `json:"late,omitempty"`
	Status int    `json:"status"`            // 0: no answer
	S3Code string `json:"s3_code,omitempty"` // the S3 error code of a refusal
	// Err is a transport error or timeout: the outcome is unknown.
	Err     string `json:"err,omitempty"`
	BodyMD5 string `json:"md5"` // hex; bodies are never kept
}

// OK reports a 2xx answer.
func (u Upload) OK() bool { return u.Status >= 200 && u.Status < 300 }

// Delivery is one delivery of an S3 event record to the verifier.
type Delivery struct {
	At        int64  `json:"at_ns"`
	Sequencer string `json:"sequencer"`
	ETag      string `json:"etag"`
	VersionID string `json:"version_id,omitempty"`
}

// UploadID names the S3 write a record or decision is about: the versionId
// when the bucket is versioned, else the sequencer.
func UploadID(versionID, sequencer string) string {
	if versionID != "" {
		return versionID
	}
	return sequencer
}

// ID returns UploadID of the delivery.
func (d Delivery) ID() string { return UploadID(d.VersionID, d.Sequencer) }

// Decision is one verifier decision.
type Decision struct {
	At        int64          `json:"at_ns"`
	Decision  string         `json:"decision"`
	Reason    onetime.Reason `json:"reason"`
	Detail    string         `json:"detail,omitempty"`
	ETag      string         `json:"etag"`
	VersionID string         `json:"version_id,omitempty"`
	Sequencer string         `json:"sequencer"`
	EventTime time.Time      `json:"event_time"` // run clock: when S3 finished the write
	// Time is the run clock when the verifier decided; zero in histories
	// written before it was recorded.
	Time       time.Time `json:"time,omitzero"`
	Redelivery bool      `json:"redelivery,omitempty"`
	Retryable  bool      `json:"retryable,omitempty"`
}

// ID returns UploadID of the decision.
func (d Decision) ID() string { return UploadID(d.VersionID, d.Sequencer) }

// Accepted reports an accept.
func (d Decision) Accepted() bool { return d.Decision == onetime.Accepted }

// Token is the history of one issued URL.
type Token struct {
	Key   string `json:"key"`
	Group string `json:"group,omitempty"`
	// IssueIntended, IssueCall and IssueReturn are ns since base.
	IssueIntended int64  `json:"issue_intended_ns"`
	IssueCall     int64  `json:"issue_call_ns"`
	IssueReturn   int64  `json:"issue_return_ns"`
	IssueErr      string `json:"issue_err,omitempty"`
	// Throttled: the issue API refused the call with 429 (a usage plan's
	// limit); the URL was never issued, which is no violation.
	Throttled bool `json:"throttled,omitempty"`
	// Issued and Expires are on the run clock (virtual or real).
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`

	Uploads    []Upload   `json:"uploads"`
	Deliveries []Delivery `json:"deliveries,omitempty"`
	Decisions  []Decision `json:"decisions,omitempty"`
	// AcceptedETag is the ETag of accepted/<name> after the run; "" when
	// there is none.
	AcceptedETag string `json:"accepted_etag,omitempty"`
}

// Fault is an injected fault as it was applied.
type Fault struct {
	Kind string        `json:"kind"`
	At   time.Duration `json:"at"`    // plan offset
	Ns   int64         `json:"at_ns"` // when it was applied, ns since base
	Err  string        `json:"err,omitempty"`
	Note string        `json:"note,omitempty"`
	// Skipped is set when the fault did not apply to the stack (a strategy
	// that keeps no tokens in memcached): Err says why; not a failure.
	Skipped bool `json:"skipped,omitempty"`
}

// Meta describes the run a history belongs to.
type Meta struct {
	Strategy    string        `json:"strategy"`
	Memcached   string        `json:"memcached,omitempty"`
	Clock       string        `json:"clock"`
	Seed        uint64        `json:"seed"`
	URLExpiry   time.Duration `json:"url_expiry"`
	TokenTTL    time.Duration `json:"token_ttl"`
	MaxEventAge time.Duration `json:"max_event_age"`
	Partial     bool          `json:"partial,omitempty"`
	Faults      []Fault       `json:"faults,omitempty"`
	// Server-side counters the checker needs to explain missing decisions.
	EventsDropped    int64 `json:"events_dropped"`    // by max event age (queue or invoker)
	RetriesExhausted int64 `json:"retries_exhausted"` // invocations that failed for good
	FunctionErrors   int64 `json:"function_errors"`
	Coalesced        int64 `json:"coalesced"`
	// GroundTruth is what the decisions come from; nil means the emulator's
	// own log, watched while the run went.
	GroundTruth *GroundTruth `json:"ground_truth,omitempty"`
	// Shard is "I/N" when the run was one of N shards of a plan; Plan is the
	// plan's JSON (the whole plan, also in a shard), PlannedUploads its
	// uploads, for a later re-check.
	Shard          string          `json:"shard,omitempty"`
	Plan           json.RawMessage `json:"plan,omitempty"`
	PlannedUploads int             `json:"planned_uploads,omitempty"`
	MaxErrorRate   float64         `json:"max_error_rate,omitempty"`
}

// GroundTruth says what decided a run's verdict and what it cannot decide.
type GroundTruth struct {
	// Source is "emulator log", "decision log s3://...", "accepted
	// versions s3://..." or "accepted objects s3://...".
	Source string `json:"source"`
	// Unknown maps each property or count the source cannot decide to why.
	Unknown map[string]string `json:"unknown,omitempty"`
	// EventsUnseen: the source shows accepts only, not every event, so an
	// upload S3 took without a decision proves nothing.
	EventsUnseen bool `json:"events_unseen,omitempty"`
}

// Run is a whole run: the meta, every token, and the server-side records
// whose key no token has (the checker treats them as an assumption failure).
// Tokens may be nil when a long run streamed them to a file instead (see
// TokenWriter and WriteWithTokens).
type Run struct {
	Meta           Meta       `json:"meta"`
	Tokens         []*Token   `json:"-"`
	OrphanDecision []Decision `json:"-"`
	OrphanKeys     []string   `json:"-"`
	// OrphanLate marks, per orphan decision, one whose key was issued but
	// whose token had already been released as final (Recorder.Release):
	// the decision came after its window settled. Nil when none did.
	OrphanLate     []bool `json:"-"`
	OrphanDelivery int    `json:"-"`
}

// Recorder attaches the server-side log to the tokens of a run while the
// load runs. It is safe for concurrent use.
//
// It holds a token from Add until Release: a long run releases each window
// of tokens once its decisions are final, so the recorder's memory is
// bounded by the tokens in flight plus 8 bytes per released key (to tell a
// late decision from one for a key never issued).
type Recorder struct {
	base time.Time

	mu       sync.Mutex
	byKey    map[string]*Token
	released map[uint64]struct{} // maphash of released keys
	seed     maphash.Seed
	orphans  []Decision
	orphKey  []string
	orphLate []bool
	orphDel  int
	faults   []Fault
	// accepted tracks, per key in flight, the first accepted upload id, to
	// count double accepts while the run goes (for the progress line).
	accepted map[string]string
	doubles  atomic.Int64
	decided  atomic.Int64
}

// NewRecorder starts the monotonic base now.
func NewRecorder() *Recorder {
	return &Recorder{base: time.Now(), byKey: map[string]*Token{}, released: map[uint64]struct{}{},
		seed: maphash.MakeSeed(), accepted: map[string]string{}}
}

// Now returns ns since base.
func (r *Recorder) Now() int64 { return int64(time.Since(r.base)) }

// At returns the ns since base of a time taken with time.Now().
func (r *Recorder) At(t time.Time) int64 { return int64(t.Sub(r.base)) }

// Add registers an issued token; deliveries and decisions of its key are
// attached from now on. The token belongs to the caller, except for
// Deliveries and Decisions, which only the recorder writes until Release.
func (r *Recorder) Add(t *Token) {
	if t.Key == "" {
		return // a failed issue: nothing can be attached to it
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[t.Key] = t
}

// Release stops attaching records to the tokens: their histories are final
// (the emulator settled) and the caller may check, write and drop them. A
// later decision for one of their keys becomes a late orphan.
func (r *Recorder) Release(ts []*Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		if t.Key == "" {
			continue
		}
		delete(r.byKey, t.Key)
		delete(r.accepted, t.Key)
		r.released[maphash.String(r.seed, t.Key)] = struct{}{}
	}
}

// OnDelivery is the emulator's delivery subscription.
func (r *Recorder) OnDelivery(rec events.S3EventRecord) {
	key := rec.S3.Object.URLDecodedKey
	r.mu.Lock()
	defer r.mu.Unlock()
	d := Delivery{At: r.Now(), Sequencer: rec.S3.Object.Sequencer, ETag: strings.Trim(rec.S3.Object.ETag, `"`),
		VersionID: rec.S3.Object.VersionID}
	if t, ok := r.byKey[key]; ok {
		t.Deliveries = append(t.Deliveries, d)
		return
	}
	r.orphDel++
}

// OnDecision is the emulator's decision subscription.
func (r *Recorder) OnDecision(od onetime.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := Decision{At: r.Now(), Decision: od.Decision, Reason: od.Reason, Detail: od.Detail, ETag: od.ETag,
		VersionID: od.VersionID, Sequencer: od.Sequencer, EventTime: od.EventTime, Time: od.Time,
		Redelivery: od.Redelivery, Retryable: od.Retryable}
	r.decided.Add(1)
	t, ok := r.byKey[od.Key]
	if !ok {
		r.orphans = append(r.orphans, d)
		r.orphKey = append(r.orphKey, od.Key)
		if _, late := r.released[maphash.String(r.seed, od.Key)]; late {
			if r.orphLate == nil {
				r.orphLate = make([]bool, len(r.orphans)-1, len(r.orphans))
			}
			r.orphLate = append(r.orphLate, true)
		} else if r.orphLate != nil {
			r.orphLate = append(r.orphLate, false)
		}
		return
	}
	t.Decisions = append(t.Decisions, d)
	if d.Accepted() {
		first, seen := r.accepted[od.Key]
		switch {
		case !seen:
			r.accepted[od.Key] = d.ID()
		case first != d.ID() && first != "\x00double":
			r.accepted[od.Key] = "\x00double" // count each URL once
			r.doubles.Add(1)
		}
	}
}

// Fault records an applied fault.
func (r *Recorder) Fault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.Ns = r.Now()
	r.faults = append(r.faults, f)
}

// DoubleAccepts returns the URLs seen accepted for two distinct uploads so
// far: the live "violations so far".
func (r *Recorder) DoubleAccepts() int64 { return r.doubles.Load() }

// Decided returns the decisions seen so far.
func (r *Recorder) Decided() int64 { return r.decided.Load() }

// Run returns the meta, the faults and the orphans. Tokens are the
// caller's (see Add) and are not in it. Call it after the load and the
// emulator are quiet.
func (r *Recorder) Run(meta Meta) *Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	meta.Faults = append([]Fault(nil), r.faults...)
	return &Run{Meta: meta, OrphanDecision: append([]Decision(nil), r.orphans...),
		OrphanKeys: append([]string(nil), r.orphKey...), OrphanLate: append([]bool(nil), r.orphLate...), OrphanDelivery: r.orphDel}
}

// Lines of the JSON Lines file: one "meta" line, one line per token, one per
// orphan decision.
type line struct {
	Type     string    `json:"type"`
	Meta     *Meta     `json:"meta,omitempty"`
	Token    *Token    `json:"token,omitempty"`
	Key      string    `json:"key,omitempty"`
	Decision *Decision `json:"decision,omitempty"`
	Late     bool      `json:"late,omitempty"`
	Count    int       `json:"count,omitempty"`
}

// TokenWriter writes token records of the JSON Lines format one at a time,
// so that a long run can stream finished tokens to a file and keep none in
// memory; WriteWithTokens later puts them in a whole history file.
type TokenWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewTokenWriter writes to w; call Flush at the end.
func NewTokenWriter(w io.Writer) *TokenWriter {
	bw := bufio.NewWriterSize(w, 256<<10)
	return &TokenWriter{bw: bw, enc: json.NewEncoder(bw)}
}

// Write appends one token record.
func (tw *TokenWriter) Write(t *Token) error { return tw.enc.Encode(line{Type: "token", Token: t}) }

// Flush writes out what is buffered.
func (tw *TokenWriter) Flush() error { return tw.bw.Flush() }

// Write writes the run as JSON Lines.
func (h *Run) Write(w io.Writer) error { return h.WriteWithTokens(w, nil) }

// WriteWithTokens writes the run as JSON Lines, with the token records a
// TokenWriter wrote to tokens (may be nil) before those of h.Tokens.
func (h *Run) WriteWithTokens(w io.Writer, tokens io.Reader) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(line{Type: "meta", Meta: &h.Meta}); err != nil {
		return err
	}
	if tokens != nil {
		if _, err := bw.ReadFrom(tokens); err != nil {
			return err
		}
	}
	for _, t := range h.Tokens {
		if err := enc.Encode(line{Type: "token", Token: t}); err != nil {
			return err
		}
	}
	for i := range h.OrphanDecision {
		if err := enc.Encode(line{Type: "orphan-decision", Key: h.OrphanKeys[i], Decision: &h.OrphanDecision[i],
			Late: i < len(h.OrphanLate) && h.OrphanLate[i]}); err != nil {
			return err
		}
	}
	if h.OrphanDelivery > 0 {
		if err := enc.Encode(line{Type: "orphan-deliveries", Count: h.OrphanDelivery}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Read reads a run written by Write.
func Read(r io.Reader) (*Run, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.DisallowUnknownFields()
	h := &Run{}
	sawMeta := false
	for n := 1; ; n++ {
		var l line
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("history record %d: %w", n, err)
		}
		switch l.Type {
		case "meta":
			if l.Meta == nil {
				return nil, fmt.Errorf("history record %d: meta without body", n)
			}
			h.Meta, sawMeta = *l.Meta, true
		case "token":
			if l.Token == nil {
				return nil, fmt.Errorf("history record %d: token without body", n)
			}
			h.Tokens = append(h.Tokens, l.Token)
		case "orphan-decision":
			if l.Decision == nil {
				return nil, fmt.Errorf("history record %d: orphan decision without body", n)
			}
			if l.Late && h.OrphanLate == nil {
				h.OrphanLate = make([]bool, len(h.OrphanDecision))
			}
			h.OrphanDecision = append(h.OrphanDecision, *l.Decision)
			h.OrphanKeys = append(h.OrphanKeys, l.Key)
			if h.OrphanLate != nil {
				h.OrphanLate = append(h.OrphanLate, l.Late)
			}
		case "orphan-deliveries":
			h.OrphanDelivery += l.Count
		default:
			return nil, fmt.Errorf("history record %d: unknown type %q", n, l.Type)
		}
	}
	if !sawMeta {
		return nil, errors.New("history has no meta record")
	}
	return h, nil
}

// SortTokens orders tokens by issue call time, for stable files.
func (h *Run) SortTokens() {
	sort.SliceStable(h.Tokens, func(i, j int) bool { return h.Tokens[i].IssueCall < h.Tokens[j].IssueCall })
}
