// Package expect holds what a scenario expects of a run, and judges it:
// per group of tokens (statuses, accepts, rejects, events), over the run
// (totals, violations, rejects by reason and by explained cause), and the
// checker's own assumptions. A scenario file decodes into Expect; a run's
// history and checker verdict become an Observed; Judge compares them.
package expect

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Expect holds the expectations of every strategy, and per strategy
// overrides of them.
type Expect struct {
	Expectations `yaml:",inline"`
	Strategies   map[string]Expectations `yaml:"strategies"`
}

// Expectations are what a run must produce. A nil comparison is not
// checked; violations not named must be zero, except lost_urls for the
// strategies that do not owe liveness (get-delete, delete), which is
// checked only when named.
type Expectations struct {
	Groups     map[string]GroupExpect `yaml:"groups"`
	Totals     Totals                 `yaml:"totals"`
	Violations map[string]Cmp         `yaml:"violations"`
	// Explained are URLs owed an accept that got none, by the cause the
	// checker attributed (check.Cause*); only the causes named are checked.
	Explained map[string]Cmp `yaml:"explained"`
	// Reasons are final rejections by verifier reason (token-consumed,
	// token-missing, ...); only the reasons named are checked.
	Reasons map[string]Cmp `yaml:"reasons"`
}

// GroupExpect is checked for every token of a group.
type GroupExpect struct {
	// Statuses are the S3 statuses of the token's uploads, in order; 0
	// stands for no HTTP answer.
	Statuses []Cmp `yaml:"statuses"`
	Accepted *Cmp  `yaml:"accepted"`
	Rejected *Cmp  `yaml:"rejected"`
	Events   *Cmp  `yaml:"events"`
}

// Totals are checked over the whole run.
type Totals struct {
	Tokens   *Cmp `yaml:"tokens"`
	Uploads  *Cmp `yaml:"uploads"`
	Accepted *Cmp `yaml:"accepted"`
	Rejected *Cmp `yaml:"rejected"`
	Events   *Cmp `yaml:"events"`
	// FailClosed counts rejections the verifier failed closed on an
	// infrastructure error (the invoker retries them).
	FailClosed *Cmp `yaml:"fail_closed"`
	// Unknown counts URLs whose outcome the client could not see.
	Unknown *Cmp `yaml:"unknown"`
}

// Violation kinds, as the report names them.
const (
	DoubleAccept = "double_accept" // two distinct uploads of one token accepted
	FalseReject  = "false_reject"  // a legitimate first upload rejected
	LateAccept   = "late_accept"   // an upload after expiry accepted
	WrongBytes   = "wrong_bytes"   // accepted/ holds bytes other than the winner's
	// LostURLs: a URL with an in-time 2xx upload and no accept, not
	// explained by token loss or exhausted retries (false rejects included).
	LostURLs = "lost_urls"
)

// ViolationKinds lists the kinds in report order.
func ViolationKinds() []string {
	return []string{DoubleAccept, FalseReject, LateAccept, WrongBytes, LostURLs}
}

// For returns the expectations that apply to strategy: the common ones
// with the strategy's overrides laid over them field by field.
func (x Expect) For(strategy string) Expectations {
	base := x.Expectations
	over, ok := x.Strategies[strategy]
	e := Expectations{Groups: map[string]GroupExpect{}, Totals: base.Totals, Violations: map[string]Cmp{},
		Explained: map[string]Cmp{}, Reasons: map[string]Cmp{}}
	maps.Copy(e.Groups, base.Groups)
	maps.Copy(e.Explained, base.Explained)
	maps.Copy(e.Reasons, base.Reasons)
	for _, k := range ViolationKinds() {
		e.Violations[k] = Exactly(0)
	}
	if !onetime.OwesLiveness(strategy) {
		// The reference's known weakness: shown, checked only when named.
		e.Violations[LostURLs] = Cmp{Op: "any"}
	}
	maps.Copy(e.Violations, base.Violations)
	if !ok {
		return e
	}
	for name, g := range over.Groups {
		merged := e.Groups[name]
		if g.Statuses != nil {
			merged.Statuses = g.Statuses
		}
		merged.Accepted = cmp.Or(g.Accepted, merged.Accepted)
		merged.Rejected = cmp.Or(g.Rejected, merged.Rejected)
		merged.Events = cmp.Or(g.Events, merged.Events)
		e.Groups[name] = merged
	}
	t := &e.Totals
	t.Tokens = cmp.Or(over.Totals.Tokens, t.Tokens)
	t.Uploads = cmp.Or(over.Totals.Uploads, t.Uploads)
	t.Accepted = cmp.Or(over.Totals.Accepted, t.Accepted)
	t.Rejected = cmp.Or(over.Totals.Rejected, t.Rejected)
	t.Events = cmp.Or(over.Totals.Events, t.Events)
	t.FailClosed = cmp.Or(over.Totals.FailClosed, t.FailClosed)
	t.Unknown = cmp.Or(over.Totals.Unknown, t.Unknown)
	maps.Copy(e.Violations, over.Violations)
	maps.Copy(e.Explained, over.Explained)
	maps.Copy(e.Reasons, over.Reasons)
	return e
}

