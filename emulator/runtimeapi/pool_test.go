package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The test binary doubles as a function: with FAKE_RUNTIME set it speaks
// the Runtime API and acts on each payload.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FAKE_RUNTIME"); mode != "" {
		os.Exit(fakeRuntime(mode))
	}
	os.Exit(m.Run())
}

// fakeRuntime: "exit-init" exits before its first /next, "init-error"
// posts /init/error; otherwise each payload says what to do: "sleep",
// "crash" (exit mid-invocation), "fail" (post /error), else echo.
func fakeRuntime(mode string) int {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	switch mode {
	case "exit-init":
		fmt.Fprintln(os.Stderr, "cannot start")
		return 3
	case "init-error":
		body := `{"errorType":"Runtime.InvalidConfiguration","errorMessage":"BUCKET_NAME is required"}`
		resp, err := http.Post(api+"init/error", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(time.Minute) // the pool must kill a runtime that lingers
		return 1
	}
	for {
		resp, err := http.Get(api + "invocation/next")
		if err != nil {
			return 1
		}
		payload, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		fmt.Fprintf(os.Stderr, "handling %s for %s\n", payload, os.Getenv("_HANDLER"))
		switch string(payload) {
		case "sleep":
			time.Sleep(time.Minute)
		case "crash":
			return 2
		case "panic":
			// As aws-lambda-go does after a panic: report, then exit.
			r, err := http.Post(api+"invocation/"+id+"/error", "application/json",
				strings.NewReader(`{"errorType":"Runtime.Panic","errorMessage":"boom"}`))
			if err == nil {
				r.Body.Close()
			}
			return 1
		case "fail":
			r, err := http.Post(api+"invocation/"+id+"/error", "application/json",
				strings.NewReader(`{"errorType":"ValueError","errorMessage":"Not the first version"}`))
			if err == nil {
				r.Body.Close()
			}
			continue
		}
		r, err := http.Post(api+"invocation/"+id+"/response", "application/json", bytes.NewReader(append([]byte("echo:"), payload...)))
		if err != nil {
			return 1
		}
		r.Body.Close()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newPool(t *testing.T, mode string, mutate func(*Config)) (*Pool, *syncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := Config{Command: []string{exe}, Handler: "verify", Env: []string{"FAKE_RUNTIME=" + mode},
		Timeout: 5 * time.Second, Concurrency: 2, Logger: zerolog.New(io.MultiWriter(logs, zerolog.NewTestWriter(t)))}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, logs
}

func invoke(t *testing.T, p *Pool, payload string) (string, *FunctionError) {
	t.Helper()
	out, err := p.Invoke(context.Background(), []byte(payload))
	if err == nil {
		return string(out), nil
	}
	fe, ok := errors.AsType[*FunctionError](err)
	if !ok {
		t.Fatalf("invoke %q: %v is not a FunctionError", payload, err)
	}
	return "", fe
}

func TestInvokeEchoesOnWarmProcesses(t *testing.T) {
	p, logs := newPool(t, "echo", nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			out, fe := invoke(t, p, fmt.Sprint(i))
			if fe != nil || out != "echo:"+fmt.Sprint(i) {
				t.Errorf("invoke %d: %q %v", i, out, fe)
			}
		})
	}
	wg.Wait()
	st := p.Stats()
	// Concurrency 2: at most two processes, each reused.
	if st.Starts < 1 || st.Starts > 2 || st.Invocations != 8 || st.FunctionErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The function's stderr is logged with the request id it ran under.
	found := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["stream"] == "stderr" && l["message"] == "handling 3 for verify" {
			id, _ := l["request_id"].(string)
			found = len(id) == 36
		}
	}
	if !found {
		t.Fatalf("no stderr line with a request id in:\n%s", logs.String())
	}
}

func TestTimeoutKillsAndReplaces(t *testing.T) {
	p, _ := newPool(t, "echo", func(c *Config) { c.Timeout = 300 * time.Millisecond; c.Concurrency = 1 })
	start := time.Now()
	_, fe := invoke(t, p, "sleep")
	if fe == nil || fe.Cause != CauseTimeout || fe.Type != "Sandbox.Timedout" || fe.Message != "Task timed out after 0.30 seconds" {
		t.Fatalf("sleep: %+v", fe)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("timeout took %v", took)
	}
	out, fe := invoke(t, p, "after")
	if fe != nil || out != "echo:after" {
		t.Fatalf("after the timeout: %q %+v", out, fe)
	}
	if st := p.Stats(); st.Starts != 2 || st.Timeouts != 1 {
		t.Fatalf("stats %+v: want a killed process replaced", st)
	}
}

