package check

import (
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// explain returns the cause of a URL's missing accept, "" when none is
// known, and whether the cause excuses the loss for liveness: token loss
// (restart, flush, eviction, TTL) and exhausted retries or delivery do; the
// strategy's own design (an overwritten claim, a timed-out claim that took
// effect before its retry) does not.
func explain(m *history.Meta, t *history.Token) (cause string, excused bool) {
	var missingAt, lastAt int64 = -1, -1
	var missing *history.Decision
	retriedBefore := false // a fail-closed attempt came before the miss
	for _, d := range t.Decisions {
		switch d.Reason {
		case onetime.ReasonTokenExpired:
			return CauseTokenTTL, true
		case onetime.ReasonOverwritten:
			return CauseOverwritten, false
		case onetime.ReasonTokenMissing:
			if missingAt < 0 {
				missingAt, missing = d.At, &d
			}
		}
		if d.Retryable && missingAt < 0 {
			retriedBefore = true
		}
		lastAt = max(lastAt, d.At)
	}
	if missingAt >= 0 {
		if cause := lostCause(m, t, missingAt); cause != "" {
			return cause, true
		}
		if ttlElapsed(m, t, missing) {
			return CauseTokenTTL, true
		}
		if kind := unavailable(m, missingAt); kind != "" && retriedBefore {
			// The token is gone because a claim that timed out took effect:
			// the strategy kept no record of its winner.
			return CauseMemcachedUnavailable + kind, false
		}
		return "", false
	}
	allRetryable := len(t.Decisions) > 0
	for _, d := range t.Decisions {
		allRetryable = allRetryable && d.Retryable
	}
	switch {
	case allRetryable && m.RetriesExhausted > 0:
		if kind := unavailable(m, lastAt); kind != "" {
			return CauseMemcachedUnavailable + kind, true
		}
		return CauseRetriesExhausted, true
	case len(t.Decisions) == 0 && len(t.Deliveries) > 0 && m.RetriesExhausted > 0:
		return CauseRetriesExhausted, true // function errors fail before the verifier decides
	case len(t.Decisions) == 0 && m.EventsDropped > 0:
		return CauseEventDropped, true
	}
	return "", false
}

// lostCause names the fault that dropped t's token before the miss at
// missingAt: the latest restart, flush or node change between the issue and
// the miss, else an injected memory limit in force by then, else evictions
// the server reported during the run.
func lostCause(m *history.Meta, t *history.Token, missingAt int64) string {
	kind, evicted := "", false
	for _, f := range m.Faults {
		if f.Err != "" {
			continue
		}
		switch f.Kind {
		case plan.FaultMemcachedRestart, plan.FaultMemcachedFlush:
			if f.Ns >= t.IssueCall && f.Ns <= missingAt {
				kind = f.Kind
			}
		case plan.FaultMemcachedAddNode, plan.FaultMemcachedRemoveNode:
			if f.Ns >= t.IssueCall && f.Ns <= missingAt {
				kind = "node-change"
			}
		case plan.FaultMemcachedEvict:
			// A standing limit: tokens issued after it are evicted too.
			evicted = evicted || f.Ns <= missingAt
		case plan.RecordedEvictions:
			// Recorded after the run, for the whole run.
			evicted = true
		}
	}
	switch {
	case kind != "":
		return CauseTokenLost + kind
	case evicted:
		return CauseTokenEvicted
	}
	return ""
}

// ttlElapsed reports that t's token had outlived its TTL when the verifier
// found it missing (decision d): on the real clock by the issue time, on
// the virtual clock by the run clock of the decision, which the memcached
// expiring the token shares. Histories without the decision's run clock
// fall back to the engine's token-ttl-elapsed record (every token issued at
// offset 0).
func ttlElapsed(m *history.Meta, t *history.Token, d *history.Decision) bool {
	if m.Clock == "real" {
		return m.TokenTTL > 0 && t.IssueCall+int64(m.TokenTTL) <= d.At
	}
	if !d.Time.IsZero() && !t.Issued.IsZero() && m.TokenTTL > 0 {
		return !d.Time.Before(t.Issued.Add(m.TokenTTL))
	}
	for _, f := range m.Faults {
		if f.Kind == plan.RecordedTokenTTLElapsed && f.Err == "" && f.Ns <= d.At {
			return true
		}
	}
	return false
}

// unavailable returns the latest fault that made memcached fail or time out
// (pause, latency, connection limit) applied by ns at, or "".
func unavailable(m *history.Meta, at int64) string {
	kind := ""
	for _, f := range m.Faults {
		switch f.Kind {
		case plan.FaultMemcachedPause, plan.FaultMemcachedLatency, plan.FaultMemcachedConnLimit:
			if f.Err == "" && f.Ns <= at {
				kind = f.Kind
			}
		}
	}
	return kind
}
