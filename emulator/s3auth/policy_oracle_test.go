package s3auth

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// decodePolicyStd is the encoding/json decoder DecodePolicy replaced, kept
// as the oracle of FuzzDecodePolicyAgrees: both must accept the same
// documents and decode them to the same policy.
func decodePolicyStd(b64 string) (*Policy, error) {
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
		cond, err := decodeConditionStd(c)
		if err != nil {
			return nil, err
		}
		p.Conditions = append(p.Conditions, cond...)
	}
	return p, nil
}

func decodeConditionStd(raw json.RawMessage) ([]Condition, error) {
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
		lo, ok1 := jsonIntStd(arr[1])
		hi, ok2 := jsonIntStd(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return nil, ErrInvalidPolicyDocument("Invalid content-length-range " + strconv.Quote(clip(string(raw))) + ": need two integers 0 <= min <= max.")
		}
		return []Condition{{Op: op, Min: lo, Max: hi}}, nil
	}
	return nil, ErrInvalidPolicyDocument("Invalid condition operation " + strconv.Quote(clip(op)) + ".")
}

// jsonInt reads an integer given as a JSON number or a numeric string, as
// policies from different SDKs carry content-length-range either way.
func jsonIntStd(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// FuzzDecodePolicyAgrees checks the one-pass decoder against the
// encoding/json one it replaced: a policy one accepts, the other accepts
// too, with the same expiration and conditions. The one intended
// differences: a JSON null where a string or list belongs was read as ""
// or an empty list, and a document that is not UTF-8 had its bad bytes
// replaced; both are now refused.
func FuzzDecodePolicyAgrees(f *testing.F) {
	for _, doc := range []string{
		`{"expiration":"2026-01-01T00:00:00Z","conditions":[{"key":"k"},["starts-with","$key",""],["content-length-range",1,"2"]]}`,
		`{"expiration":"2026-01-01T00:00:00.5Z","conditions":[{"bucket":"b"},["eq","$Content-Type","image/\u00e9"],{"$x-amz-meta-a":"1"}]}`,
		`{"conditions":[],"expiration":"2026-01-01T00:00:00Z","conditions":[["content-length-range", 0, 10]]}`,
		`{"expiration":"2026-01-01T00:00:00Z","conditions":null}`,
		`{"expiration":"2026-01-01T00:00:00Z","conditions":[["EQ","$key",null]],"x":1}`,
		` [1] `, `{"expiration":5}`, `{"expiration":"2026-01-01T00:00:00Z","conditions":[["content-length-range","-1",1e3]]}`,
	} {
		f.Add(base64.StdEncoding.EncodeToString([]byte(doc)))
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := DecodePolicy(s)
		want, wantErr := decodePolicyStd(s)
		switch {
		case gotErr == nil && wantErr != nil:
			t.Fatalf("accepted %q, which encoding/json refuses: %v", s, wantErr)
		case gotErr != nil && wantErr == nil:
			raw, _ := decodePolicyBase64(s)
			if !strings.Contains(string(raw), "null") && utf8.Valid(raw) {
				t.Fatalf("refused %q (%v), which encoding/json accepts", raw, gotErr)
			}
		case gotErr == nil:
			if !got.Expiration.Equal(want.Expiration) || !reflect.DeepEqual(got.Conditions, want.Conditions) && !(len(got.Conditions) == 0 && len(want.Conditions) == 0) {
				t.Fatalf("%q:\n got %+v\nwant %+v", s, got, want)
			}
		}
	})
}
