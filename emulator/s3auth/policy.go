package s3auth

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Condition operators of a POST policy.
const (
	OpEq                 = "eq"
	OpStartsWith         = "starts-with"
	OpContentLengthRange = "content-length-range"
)

// Condition is one entry of a POST policy's conditions. An object condition
// {"key": "v"} is stored as Op "eq". Field is lower-case and has no "$".
// Min and Max are set only for content-length-range.
type Condition struct {
	Op    string
	Field string
	Value string
	Min   int64
	Max   int64
}

// String renders the condition as S3 quotes it in "Policy Condition
// failed" messages: ["eq", "$key", "uploads/x"].
func (c Condition) String() string {
	if c.Op == OpContentLengthRange {
		return `["content-length-range", ` + strconv.FormatInt(c.Min, 10) + ", " + strconv.FormatInt(c.Max, 10) + "]"
	}
	return "[" + strconv.Quote(c.Op) + ", " + strconv.Quote("$"+c.Field) + ", " + strconv.Quote(c.Value) + "]"
}

// Policy is a decoded POST policy document.
type Policy struct {
	Expiration time.Time
	Conditions []Condition
	// Encoded is the base64 document as the form carried it: the string
	// the signature covers.
	Encoded string
}

// policyParsers reuse their buffers across requests; a policy is decoded
// in one pass over its JSON.
var policyParsers fastjson.ParserPool

// DecodePolicy decodes a POST policy: base64, then JSON
// {"expiration": "...", "conditions": [...]}. Every failure is 400
// InvalidPolicyDocument with a message naming what was wrong.
func DecodePolicy(b64 string) (*Policy, error) {
	raw, err := decodePolicyBase64(b64)
	if err != nil {
		return nil, err
	}
	// The parser takes control characters in strings and any bytes; JSON
	// and S3 take neither.
	if !utf8.Valid(raw) || fastjson.ValidateBytes(raw) != nil {
		return nil, ErrInvalidPolicyDocument("Invalid JSON.")
	}
	parser := policyParsers.Get()
	defer policyParsers.Put(parser)
	doc, err := parser.ParseBytes(raw)
	if err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid JSON.")
	}
	obj, err := doc.Object()
	if err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid JSON.")
	}
	var exp, conds *fastjson.Value
	var unexpected string
	obj.Visit(func(k []byte, v *fastjson.Value) {
		// A repeated name: the last one counts, as with encoding/json.
		switch string(k) {
		case "expiration":
			exp = v
		case "conditions":
			conds = v
		default:
			if unexpected == "" {
				unexpected = string(k)
			}
		}
	})
	if unexpected != "" {
		return nil, ErrInvalidPolicyDocument("Unexpected field " + strconv.Quote(clip(unexpected)) + " in policy document.")
	}
	p := &Policy{Encoded: b64}
	if p.Expiration, err = decodeExpiration(exp); err != nil {
		return nil, err
	}
	if conds == nil {
		return nil, ErrInvalidPolicyDocument("Policy missing conditions.")
	}
	list, err := conds.Array()
	if err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid 'conditions' value: must be a list.")
	}
	p.Conditions = make([]Condition, 0, len(list))
	for _, c := range list {
		cond, err := decodeCondition(c)
		if err != nil {
			return nil, err
		}
		p.Conditions = append(p.Conditions, cond)
	}
	return p, nil
}

// decodePolicyBase64 decodes the policy field, padded or not, ignoring the
// line breaks and spaces some encoders insert.
func decodePolicyBase64(b64 string) ([]byte, error) {
	compact := b64
	if strings.ContainsAny(b64, "\r\n \t") {
		compact = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b64)
	}
	raw, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(compact); err != nil {
			return nil, ErrInvalidPolicyDocument("Policy is not valid base64.")
		}
	}
	return raw, nil
}

func decodeExpiration(v *fastjson.Value) (time.Time, error) {
	if v == nil {
		return time.Time{}, ErrInvalidPolicyDocument("Policy missing expiration.")
	}
	exp, err := v.StringBytes()
	if err != nil {
		return time.Time{}, ErrInvalidPolicyDocument("Invalid 'expiration' value: must be a string.")
	}
	t, err := time.Parse(time.RFC3339Nano, string(exp))
	if err != nil {
		return time.Time{}, ErrInvalidPolicyDocument("Invalid 'expiration' value: '" + clip(string(exp)) + "'")
	}
	return t, nil
}

