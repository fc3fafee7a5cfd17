package check

import (
	"cmp"
	"math"
	"slices"
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
//   - released: the holder gave its claim back (claim-released: its bytes
//     were overwritten and the key then held nothing). The decision is two
//     operations: the claim, won, and its release at the decision, which
//     empties the register.
//
// The call time is the first delivery of the upload's event to the verifier
// and the return time the decision, both on the recorder's monotonic base:
// the claim ran inside that interval.
type claim struct {
	ID      string
	Outcome string
}

const (
	won      = "won"
	lost     = "lost"
	unknown  = "unknown"
	released = "released"
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
			case released:
				if s == c.ID {
					return []interface{}{""}
				}
				return nil
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
		case d.Reason == onetime.ReasonClaimReleased:
			c.Outcome = won
			ops = append(ops, porcupine.Operation{ClientId: len(t.Decisions) + i, Input: claim{ID: c.ID, Outcome: released},
				Call: d.At, Output: released, Return: d.At})
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

// linChecker checks each token's claims as the token is added. Whether a
// lost claim before any winner is allowed (the strict model) depends on
// faults that may be recorded after the token, so a token illegal under the
// strict model is checked again under the lenient one, which allows more:
// illegal under both is non-linearizable whatever the faults; illegal only
// under the strict model counts if the run's faults keep the model strict.
type linChecker struct {
	strictModel, lenientModel porcupine.Model
	// budget bounds the time spent in porcupine over the whole run.
	budget    time.Duration
	spent     time.Duration
	timedOut  bool
	bad       Property // illegal under both models
	badStrict Property // illegal under the strict model only
}

func (l *linChecker) add(t *history.Token) {
	ops := claims(t)
	if len(ops) == 0 || l.timedOut {
		return
	}
	if l.strictModel.Step == nil {
		l.strictModel, l.lenientModel = registerModel(true), registerModel(false)
	}
	switch l.check(l.strictModel, ops) {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		l.timedOut = true
		return
	}
	switch l.check(l.lenientModel, ops) {
	case porcupine.Illegal:
		l.bad.add(t.Key)
	case porcupine.Ok:
		l.badStrict.add(t.Key)
	default:
		l.timedOut = true
	}
}

// check decides one key's operations. A sequential history (no two
// operations overlap, the common case) is replayed on the model directly;
// only overlapping ones go to porcupine, within what is left of the budget.
func (l *linChecker) check(m porcupine.Model, ops []porcupine.Operation) porcupine.CheckResult {
	if sequential(ops) {
		state := m.Init()
		for _, op := range ops {
			ok, next := m.Step(state, op.Input, op.Output)
			if !ok {
				return porcupine.Illegal
			}
			state = next
		}
		return porcupine.Ok
	}
	left := l.budget - l.spent
	if left <= 0 {
		return porcupine.Unknown
	}
	start := time.Now()
	r := porcupine.CheckOperationsTimeout(m, ops, left)
	l.spent += time.Since(start)
	return r
}

// sequential reports whether ops, in call order, each return before the
// next is called; it sorts ops by call time.
func sequential(ops []porcupine.Operation) bool {
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	for i := 1; i < len(ops); i++ {
		if ops[i-1].Return >= ops[i].Call {
			return false
		}
	}
	return true
}

// verdict returns the verdict and the keys that are not linearizable,
// given the run's meta (its faults decide whether the model is strict).
func (l *linChecker) verdict(m *history.Meta) (string, Property) {
	strict := onetime.UsesMemcached(m.Strategy)
	for _, f := range m.Faults {
		if f.Err != "" {
			continue
		}
		switch f.Kind {
		case plan.FaultMemcachedRestart, plan.FaultMemcachedFlush, plan.FaultMemcachedEvict, plan.FaultMemcachedPause,
			plan.FaultMemcachedAddNode, plan.FaultMemcachedRemoveNode,
			plan.RecordedEvictions, plan.RecordedTokenTTLElapsed:
			strict = false // tokens may vanish without a winner
		}
	}
	bad := l.bad
	if strict {
		bad.Count += l.badStrict.Count
		for _, k := range l.badStrict.Examples {
			if len(bad.Examples) < MaxExamples {
				bad.Examples = append(bad.Examples, k)
			}
		}
	}
	switch {
	case bad.Count > 0:
		return NotLinearizable, bad
	case l.timedOut:
		return LinUnknown, bad
	}
	return Linearizable, bad
}
