package scenario

import (
	"errors"
	"testing"

	"github.com/uploadonce/uploadonce/loadtest/expect"
)

// FuzzDecode feeds arbitrary bytes through Decode, Validate, Plans and
// Check: none may panic, and every failure must be an *Error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("strategies: [get-delete, cas]\n" + minimal + "expect:\n  strategies:\n    cas: {violations: {double_accept: \">0\"}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode error %T is not an *Error: %v", err, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate error %T is not an *Error: %v", err, err)
			}
			return
		}
		for _, p := range s.Plans() {
			if err := p.Validate(); err != nil {
				t.Fatalf("a valid scenario made an invalid plan: %v", err)
			}
			s.Check(p.Stack.Strategy, expect.Observed{})
		}
	})
}
