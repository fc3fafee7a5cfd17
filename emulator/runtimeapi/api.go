package runtimeapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The Runtime API's paths, version 2018-06-01.
const (
	pathNext      = "/2018-06-01/runtime/invocation/next"
	pathResponse  = "/2018-06-01/runtime/invocation/{id}/response"
	pathError     = "/2018-06-01/runtime/invocation/{id}/error"
	pathInitError = "/2018-06-01/runtime/init/error"
)

func (e *environment) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathNext, e.next)
	mux.HandleFunc("POST "+pathResponse, e.respond)
	mux.HandleFunc("POST "+pathError, e.invocationError)
	mux.HandleFunc("POST "+pathInitError, e.initError)
	return mux
}

// next blocks until the pool hands this environment an invocation; the
// first call ends the init phase.
func (e *environment) next(w http.ResponseWriter, r *http.Request) {
	e.readyOnce.Do(func() { close(e.ready) })
	select {
	case inv := <-e.handoff:
		e.mu.Lock()
		e.current, e.lastID = inv, inv.id
		e.mu.Unlock()
		cfg := e.pool.cfg
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:"+cfg.Region+":000000000000:function:"+cfg.FunctionName)
		h.Set("Lambda-Runtime-Trace-Id", traceID(inv.id))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// take returns the current invocation if id names it, and clears it.
func (e *environment) take(id string) (*invocation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil || e.current.id != id {
		return nil, false
	}
	inv := e.current
	e.current = nil
	return inv, true
}

func (e *environment) respond(w http.ResponseWriter, r *http.Request) {
	inv, ok := e.take(r.PathValue("id"))
	if !ok {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has this request id")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseBytes+1))
	switch {
	case err != nil:
		inv.finish(outcome{err: e.exitError(inv)})
		return
	case len(body) > MaxResponseBytes:
		inv.finish(outcome{err: &FunctionError{RequestID: inv.id, Cause: CauseTooBig, Type: "Function.ResponseSizeTooLarge",
			Message: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}})
		writeStatus(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response above 6 MB")
		return
	}
	inv.finish(outcome{body: body})
	writeStatus(w, http.StatusAccepted, "", "")
}

func (e *environment) invocationError(w http.ResponseWriter, r *http.Request) {
	inv, ok := e.take(r.PathValue("id"))
	if !ok {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has this request id")
		return
	}
	fe := readError(r)
	fe.RequestID, fe.Cause = inv.id, CauseHandler
	e.pool.log.Warn().Str("request_id", inv.id).Str("error_type", fe.Type).Str("error", fe.Message).Msg("function error")
	inv.finish(outcome{err: fe})
	writeStatus(w, http.StatusAccepted, "", "")
}

// initError records the error; the process is expected to exit, and is
// killed if it has not within a second.
func (e *environment) initError(w http.ResponseWriter, r *http.Request) {
	fe := readError(r)
	fe.Cause = CauseInit
	e.mu.Lock()
	e.initErr = fe
	e.mu.Unlock()
	e.pool.log.Error().Str("error_type", fe.Type).Str("error", fe.Message).Msg("function init error")
	writeStatus(w, http.StatusAccepted, "", "")
	go func() {
		select {
		case <-e.exited:
		case <-time.After(time.Second):
			e.kill()
		}
	}()
}

// readError reads {"errorMessage", "errorType"}; the type may also come in
// the Lambda-Runtime-Function-Error-Type header.
func readError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBytes))
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil {
		fe.Message = string(bytes.TrimSpace(body))
	}
	if fe.Type == "" {
		fe.Type = orDefault(r.Header.Get("Lambda-Runtime-Function-Error-Type"), "Unhandled")
	}
	return fe
}

func writeStatus(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if errType == "" {
		_, _ = w.Write([]byte(`{"status":"OK"}`))
		return
	}
	b, _ := json.Marshal(map[string]string{"errorType": errType, "errorMessage": msg})
	_, _ = w.Write(b)
}

func traceID(requestID string) string {
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + requestID[:8] + requestID[9:13] + requestID[14:18] +
		requestID[19:23] + ";Sampled=0"
}

// lineLogger logs a process's output a line at a time, with the request id
// of the latest invocation: output passes through a pipe, so a line may
// arrive after its invocation's response.
type lineLogger struct {
	env    *environment
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a very long line without a newline
		l.emit(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineLogger) emit(line string) {
	e := l.env
	e.mu.Lock()
	id := e.lastID
	e.mu.Unlock()
	e.pool.log.Info().Str("function", e.pool.cfg.FunctionName).Int("env", e.id).Str("request_id", id).
		Str("stream", l.stream).Msg(line)
}
