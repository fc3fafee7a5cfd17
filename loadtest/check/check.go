// Package check judges a run's history against the one-time invariants.
//
// It checks its own assumptions first (every decision belongs to an issued
// key, every answered upload reached the verifier, late uploads were
// refused) and reports failures of them separately: a violated assumption
// means the verdicts below may be wrong. An outcome the client could not see
// (a timeout or transport error) is unknown, never a failure, as porcupine's
// Unknown.
//
// The properties, one field each:
//
//  1. double_accept: a URL had more than one DISTINCT upload accepted (by
//     versionId, else sequencer). An idempotent re-accept of the winner's
//     redelivered event is not a double accept.
//  2. false_reject: a URL's first in-time upload got 2xx, yet no upload was
//     accepted, and no injected fault or documented limit explains it.
//     Explained ones are counted by cause in ExplainedRejects.
//  3. late_accept: an accept of a write S3 completed at or after the URL
//     expired. S3 refuses such uploads, so this must never happen.
//  4. wrong_bytes: accepted/<name> does not hold the first accepted upload's
//     bytes (its ETag differs from the first accepted decision's ETag, or
//     matches no body MD5 the URL's successful uploads sent).
//  5. lost_urls (liveness): a URL's first in-time upload got 2xx, yet no
//     upload was accepted, and neither token loss (restart, flush,
//     eviction, TTL) nor exhausted retries or delivery explain it. Every
//     false_reject is a lost URL; so is a URL lost by the strategy's own
//     design (overwritten-before-copy, or a timed-out claim that took
//     effect and left its retry with nothing to find). A violation for the
//     strategies that owe liveness (onetime.OwesLiveness: cas, versioning,
//     if-none-match); for get-delete and delete it is the reference's known
//     weakness, counted and shown but not failing the run.
//
// Check judges a whole history. A Checker judges a run token by token as
// each becomes final, in memory that does not grow with healthy tokens; the
// two agree.
package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// MaxExamples bounds the example keys of a property.
const MaxExamples = 10

// Property is a count and up to MaxExamples keys that show it.
type Property struct {
	Count    int      `json:"count"`
	Examples []string `json:"examples,omitempty"`
}

func (p *Property) add(key string) {
	p.Count++
	if len(p.Examples) < MaxExamples {
		p.Examples = append(p.Examples, key)
	}
}

// Linearizability verdicts.
const (
	Linearizable    = "true"
	NotLinearizable = "false"
	LinUnknown      = "unknown"
)

// Explained-reject causes. A URL owed an accept that got none is a
// false_reject violation unless one of these explains it.
const (
	// CauseTokenLost + memcached-restart or memcached-flush: the token was
	// issued before the fault and claimed after it (hazard 6).
	CauseTokenLost = "token-lost-to-" // + fault kind
	// CauseNodeChange: the token was issued before a node was added to or
	// removed from the cluster and claimed after it: the clients, once
	// they rediscovered the nodes, looked for it on a node that does not
	// hold it (or it went with the removed node).
	CauseNodeChange = CauseTokenLost + "node-change"
	// CauseTokenEvicted: the token was missing while memcached was under
	// memory pressure: an injected memory limit, or evictions the server
	// reported during the run (hazard 6).
	CauseTokenEvicted = "token-lost-to-eviction"
	// CauseTokenTTL: the event reached the verifier after the token's TTL
	// (token-expired, or a miss once the run clock passed the TTL; hazard 5).
	CauseTokenTTL = "event-after-token-ttl"
	// CauseMemcachedUnavailable + memcached-pause, -latency or -conn-limit:
	// every attempt failed closed on an infrastructure error while the
	// fault was in force and the retries ran out, or a timed-out claim took
	// effect after the client gave up and the retry found the token gone.
	CauseMemcachedUnavailable = "memcached-unavailable-" // + fault kind
	// CauseRetriesExhausted: every attempt failed (function errors or
	// infrastructure errors without an injected memcached fault) and
	// Lambda's retries ran out.
	CauseRetriesExhausted = "retries-exhausted"
	// CauseEventDropped: the event was older than the maximum event age.
	CauseEventDropped = "event-dropped-max-age"
	// CauseOverwritten is hazard 3: a later upload replaced the object
	// before the winner's copy, and the verifier refused to accept bytes it
	// did not announce. It fails closed by design.
	CauseOverwritten = "overwritten-before-copy"
)

// Assumption names.
const (
	AssumeDecisionKeyIssued = "decision-for-unissued-key"
	// AssumeDecisionAfterFinal: a decision came for an issued key after
	// the engine had settled its window and judged the token.
	AssumeDecisionAfterFinal = "decision-after-token-final"
	AssumeEventPerUpload     = "2xx-upload-without-event"
	AssumeLateRefused        = "late-upload-not-refused"
	AssumeAcceptHasDelivery  = "accept-without-delivery"
	AssumeUploadHasOutcome   = "upload-without-outcome"
	AssumeAcceptedObjectHead = "accepted-object-missing"
)

