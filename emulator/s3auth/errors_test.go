package s3auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"expired with elements", ErrRequestExpired(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 30, time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)), 403,
			`<Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>30</X-Amz-Expires><Expires>2026-01-01T00:00:30Z</Expires><ServerTime>2026-01-01T00:01:00Z</ServerTime><RequestId>rid</RequestId></Error>`},
		{"message escaped", ErrAccessDenied(`Invalid according to Policy: Policy Condition failed: ["eq", "$key", "<a>"]`), 403,
			`<Message>Invalid according to Policy: Policy Condition failed: [&#34;eq&#34;, &#34;$key&#34;, &#34;&lt;a&gt;&#34;]</Message>`},
		{"wrapped *Error keeps its status", errors.Join(errors.New("ctx"), ErrEntityTooLarge(11, 10)), 400, `<Code>EntityTooLarge</Code>`},
		{"plain error hides details", errors.New("secret detail"), 500, `<Code>InternalError</Code>`},
		{"bad extra name dropped", &Error{Code: "X", Status: 400, Extra: []Field{{"a b", "v"}}}, 400, `<Message></Message><RequestId>`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		WriteError(w, tt.err, "rid")
		body := w.Body.String()
		if w.Code != tt.status || !strings.Contains(body, tt.body) || !strings.HasPrefix(body, "<?xml") ||
			w.Header().Get("Content-Type") != "application/xml" || strings.Contains(body, "secret") {
			t.Errorf("%s: %d %s", tt.name, w.Code, body)
		}
	}
	if http.StatusText(ErrMissingContentLength().Status) == "" {
		t.Error("status")
	}
}
