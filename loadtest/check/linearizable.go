package check

import (
	"math"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// A claim is one verifier decision seen as an operation on a one-shot
// register per key: consume(upload) returns won or lost.
//
//   - won: the register was empty, or already held this very upload (an
//     idempotent re-accept of a redelivered winner). Accepts, and rejections
//     for overwritten-before-copy (the claim won; the copy was refused), are
//     won.
//   - lost: the register already held some upload. With memcached
//     strategies and no injected token loss, a lost claim before any winner
//     is a violation too (the token vanished); otherwise lost is always
//     allowed, since S3 strategies decide at write time and faults may drop
//     tokens.
//   - unknown: a fail-closed infrastructure rejection: the claim may or may
//     not have taken effect, and it never returns (Return = +inf).
//
// The call time is the first delivery of the upload's event to the verifier
// and the return time the decision, both on the recorder's monotonic base:
// the claim ran inside that interval.
type claim struct {
	ID      string
	Outcome string
}

const (
	won     = "won"
	lost    = "lost"
	unknown = "unknown"
)

func registerModel(strict bool) porcupine.Model {
	m := &porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{""} },
		Step: func(state, input, _ interface{}) []interface{} {
			s, c := state.(string), input.(claim)
			switch c.Outcome {
			case won:
				if s == "" || s == c.ID {
					return []interface{}{c.ID}
				}
				return nil
			case lost:
				if s == "" && strict {
					return nil
				}
				return []interface{}{s}
			default: // unknown: it took effect or it did not
				if s == "" {
					return []interface{}{s, c.ID}
				}
				return []interface{}{s}
			}
		},
		DescribeOperation: func(input, _ interface{}) string {
			c := input.(claim)
			return "consume(" + c.ID + ") -> " + c.Outcome
		},
	}
	return m.ToModel()
}

// claims turns a token's decisions into operations.
func claims(t *history.Token) []porcupine.Operation {
	firstDelivery := map[string]int64{}
	for _, d := range t.Deliveries {
		if _, ok := firstDelivery[d.ID()]; !ok {
			firstDelivery[d.ID()] = d.At
		}
	}
	var ops []porcupine.Operation
	for i, d := range t.Decisions {
		c := claim{ID: d.ID()}
		switch {
		case d.Accepted(), d.Reason == onetime.ReasonOverwritten:
			c.Outcome = won
		case d.Retryable:
			c.Outcome = unknown
		case d.Reason == onetime.ReasonTokenExpired, d.Reason == onetime.ReasonNotAnUpload:
			continue // not a claim on the register
		default:
			c.Outcome = lost
		}
		call, ok := firstDelivery[c.ID]
		if !ok || call > d.At {
			call = d.At
		}
		ret := d.At
		if c.Outcome == unknown {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: i, Input: c, Call: call, Output: c.Outcome, Return: ret})
	}
	return ops
}

// linearizable checks every key's claims; it returns the verdict and the
// keys that are not linearizable.
func linearizable(h *history.Run, timeout time.Duration) (string, Property) {
	strict := onetime.UsesMemcached(h.Meta.Strategy)
	for _, f := range h.Meta.Faults {
		if f.Err != "" {
			continue
		}
		switch f.Kind {
		case plan.FaultMemcachedRestart, plan.FaultMemcachedFlush, plan.FaultMemcachedEvict, plan.FaultMemcachedPause,
			plan.RecordedEvictions, plan.RecordedTokenTTLElapsed:
			strict = false // tokens may vanish without a winner
		}
	}
	model := registerModel(strict)
	deadline := time.Now().Add(timeout)
	var bad Property
	timedOut := false
	for _, t := range h.Tokens {
		ops := claims(t)
		if len(ops) == 0 {
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			timedOut = true
			break
		}
		switch porcupine.CheckOperationsTimeout(model, ops, left) {
		case porcupine.Illegal:
			bad.add(t.Key)
		case porcupine.Unknown:
			timedOut = true
		}
	}
	switch {
	case bad.Count > 0:
		return NotLinearizable, bad
	case timedOut:
		return LinUnknown, bad
	}
	return Linearizable, bad
}