// Counts add up what the history holds.
type Counts struct {
	Tokens      int `json:"tokens"`       // tokens the run tried to issue, less the throttled
	Throttled   int `json:"throttled"`    // issue calls refused with 429 (a usage plan's limit)
	IssueErrors int `json:"issue_errors"` // of which the issue failed
	Uploads     int `json:"uploads"`      // uploads sent
	OK          int `json:"ok"`           // uploads answered 2xx
	Late        int `json:"late"`         // uploads sent after their URL expired
	Errors      int `json:"errors"`       // uploads without an answer (unknown)
	Deliveries  int `json:"deliveries"`
	Decisions   int `json:"decisions"`
	// Accepted counts distinct uploads accepted (re-accepts of a redelivered
	// winner count once); Rejected counts final rejections (not the
	// fail-closed ones the invoker retries).
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

// Result is the checker's verdict, one field per property.
type Result struct {
	DoubleAccept Property `json:"double_accept"`
	FalseReject  Property `json:"false_reject"`
	LateAccept   Property `json:"late_accept"`
	WrongBytes   Property `json:"wrong_bytes"`
	// LostURLs is the liveness property (5); it includes FalseReject.
	LostURLs Property `json:"lost_urls"`
	// LivenessOwed says whether LostURLs fails the run: the run's strategy
	// owes liveness. Finish sets it from the history's meta.
	LivenessOwed bool `json:"liveness_owed"`
	// Unknown counts URLs whose outcome the client could not see (transport
	// errors, failed issues, a cut-short run) and that were not accepted.
	Unknown Property `json:"unknown"`
	// ExplainedRejects are would-be false rejects with a known cause.
	ExplainedRejects map[string]*Property `json:"explained_rejects"`
	// Assumptions lists the checker's own assumptions that failed.
	Assumptions map[string]*Property `json:"assumptions"`
	// Linearizable is the porcupine verdict on the token store, per key a
	// one-shot register: "true", "false" or "unknown" (checker timed out).
	Linearizable    string   `json:"linearizable"`
	NonLinearizable Property `json:"non_linearizable"`
	Counts          Counts   `json:"counts"`
	// FirstIssueErr and FirstUploadErr are the first failed issue and the
	// first upload without an answer, in the order tokens were judged: the
	// cause an inconclusive verdict names.
	FirstIssueErr  string `json:"first_issue_error,omitempty"`
	FirstUploadErr string `json:"first_upload_error,omitempty"`
}

// Inconclusive says why the run tested too little to be judged, or ""
// when its coverage is enough: no URL issued, more issue calls or uploads
// failed than maxErrorRate allows, or no URL got a decidable outcome. It
// is judged before safety: a run that tested nothing must never pass.
func (r *Result) Inconclusive(maxErrorRate float64) string {
	c := r.Counts
	first := func(err string) string {
		if err == "" {
			return ""
		}
		return " (first: " + err + ")"
	}
	switch {
	case c.Tokens == 0:
		return "no URL was issued"
	case float64(c.IssueErrors) > maxErrorRate*float64(c.Tokens):
		return fmt.Sprintf("%d of %d issue calls failed%s", c.IssueErrors, c.Tokens, first(r.FirstIssueErr))
	case c.Uploads > 0 && float64(c.Errors) > maxErrorRate*float64(c.Uploads):
		return fmt.Sprintf("%d of %d uploads got no answer%s", c.Errors, c.Uploads, first(r.FirstUploadErr))
	case r.Unknown.Count >= c.Tokens:
		return fmt.Sprintf("none of %d URLs got a decidable outcome", c.Tokens)
	}
	return ""
}

// Violations returns the sum of the four violation counts.
func (r *Result) Violations() int {
	return r.DoubleAccept.Count + r.FalseReject.Count + r.LateAccept.Count + r.WrongBytes.Count
}

// OK reports that no invariant was violated (lost URLs only when the
// strategy owes liveness), the assumptions held and the store history is
// not known to be non-linearizable.
func (r *Result) OK() bool {
	return r.Violations() == 0 && (!r.LivenessOwed || r.LostURLs.Count == 0) && len(r.Assumptions) == 0 &&
		r.Linearizable != NotLinearizable
}

func bump(m map[string]*Property, name, key string) {
	p := m[name]
	if p == nil {
		p = &Property{}
		m[name] = p
	}
	p.add(key)
}

// Options tune Check. The zero value works.
type Options struct {
	// LinearizabilityTimeout bounds porcupine; DefaultLinearizabilityTimeout
	// when zero.
	LinearizabilityTimeout time.Duration
}

// DefaultLinearizabilityTimeout bounds the porcupine check of a run.
const DefaultLinearizabilityTimeout = 20 * time.Second

// Check judges h.
func Check(h *history.Run, opts ...Options) Result {
	c := NewChecker(opts...)
	for _, t := range h.Tokens {
		c.Add(t)
	}
	return c.Finish(h)
}

// Checker judges a run token by token, as each token's history becomes
// final, so that a run of any size is checked in bounded memory: it keeps
// counts, examples, and only the tokens whose verdict waits on facts known
// at the end of the run (faults and evictions recorded later, the dropped
// and exhausted event counters, a cut-short run). A healthy token is judged
// in Add and forgotten; see needsRunFacts for the others. Check(h) and a
// Checker fed the same tokens give the same Result.
type Checker struct {
	res      Result
	lin      linChecker
	deferred []*history.Token
}

// NewChecker returns an empty checker.
func NewChecker(opts ...Options) *Checker {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.LinearizabilityTimeout <= 0 {
		o.LinearizabilityTimeout = DefaultLinearizabilityTimeout
	}
	return &Checker{res: Result{ExplainedRejects: map[string]*Property{}, Assumptions: map[string]*Property{}},
		lin: linChecker{budget: o.LinearizabilityTimeout}}
}

// Add judges t, whose history must be final: no decision for its key may
// follow. The checker does not keep t unless its verdict needs the run's
// end (then it must not change either).
func (c *Checker) Add(t *history.Token) {
	c.lin.add(t)
	if needsRunFacts(t) {
		c.deferred = append(c.deferred, t)
		return
	}
	checkToken(&history.Meta{}, t, &c.res)
}

// Finish judges the tokens that waited for the run's end with h's meta,
// counts h's orphans, and returns the result. It does not read h.Tokens:
// Add them first. The checker must not be used afterwards.
func (c *Checker) Finish(h *history.Run) Result {
	res := &c.res
	for i, key := range h.OrphanKeys {
		name := AssumeDecisionKeyIssued
		if i < len(h.OrphanLate) && h.OrphanLate[i] {
			name = AssumeDecisionAfterFinal
		}
		bump(res.Assumptions, name, key)
	}
	res.Counts.Decisions += len(h.OrphanDecision)
	res.Counts.Deliveries += h.OrphanDelivery
	for _, t := range c.deferred {
		checkToken(&h.Meta, t, res)
	}
	c.deferred = nil
	res.LivenessOwed = onetime.OwesLiveness(h.Meta.Strategy)
	res.Linearizable, res.NonLinearizable = c.lin.verdict(&h.Meta)
	return *res
}

// needsRunFacts reports whether t's verdict depends on what is known only
// at the end of the run; checkToken reads the meta only for such tokens.
func needsRunFacts(t *history.Token) bool {
	if t.IssueErr != "" || t.Key == "" {
		return false
	}
	anyOK := false
	for _, u := range t.Uploads {
		if u.Sent == 0 && u.Status == 0 && u.Err == "" {
			return true // never sent: fine only in a cut-short run
		}
		anyOK = anyOK || (u.Err == "" && u.OK())
	}
	if anyOK && len(t.Deliveries) == 0 {
		return true // explained only by dropped events or a cut-short run
	}
	if slices.ContainsFunc(t.Decisions, history.Decision.Accepted) {
		return t.AcceptedETag == "" // explained only by a cut-short run
	}
	// Nothing accepted: owed an accept? Then explain() reads the faults.
	first := firstInTime(t)
	return first != nil && first.Err == "" && first.OK()
}

// firstInTime returns the first upload sent before the URL expired, nil
// when there is none.
func firstInTime(t *history.Token) *history.Upload {
	var first *history.Upload
	for i := range t.Uploads {
		u := &t.Uploads[i]
		if u.Late || (u.Sent == 0 && u.Status == 0 && u.Err == "") {
			continue
		}
		if first == nil || u.Sent < first.Sent {
			first = u
		}
	}
	return first
}

func checkToken(m *history.Meta, t *history.Token, res *Result) {
	c := &res.Counts
	if t.Throttled {
		c.Throttled++ // refused by a usage plan: nothing was issued
		return
	}
	c.Tokens++
	c.Deliveries += len(t.Deliveries)
	c.Decisions += len(t.Decisions)
	if t.IssueErr != "" || t.Key == "" {
		c.IssueErrors++
		if res.FirstIssueErr == "" {
			res.FirstIssueErr = cmp.Or(t.IssueErr, "no key in the grant")
		}
		res.Unknown.add(cmp.Or(t.Key, "(issue failed: "+t.IssueErr+")"))
		return
	}
	okMD5, unknown := countUploads(m, t, res)
	if judgeAccepts(m, t, okMD5, res) {
		return
	}
	judgeMissing(m, t, unknown, res)
}

// countUploads counts a token's uploads and checks the assumptions about
// them. It returns the MD5s of the uploads S3 took, and whether an
// upload's outcome is unknown.
func countUploads(m *history.Meta, t *history.Token, res *Result) (okMD5 []string, unknown bool) {
	c := &res.Counts
	name := t.Key
	anyOK := false
	unknown = m.Partial
	for _, u := range t.Uploads {
		if u.Sent == 0 && u.Status == 0 && u.Err == "" {
			if !m.Partial {
				bump(res.Assumptions, AssumeUploadHasOutcome, name)
			}
			continue // never sent: the run was cut short
		}
		c.Uploads++
		switch {
		case u.Err != "":
			c.Errors++
			unknown = true
			if res.FirstUploadErr == "" {
				res.FirstUploadErr = u.Err
			}
		case u.OK():
			c.OK++
			anyOK = true
			okMD5 = append(okMD5, u.BodyMD5) // few uploads per URL: a slice beats a map
		}
		if u.Late {
			c.Late++
			if u.OK() {
				bump(res.Assumptions, AssumeLateRefused, name)
			}
		}
	}
	eventsSeen := m.GroundTruth == nil || !m.GroundTruth.EventsUnseen
	if anyOK && len(t.Deliveries) == 0 && m.EventsDropped == 0 && !m.Partial && eventsSeen {
		bump(res.Assumptions, AssumeEventPerUpload, name)
	}
	return okMD5, unknown
}

// judgeAccepts judges a token's accepts: double, late, wrong bytes. It
// reports whether anything was accepted.
func judgeAccepts(m *history.Meta, t *history.Token, okMD5 []string, res *Result) bool {
	name := t.Key
	var acceptedIDs []string
	var first *history.Decision
	late := false
	for i := range t.Decisions {
		d := &t.Decisions[i]
		if !d.Accepted() {
			if !d.Retryable {
				res.Counts.Rejected++
			}
			continue
		}
		if first == nil {
			first = d
		}
		id := d.ID()
		if !slices.ContainsFunc(t.Deliveries, func(dl history.Delivery) bool { return dl.ID() == id }) {
			bump(res.Assumptions, AssumeAcceptHasDelivery, name)
		}
		if !slices.Contains(acceptedIDs, id) {
			acceptedIDs = append(acceptedIDs, id)
		}
		if !t.Expires.IsZero() && !d.EventTime.IsZero() && !d.EventTime.Before(t.Expires) {
			late = true
		}
	}
	res.Counts.Accepted += len(acceptedIDs)
	if len(acceptedIDs) > 1 {
		res.DoubleAccept.add(name)
	}
	if late {
		res.LateAccept.add(name)
	}
	if first == nil {
		return false
	}
	switch {
	case t.AcceptedETag == "" && m.Partial:
		// the copy may not have happened before the run was cut
	case t.AcceptedETag == "":
		bump(res.Assumptions, AssumeAcceptedObjectHead, name)
	case t.AcceptedETag != first.ETag || (len(okMD5) > 0 && !slices.Contains(okMD5, t.AcceptedETag)):
		res.WrongBytes.add(name)
	}
	return true
}

// judgeMissing judges a token with nothing accepted: was it owed an
// accept, and is its absence explained?
func judgeMissing(m *history.Meta, t *history.Token, unknown bool, res *Result) {
	name := t.Key
	firstInTime := firstInTime(t)
	switch {
	case firstInTime == nil:
		return // only late uploads, or none: nothing is owed
	case firstInTime.Err != "":
		res.Unknown.add(name)
		return
	case !firstInTime.OK():
		return // refused by S3 (e.g. a bad signature): nothing is owed
	}
	cause, excused := explain(m, t)
	switch {
	case cause == "" && unknown:
		res.Unknown.add(name)
	case cause == "":
		res.FalseReject.add(name)
		res.LostURLs.add(name)
	default:
		bump(res.ExplainedRejects, cause, name)
		if !excused && !unknown {
			res.LostURLs.add(name)
		}
	}
}

// String summarises the result on one line.
func (r *Result) String() string {
	return fmt.Sprintf("double_accept=%d false_reject=%d late_accept=%d wrong_bytes=%d lost_urls=%d unknown=%d linearizable=%s assumptions=%d",
		r.DoubleAccept.Count, r.FalseReject.Count, r.LateAccept.Count, r.WrongBytes.Count, r.LostURLs.Count, r.Unknown.Count,
		r.Linearizable, len(r.Assumptions))
}