func TestCrashMidInvocationIsReplaced(t *testing.T) {
	p, _ := newPool(t, "echo", func(c *Config) { c.Concurrency = 1 })
	_, fe := invoke(t, p, "crash")
	if fe == nil || fe.Cause != CauseExit || fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "exit status 2") {
		t.Fatalf("crash: %+v", fe)
	}
	if out, fe := invoke(t, p, "again"); fe != nil || out != "echo:again" {
		t.Fatalf("after the crash: %q %+v", out, fe)
	}
	if st := p.Stats(); st.Starts != 2 || st.Exits != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPanicReportsThenReplaces(t *testing.T) {
	p, _ := newPool(t, "echo", func(c *Config) { c.Concurrency = 1 })
	_, fe := invoke(t, p, "panic")
	if fe == nil || fe.Cause != CauseHandler || fe.Type != "Runtime.Panic" || fe.Message != "boom" {
		t.Fatalf("panic: %+v, want the posted error to win over the exit", fe)
	}
	if out, fe := invoke(t, p, "again"); fe != nil || out != "echo:again" {
		t.Fatalf("after the panic: %q %+v", out, fe)
	}
	if st := p.Stats(); st.Starts != 2 {
		t.Fatalf("stats %+v: want the exited process replaced", st)
	}
}

func TestFunctionErrorKeepsProcess(t *testing.T) {
	p, _ := newPool(t, "echo", func(c *Config) { c.Concurrency = 1 })
	_, fe := invoke(t, p, "fail")
	if fe == nil || fe.Cause != CauseHandler || fe.Type != "ValueError" || fe.Message != "Not the first version" {
		t.Fatalf("fail: %+v", fe)
	}
	if out, fe := invoke(t, p, "ok"); fe != nil || out != "echo:ok" {
		t.Fatalf("after the error: %q %+v", out, fe)
	}
	if st := p.Stats(); st.Starts != 1 {
		t.Fatalf("stats %+v: a handler error must not cost the process", st)
	}
}

func TestInitFailures(t *testing.T) {
	for _, tc := range []struct{ mode, wantType, wantIn string }{
		{"exit-init", "Runtime.ExitError", "exit status 3"},
		{"init-error", "Runtime.InvalidConfiguration", "BUCKET_NAME"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			p, _ := newPool(t, tc.mode, nil)
			for range 2 { // every invocation fails; each tries a new process
				start := time.Now()
				_, fe := invoke(t, p, "x")
				if fe == nil || fe.Cause != CauseInit || fe.Type != tc.wantType || !strings.Contains(fe.Message, tc.wantIn) {
					t.Fatalf("init: %+v", fe)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("init failure took %v", took)
				}
			}
			if st := p.Stats(); st.Starts != 2 || st.InitErrors != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	p, _ := newPool(t, "echo", func(c *Config) { c.Env = append(c.Env, "AWS_REGION=eu-west-1", "EXTRA=1") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := &environment{pool: p, id: 7, ln: ln}
	got := map[string]string{}
	for _, kv := range e.environ() {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v // later entries win, as in exec.Cmd
	}
	want := map[string]string{"AWS_LAMBDA_RUNTIME_API": ln.Addr().String(), "_HANDLER": "verify",
		"AWS_LAMBDA_FUNCTION_NAME": "uploadonce-verify", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1", "EXTRA": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"bin/lambda", []string{"bin/lambda"}},
		{"  python3   -u  fn.py ", []string{"python3", "-u", "fn.py"}},
		{`sh -c 'echo "a b"; exit 3'`, []string{"sh", "-c", `echo "a b"; exit 3`}},
		{`a "b \"c\" \d" e\ f ''`, []string{"a", `b "c" \d`, "e f", ""}},
		{`$HOME/x *.py`, []string{"$HOME/x", "*.py"}}, // no expansion
	} {
		got, err := Split(tc.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "   ", `a 'b`, `a "b`, `a\`} {
		if _, err := Split(bad); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Split(%q): err %v, want ErrBadCommand", bad, err)
		}
	}
}