func decodeCondition(v *fastjson.Value) (Condition, error) {
	if obj, err := v.Object(); err == nil {
		return decodeSimpleCondition(obj)
	}
	invalid := func(why string) error {
		return ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(v.String())) + why)
	}
	arr, err := v.Array()
	if err != nil {
		return Condition{}, invalid(": must be an object or a list.")
	}
	if len(arr) != 3 {
		return Condition{}, invalid(": a list condition must have 3 elements.")
	}
	opb, err := arr[0].StringBytes()
	if err != nil {
		return Condition{}, invalid(": the operation must be a string.")
	}
	switch op := strings.ToLower(string(opb)); op {
	case OpEq, OpStartsWith:
		field, err1 := arr[1].StringBytes()
		val, err2 := arr[2].StringBytes()
		if err1 != nil || err2 != nil {
			return Condition{}, invalid(": field and value must be strings.")
		}
		if len(field) < 2 || field[0] != '$' {
			return Condition{}, invalid(": the field must start with '$'.")
		}
		return Condition{Op: op, Field: strings.ToLower(string(field[1:])), Value: string(val)}, nil
	case OpContentLengthRange:
		lo, ok1 := jsonInt(arr[1])
		hi, ok2 := jsonInt(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return Condition{}, ErrInvalidPolicyDocument("Invalid content-length-range " + strconv.Quote(clip(v.String())) + ": need two integers 0 <= min <= max.")
		}
		return Condition{Op: op, Min: lo, Max: hi}, nil
	default:
		return Condition{}, ErrInvalidPolicyDocument("Invalid condition operation " + strconv.Quote(clip(op)) + ".")
	}
}

// decodeSimpleCondition reads {"field": "value"}, an exact match.
func decodeSimpleCondition(obj *fastjson.Object) (Condition, error) {
	if obj.Len() != 1 {
		return Condition{}, ErrInvalidPolicyDocument("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
	}
	var c Condition
	var err error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		s, serr := v.StringBytes()
		if serr != nil {
			err = ErrInvalidPolicyDocument("Invalid Simple-Condition: value of " + strconv.Quote(clip(string(k))) + " must be a string.")
			return
		}
		c = Condition{Op: OpEq, Field: strings.ToLower(strings.TrimPrefix(string(k), "$")), Value: string(s)}
	})
	return c, err
}

// jsonInt reads an integer given as a JSON number or a numeric string, as
// policies from different SDKs carry content-length-range either way.
func jsonInt(v *fastjson.Value) (int64, bool) {
	s := string(v.MarshalTo(nil))
	if b, err := v.StringBytes(); err == nil {
		s = string(b)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// LengthRange returns the allowed file size from the policy's
// content-length-range conditions (their intersection), and false when the
// policy sets none.
func (p *Policy) LengthRange() (min, max int64, ok bool) {
	for _, c := range p.Conditions {
		if c.Op != OpContentLengthRange {
			continue
		}
		if !ok {
			min, max, ok = c.Min, c.Max, true
			continue
		}
		min, max = maxInt64(min, c.Min), minInt64(max, c.Max)
	}
	return min, max, ok
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func minInt64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// CheckLength checks the uploaded file size n against content-length-range:
// 400 EntityTooSmall or EntityTooLarge. A policy without a range allows any
// size.
func (p *Policy) CheckLength(n int64) error {
	min, max, ok := p.LengthRange()
	switch {
	case !ok:
		return nil
	case n < min:
		return ErrEntityTooSmall(n, min)
	case n > max:
		return ErrEntityTooLarge(n, max)
	}
	return nil
}

// check evaluates the eq and starts-with conditions against the form
// fields; the bucket condition is compared with bucket, the bucket of the
// URL. A field missing from the form counts as the empty string.
func (p *Policy) check(fields map[string]string, bucket string) error {
	for _, c := range p.Conditions {
		if c.Op == OpContentLengthRange {
			continue
		}
		val := fields[c.Field]
		if c.Field == "bucket" {
			val = bucket
		}
		ok := false
		switch c.Op {
		case OpEq:
			ok = val == c.Value
		case OpStartsWith:
			ok = strings.HasPrefix(val, c.Value)
			if ok && c.Field == "content-type" {
				// S3 checks each of a comma-separated list of types.
				for _, t := range strings.Split(val, ",") {
					ok = ok && strings.HasPrefix(strings.TrimSpace(t), c.Value)
				}
			}
		}
		if !ok {
			return ErrAccessDenied("Invalid according to Policy: Policy Condition failed: " + c.String())
		}
	}
	return nil
}

// covers reports whether some condition names field.
func (p *Policy) covers(field string) bool {
	for _, c := range p.Conditions {
		if c.Op != OpContentLengthRange && c.Field == field {
			return true
		}
	}
	return false
}
