package onetime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// memObjects is an unversioned bucket in memory that records the calls
// made to it and fails the ones set in fail ("copy", "head", "delete").
type memObjects struct {
	mu    sync.Mutex
	etags map[string]string // key -> ETag
	calls []string
	fail  map[string]error
}

var _ onetime.Objects = (*memObjects)(nil)

func newMemObjects(etags map[string]string) *memObjects {
	if etags == nil {
		etags = map[string]string{}
	}
	return &memObjects{etags: etags, fail: map[string]error{}}
}

func (m *memObjects) Copy(_ context.Context, in onetime.CopyInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("copy %s %s v=%s if=%s", in.SrcKey, in.DstKey, in.SrcVersionID, in.IfMatch))
	if err := m.fail["copy"]; err != nil {
		return err
	}
	etag, ok := m.etags[in.SrcKey]
	if !ok {
		return fmt.Errorf("copy %s: %w", in.SrcKey, onetime.ErrNoSuchKey)
	}
	if in.IfMatch != "" && in.IfMatch != etag {
		return fmt.Errorf("copy %s: %w", in.SrcKey, onetime.ErrPreconditionFailed)
	}
	m.etags[in.DstKey] = etag
	return nil
}

func (m *memObjects) Delete(_ context.Context, in onetime.DeleteInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("delete %s v=%s if=%s", in.Key, in.VersionID, in.IfMatch))
	if err := m.fail["delete"]; err != nil {
		return err
	}
	if etag, ok := m.etags[in.Key]; ok && in.IfMatch != "" && in.IfMatch != etag {
		return fmt.Errorf("delete %s: %w", in.Key, onetime.ErrPreconditionFailed)
	}
	delete(m.etags, in.Key)
	return nil
}

func (m *memObjects) Head(_ context.Context, _, key string) (onetime.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "head "+key)
	if err := m.fail["head"]; err != nil {
		return onetime.ObjectInfo{}, err
	}
	etag, ok := m.etags[key]
	if !ok {
		return onetime.ObjectInfo{}, fmt.Errorf("head %s: %w", key, onetime.ErrNoSuchKey)
	}
	return onetime.ObjectInfo{Key: key, ETag: etag}, nil
}

func (m *memObjects) callList() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.calls, "; ")
}

// fixed is a strategy that answers every claim with one verdict or error.
type fixed struct {
	verdict onetime.Verdict
	err     error
}

func (fixed) Name() string                                  { return "fixed" }
func (fixed) Register(context.Context, onetime.Token) error { return nil }
func (f fixed) Claim(context.Context, onetime.Upload) (onetime.Verdict, error) {
	return f.verdict, f.err
}

func record(key, etag, version string) events.S3EventRecord {
	var r events.S3EventRecord
	r.EventName = "ObjectCreated:Post"
	r.S3.Bucket.Name = "b"
	r.S3.Object.Key = key
	r.S3.Object.ETag = etag
	r.S3.Object.VersionID = version
	r.S3.Object.Sequencer = "0A"
	r.S3.Object.Size = 4
	return r
}

// decided runs v on recs and returns its decisions as
// "decision/reason[(retryable)]" and the error Handle returned.
func decided(t *testing.T, v *onetime.Verifier, recs ...events.S3EventRecord) ([]onetime.Decision, error) {
	t.Helper()
	var ds []onetime.Decision
	v.Record = func(d onetime.Decision) { ds = append(ds, d) }
	if v.Clock == nil {
		v.Clock = &testClock{now: time.Unix(1_700_000_000, 0)}
	}
	err := v.Handle(context.Background(), events.S3Event{Records: recs})
	return ds, err
}

