package s3auth

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
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

// DecodePolicy decodes a POST policy: base64, then JSON
// {"expiration": "...", "conditions": [...]}. Every failure is 400
// InvalidPolicyDocument with a message naming what was wrong.
func DecodePolicy(b64 string) (*Policy, error) {
	compact := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b64)
	raw, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(compact); err != nil {
			return nil, ErrInvalidPolicyDocument("Policy is not valid base64.")
		}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid JSON.")
	}
	for k := range doc {
		if k != "expiration" && k != "conditions" {
			return nil, ErrInvalidPolicyDocument("Unexpected field " + strconv.Quote(clip(k)) + " in policy document.")
		}
	}
	p := &Policy{Encoded: b64}
	expRaw, ok := doc["expiration"]
	if !ok {
		return nil, ErrInvalidPolicyDocument("Policy missing expiration.")
	}
	var exp string
	if err := json.Unmarshal(expRaw, &exp); err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid 'expiration' value: must be a string.")
	}
	if p.Expiration, err = time.Parse(time.RFC3339Nano, exp); err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid 'expiration' value: '" + clip(exp) + "'")
	}
	condRaw, ok := doc["conditions"]
	if !ok {
		return nil, ErrInvalidPolicyDocument("Policy missing conditions.")
	}
	var conds []json.RawMessage
	if err := json.Unmarshal(condRaw, &conds); err != nil {
		return nil, ErrInvalidPolicyDocument("Invalid 'conditions' value: must be a list.")
	}
	for _, c := range conds {
		cond, err := decodeCondition(c)
		if err != nil {
			return nil, err
		}
		p.Conditions = append(p.Conditions, cond...)
	}
	return p, nil
}

func decodeCondition(raw json.RawMessage) ([]Condition, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if len(obj) != 1 {
			return nil, ErrInvalidPolicyDocument("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range obj {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return nil, ErrInvalidPolicyDocument("Invalid Simple-Condition: value of " + strconv.Quote(clip(k)) + " must be a string.")
			}
			return []Condition{{Op: OpEq, Field: strings.ToLower(strings.TrimPrefix(k, "$")), Value: s}}, nil
		}
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return nil, ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(string(raw))) + ": must be an object or a list.")
	}
	if len(arr) != 3 {
		return nil, ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(string(raw))) + ": a list condition must have 3 elements.")
	}
	var op string
	if json.Unmarshal(arr[0], &op) != nil {
		return nil, ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(string(raw))) + ": the operation must be a string.")
	}
	switch op = strings.ToLower(op); op {
	case OpEq, OpStartsWith:
		var field, val string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &val) != nil {
			return nil, ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(string(raw))) + ": field and value must be strings.")
		}
		if !strings.HasPrefix(field, "$") || len(field) < 2 {
			return nil, ErrInvalidPolicyDocument("Invalid condition " + strconv.Quote(clip(string(raw))) + ": the field must start with '$'.")
		}
		return []Condition{{Op: op, Field: strings.ToLower(field[1:]), Value: val}}, nil
	case OpContentLengthRange:
		lo, ok1 := jsonInt(arr[1])
		hi, ok2 := jsonInt(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return nil, ErrInvalidPolicyDocument("Invalid content-length-range " + strconv.Quote(clip(string(raw))) + ": need two integers 0 <= min <= max.")
		}
		return []Condition{{Op: op, Min: lo, Max: hi}}, nil
	}
	return nil, ErrInvalidPolicyDocument("Invalid condition operation " + strconv.Quote(clip(op)) + ".")
}

// jsonInt reads an integer given as a JSON number or a numeric string, as
// policies from different SDKs carry content-length-range either way.
func jsonInt(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
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
