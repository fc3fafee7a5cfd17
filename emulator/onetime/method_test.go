package onetime

import (
	"errors"
	"testing"
)

// TestUploadMethod is the one rule about methods: if-none-match takes PUT
// by default and refuses an explicit POST; the others default to POST.
func TestUploadMethod(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		in, want Method
		err      error
	}{
		{CAS, "", MethodPOST, nil},
		{CAS, MethodPUT, MethodPUT, nil},
		{Delete, MethodPOST, MethodPOST, nil},
		{IfNoneMatch, "", MethodPUT, nil},
		{IfNoneMatch, MethodPUT, MethodPUT, nil},
		{IfNoneMatch, MethodPOST, MethodPOST, ErrIfNoneMatchPOST},
	} {
		got, err := UploadMethod(tc.strategy, tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("UploadMethod(%s, %q) = %s, %v; want %s, %v", tc.strategy, tc.in, got, err, tc.want, tc.err)
		}
	}
}