// Cmp is an expected count: exactly N, a comparison, or a range. The zero
// Cmp is "== 0".
type Cmp struct {
	Op string // "==", ">", ">=", "<", "<=", "..", or "any"
	N  int
	// Max is the range's upper bound (Op ".."): N..Max, both included. A
	// measured count that varies from run to run is pinned this way.
	Max int
}

// Exactly returns the comparison "== n".
func Exactly(n int) Cmp { return Cmp{Op: "==", N: n} }

// Holds reports whether got satisfies the comparison.
func (c Cmp) Holds(got int) bool {
	switch c.Op {
	case "any":
		return true
	case "..":
		return got >= c.N && got <= c.Max
	case ">":
		return got > c.N
	case ">=":
		return got >= c.N
	case "<":
		return got < c.N
	case "<=":
		return got <= c.N
	}
	return got == c.N
}

func (c Cmp) String() string {
	switch c.Op {
	case "any":
		return "any"
	case "", "==":
		return strconv.Itoa(c.N)
	case "..":
		return strconv.Itoa(c.N) + ".." + strconv.Itoa(c.Max)
	}
	return c.Op + strconv.Itoa(c.N)
}

// ParseCmp parses N, ">N", ">=N", "<N", "<=N", "==N", "A..B" (a range,
// both included) or "any"; N, A and B are non-negative integers.
func ParseCmp(s string) (Cmp, error) {
	s = strings.TrimSpace(s)
	if s == "any" {
		return Cmp{Op: "any"}, nil
	}
	if lo, hi, ok := strings.Cut(s, ".."); ok {
		a, aerr := strconv.Atoi(strings.TrimSpace(lo))
		b, berr := strconv.Atoi(strings.TrimSpace(hi))
		if aerr != nil || berr != nil || a < 0 || b < a {
			return Cmp{}, errors.New("want a range A..B of non-negative integers with A <= B")
		}
		return Cmp{Op: "..", N: a, Max: b}, nil
	}
	op := "=="
	for _, o := range []string{">=", "<=", "==", ">", "<"} {
		if rest, ok := strings.CutPrefix(s, o); ok {
			op, s = o, strings.TrimSpace(rest)
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Cmp{}, errors.New("want a non-negative integer N, or \">N\", \">=N\", \"<N\", \"<=N\", \"==N\" or \"any\"")
	}
	if op == "<" && n == 0 {
		return Cmp{}, errors.New("\"<0\" can never hold")
	}
	return Cmp{Op: op, N: n}, nil
}

// UnmarshalYAML implements yaml.NodeUnmarshaler.
func (c *Cmp) UnmarshalYAML(n ast.Node) error {
	var text string
	switch v := n.(type) {
	case *ast.IntegerNode:
		text = v.GetToken().Value
	case *ast.StringNode:
		text = v.Value
	default:
		return NewSyntaxError(n, fmt.Sprintf("want a count, a comparison such as \">0\" or a range such as \"70..90\", got %s", NodeKind(n)))
	}
	cmp, err := ParseCmp(text)
	if err != nil {
		return NewSyntaxError(n, fmt.Sprintf("bad comparison %q: %v", text, err))
	}
	*c = cmp
	return nil
}

// MarshalYAML writes the comparison as the text ParseCmp reads.
func (c Cmp) MarshalYAML() (any, error) {
	if c.Op == "" || c.Op == "==" {
		return c.N, nil
	}
	return c.String(), nil
}

// NodeKind names a YAML node's kind for error messages.
func NodeKind(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "nothing"
	case *ast.BoolNode:
		return "true/false"
	case *ast.FloatNode:
		return "a number"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.StringNode:
		return "a string"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// SyntaxError is a value that does not decode; Node gives its position.
type SyntaxError struct {
	Node ast.Node
	Msg  string
}

// NewSyntaxError returns a SyntaxError at n.
func NewSyntaxError(n ast.Node, msg string) *SyntaxError { return &SyntaxError{Node: n, Msg: msg} }

func (e *SyntaxError) Error() string { return e.Msg }
