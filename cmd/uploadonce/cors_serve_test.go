package main

import (
	"net/http"
	"testing"
)

// TestServeCORSFlag: --cors names the origins a browser may upload from;
// the default is any origin.
func TestServeCORSFlag(t *testing.T) {
	preflight := func(base, origin string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, base+"/uploadonce/uploads/x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
	}
	for _, c := range []struct {
		args           []string
		origin         string
		status         int
		allowOriginHdr string
	}{
		{nil, "http://localhost:5173", 200, "*"},
		{[]string{"--cors", "http://localhost:3000,http://*.app.test"}, "http://localhost:3000", 200, "http://localhost:3000"},
		{[]string{"--cors", "http://localhost:3000,http://*.app.test"}, "http://x.app.test", 200, "http://x.app.test"},
		{[]string{"--cors", "http://localhost:3000"}, "http://localhost:5173", 403, ""},
		{[]string{"--cors", "none"}, "http://localhost:3000", 403, ""},
	} {
		base := serveForTest(t, append([]string{"--strategy", "versioning"}, c.args...)...)
		st, allow := preflight(base, c.origin)
		if st != c.status || allow != c.allowOriginHdr {
			t.Errorf("%v from %s: %d %q, want %d %q", c.args, c.origin, st, allow, c.status, c.allowOriginHdr)
		}
	}
}