func summary(ds []onetime.Decision) string {
	var out []string
	for _, d := range ds {
		s := d.Decision + "/" + string(d.Reason)
		if d.Retryable {
			s += "(retryable)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

var errS3Down = errors.New("s3: connection reset")

// TestVerifierAccept walks the accept path: the copy to accepted/, the
// source's removal, and each way it can fail. Commented rows say why.
func TestVerifierAccept(t *testing.T) {
	const up, acc = "uploads/f", "accepted/f"
	for _, tc := range []struct {
		name     string
		objects  map[string]string // before
		fail     map[string]error
		verdict  onetime.Verdict
		etag     string // the event's
		want     string // decisions
		wantErr  bool
		wantObjs string // after: uploads/f, accepted/f ETags ("-" when absent)
		calls    string
	}{
		{name: "first accept copies then deletes the source by ETag",
			objects: map[string]string{up: "e1"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "e1",
			want: "accepted/first-use", wantObjs: "- e1",
			calls: "copy uploads/f accepted/f v= if=; delete uploads/f v= if=e1"},
		{name: "a verdict's IfMatch conditions the copy",
			objects: map[string]string{up: "e1"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse, IfMatch: "e1"}, etag: "e1",
			want: "accepted/first-use", wantObjs: "- e1",
			calls: "copy uploads/f accepted/f v= if=e1; delete uploads/f v= if=e1"},
		{name: "a version is copied by id and its source deleted without a condition",
			objects: map[string]string{up: "e1"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonOldestVersion, CopyVersionID: "v1"}, etag: "e1",
			want: "accepted/oldest-version", wantObjs: "- e1",
			calls: "copy uploads/f accepted/f v=v1 if=; delete uploads/f v= if="},
		{name: "KeepSource leaves the upload in place",
			objects: map[string]string{up: "e1"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonConditionalWrite, KeepSource: true}, etag: "e1",
			want: "accepted/conditional-write", wantObjs: "e1 e1",
			calls: "copy uploads/f accepted/f v= if="},
		{name: "bytes replaced before the copy: rejected as overwritten, not retried",
			objects: map[string]string{up: "e2"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse, IfMatch: "e1"}, etag: "e1",
			want: "rejected/overwritten-before-copy", wantObjs: "e2 -",
			calls: "copy uploads/f accepted/f v= if=e1"},
		{name: "redelivery after the move: accepted/ holds these bytes, so done",
			objects: map[string]string{acc: "e1"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonRedelivery, Redelivery: true, IfMatch: "e1"}, etag: "e1",
			want: "accepted/redelivery-of-winner", wantObjs: "- e1",
			calls: "copy uploads/f accepted/f v= if=e1; head accepted/f"},
		{name: "source gone and accepted/ holds other bytes: a retryable reject, never an accept",
			objects: map[string]string{acc: "e2"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonRedelivery, Redelivery: true, IfMatch: "e1"}, etag: "e1",
			want: "rejected/infrastructure-error(retryable)", wantErr: true, wantObjs: "- e2",
			calls: "copy uploads/f accepted/f v= if=e1; head accepted/f"},
		{name: "source gone and no accepted copy: a retryable reject",
			verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "e1",
			want: "rejected/infrastructure-error(retryable)", wantErr: true, wantObjs: "- -",
			calls: "copy uploads/f accepted/f v= if=; head accepted/f"},
		{name: "an event without an ETag accepts whatever accepted/ holds",
			objects: map[string]string{acc: "e2"}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "",
			want: "accepted/first-use", wantObjs: "- e2",
			calls: "copy uploads/f accepted/f v= if=; head accepted/f"},
		{name: "copy fails: fail closed and retry",
			objects: map[string]string{up: "e1"}, fail: map[string]error{"copy": errS3Down}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "e1",
			want: "rejected/infrastructure-error(retryable)", wantErr: true, wantObjs: "e1 -",
			calls: "copy uploads/f accepted/f v= if="},
		{name: "delete after the copy fails: retried (the retry finds the copy done)",
			objects: map[string]string{up: "e1"}, fail: map[string]error{"delete": errS3Down}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "e1",
			want: "rejected/infrastructure-error(retryable)", wantErr: true, wantObjs: "e1 e1",
			calls: "copy uploads/f accepted/f v= if=; delete uploads/f v= if=e1"},
		{name: "a newer upload replaced the source after the copy: it is left, the accept stands",
			objects: map[string]string{up: "e1"}, fail: map[string]error{"delete": onetime.ErrPreconditionFailed}, verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}, etag: "e1",
			want: "accepted/first-use", wantObjs: "e1 e1",
			calls: "copy uploads/f accepted/f v= if=; delete uploads/f v= if=e1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := newMemObjects(tc.objects)
			for k, err := range tc.fail {
				objs.fail[k] = err
			}
			v := &onetime.Verifier{Strategy: fixed{verdict: tc.verdict}, Objects: objs}
			ds, err := decided(t, v, record(up, `"`+tc.etag+`"`, ""))
			if got := summary(ds); got != tc.want {
				t.Fatalf("decisions %q, want %q (calls: %s)", got, tc.want, objs.callList())
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("Handle error %v, want error %v", err, tc.wantErr)
			}
			d := ds[0]
			if d.Key != up || d.Bucket != "b" || d.ETag != tc.etag || d.Strategy != "fixed" || d.Sequencer != "0A" || d.Size != 4 ||
				d.Redelivery != tc.verdict.Redelivery || !d.Time.Equal(time.Unix(1_700_000_000, 0)) {
				t.Fatalf("decision %+v", d)
			}
			if (d.Detail != "") != strings.HasPrefix(tc.want, "rejected") {
				t.Fatalf("detail %q on %s", d.Detail, tc.want)
			}
			dash := func(k string) string {
				if e, ok := objs.etags[k]; ok {
					return e
				}
				return "-"
			}
			if got := dash(up) + " " + dash(acc); got != tc.wantObjs {
				t.Fatalf("objects after: %s, want %s", got, tc.wantObjs)
			}
			if got := objs.callList(); got != tc.calls {
				t.Fatalf("calls:\n%s\nwant\n%s", got, tc.calls)
			}
		})
	}
}

// TestVerifierReject: a rejected upload is removed only when that cannot
// take the winner's object away, and is kept entirely with KeepRejected.
func TestVerifierReject(t *testing.T) {
	const up, acc = "uploads/f", "accepted/f"
	reject := onetime.Verdict{Reason: onetime.ReasonTokenConsumed}
	for _, tc := range []struct {
		name         string
		objects      map[string]string
		fail         map[string]error
		version      string
		keepRejected bool
		wantObjs     string
		detail       string // a prefix
		calls        string
	}{
		{name: "a rejected version is always deleted, by version",
			objects: map[string]string{up: "e1"}, version: "v2", wantObjs: "- -",
			calls: "delete uploads/f v=v2 if="},
		{name: "unversioned, no accepted copy yet: the object may be the winner's, so it stays",
			objects: map[string]string{up: "e1"}, wantObjs: "e1 -", detail: "left in place",
			calls: "head accepted/f"},
		{name: "unversioned, winner copied: deleted if it still holds the rejected bytes",
			objects: map[string]string{up: "e1", acc: "e0"}, wantObjs: "- e0",
			calls: "head accepted/f; delete uploads/f v= if=e1"},
		{name: "unversioned, a newer upload replaced it: the condition keeps it",
			objects: map[string]string{up: "e3", acc: "e0"}, wantObjs: "e3 e0",
			calls: "head accepted/f; delete uploads/f v= if=e1"},
		{name: "a failed delete is noted, not retried",
			objects: map[string]string{up: "e1"}, version: "v2", fail: map[string]error{"delete": errS3Down}, wantObjs: "e1 -",
			detail: "delete of the rejected upload failed", calls: "delete uploads/f v=v2 if="},
		{name: "KeepRejected, as the reference: nothing is touched",
			objects: map[string]string{up: "e1", acc: "e0"}, version: "v2", keepRejected: true, wantObjs: "e1 e0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := newMemObjects(tc.objects)
			for k, err := range tc.fail {
				objs.fail[k] = err
			}
			v := &onetime.Verifier{Strategy: fixed{verdict: reject}, Objects: objs, KeepRejected: tc.keepRejected}
			ds, err := decided(t, v, record(up, "e1", tc.version))
			if err != nil || summary(ds) != "rejected/token-consumed" {
				t.Fatalf("decisions %q, %v", summary(ds), err)
			}
			if d := ds[0].Detail; !strings.HasPrefix(d, tc.detail) || (tc.detail == "") != (d == "") {
				t.Fatalf("detail %q, want %q", d, tc.detail)
			}
			dash := func(k string) string {
				if e, ok := objs.etags[k]; ok {
					return e
				}
				return "-"
			}
			if got := dash(up) + " " + dash(acc); got != tc.wantObjs {
				t.Fatalf("objects after: %s, want %s", got, tc.wantObjs)
			}
			if got := objs.callList(); got != tc.calls {
				t.Fatalf("calls:\n%s\nwant\n%s", got, tc.calls)
			}
		})
	}
}

// TestVerifierRecords: what the verifier judges, how it reads the key, and
// how it reports several records.
func TestVerifierRecords(t *testing.T) {
	accept := fixed{verdict: onetime.Verdict{Accept: true, Reason: onetime.ReasonFirstUse}}

	t.Run("only ObjectCreated under the prefix is judged", func(t *testing.T) {
		objs := newMemObjects(map[string]string{"uploads/a": "e", "other/b": "e"})
		removed := record("uploads/a", "e", "")
		removed.EventName = "ObjectRemoved:Delete"
		ds, err := decided(t, &onetime.Verifier{Strategy: accept, Objects: objs}, removed, record("other/b", "e", ""))
		if err != nil || len(ds) != 0 || objs.callList() != "" {
			t.Fatalf("decisions %v, err %v, calls %q; want none", ds, err, objs.callList())
		}
	})
	t.Run("a custom prefix maps to accepted/", func(t *testing.T) {
		objs := newMemObjects(map[string]string{"in/a": "e"})
		ds, err := decided(t, &onetime.Verifier{Strategy: accept, Objects: objs, Prefix: "in/"}, record("in/a", "e", ""), record("uploads/b", "e", ""))
		if err != nil || summary(ds) != "accepted/first-use" || objs.etags["accepted/a"] != "e" {
			t.Fatalf("decisions %q, err %v, objects %v", summary(ds), err, objs.etags)
		}
	})
	t.Run("the event key is form-decoded unless the decoded key is given", func(t *testing.T) {
		objs := newMemObjects(map[string]string{"uploads/a b+c": "e", "uploads/d": "e"})
		decodedGiven := record("uploads/ignored", "e", "")
		decodedGiven.S3.Object.URLDecodedKey = "uploads/d"
		ds, err := decided(t, &onetime.Verifier{Strategy: accept, Objects: objs}, record("uploads/a+b%2Bc", "e", ""), decodedGiven)
		if err != nil || len(ds) != 2 || ds[0].Key != "uploads/a b+c" || ds[1].Key != "uploads/d" {
			t.Fatalf("decisions %+v, %v", ds, err)
		}
	})
	t.Run("a key that does not decode is an error, not a decision", func(t *testing.T) {
		ds, err := decided(t, &onetime.Verifier{Strategy: accept, Objects: newMemObjects(nil)}, record("uploads/%zz", "e", ""))
		if err == nil || len(ds) != 0 || !strings.Contains(err.Error(), "%zz") {
			t.Fatalf("decisions %v, err %v", ds, err)
		}
	})
	t.Run("a claim error fails closed, retryable, and names the cause", func(t *testing.T) {
		objs := newMemObjects(map[string]string{"uploads/a": "e"})
		ds, err := decided(t, &onetime.Verifier{Strategy: fixed{err: errDown}, Objects: objs}, record("uploads/a", "e", ""))
		if !errors.Is(err, errDown) || summary(ds) != "rejected/infrastructure-error(retryable)" || ds[0].Detail != errDown.Error() || objs.callList() != "" {
			t.Fatalf("decisions %q, err %v, calls %q", summary(ds), err, objs.callList())
		}
	})
	t.Run("every record is decided and every error returned", func(t *testing.T) {
		objs := newMemObjects(map[string]string{"uploads/a": "e"})
		ds, err := decided(t, &onetime.Verifier{Strategy: accept, Objects: objs},
			record("uploads/gone1", "e", ""), record("uploads/a", "e", ""), record("uploads/gone2", "e", ""))
		if got := summary(ds); got != "rejected/infrastructure-error(retryable) accepted/first-use rejected/infrastructure-error(retryable)" {
			t.Fatalf("decisions %q", got)
		}
		if err == nil || !strings.Contains(err.Error(), "uploads/gone1") || !strings.Contains(err.Error(), "uploads/gone2") || !errors.Is(err, onetime.ErrNoSuchKey) {
			t.Fatalf("err %v: want both failures", err)
		}
	})
}

// TestVerifierWithEveryMemcachedStrategy: two uploads of one URL through
// the verifier with each memcached strategy, then the winner's event again.
func TestVerifierWithEveryMemcachedStrategy(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     string
	}{
		// get-delete and delete reject the winner's redelivery: the token is gone.
		{onetime.GetDelete, "accepted/first-use rejected/token-missing rejected/token-missing"},
		{onetime.Delete, "accepted/first-use rejected/token-missing rejected/token-missing"},
		// cas names the winner in the consumed marker and accepts its
		// redelivery again; accepted/ already holds its bytes.
		{onetime.CAS, "accepted/first-use rejected/token-consumed accepted/redelivery-of-winner"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			clk := &testClock{now: time.Unix(1_700_000_000, 0)}
			s, err := onetime.NewMemcachedStrategy(tc.strategy, newCache(t), clk)
			if err != nil || s.Name() != tc.strategy {
				t.Fatalf("strategy %v, %v", s, err)
			}
			if err := s.Register(context.Background(), onetime.Token{Key: "uploads/k", Deadline: clk.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			objs := newMemObjects(map[string]string{"uploads/k": "e1"})
			v := &onetime.Verifier{Strategy: s, Objects: objs, Clock: clk}
			first := record("uploads/k", "e1", "")
			second := record("uploads/k", "e1", "")
			second.S3.Object.Sequencer = "0B"
			ds, err := decided(t, v, first, second, first)
			if err != nil || summary(ds) != tc.want {
				t.Fatalf("decisions %q, %v; want %q", summary(ds), err, tc.want)
			}
			if objs.etags["accepted/k"] != "e1" {
				t.Fatalf("accepted/k = %q", objs.etags["accepted/k"])
			}
		})
	}
}
