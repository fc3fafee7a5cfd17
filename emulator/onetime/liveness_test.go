package onetime_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/onetime"
)

func TestCASPassClaim(t *testing.T) {
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	s, err := onetime.NewMemcachedStrategy(onetime.CAS, newCache(t), clk)
	if err != nil {
		t.Fatal(err)
	}
	passer := s.(onetime.ClaimPasser)
	ctx := context.Background()
	key := "uploads/pass"
	if err := s.Register(ctx, onetime.Token{Key: key, Deadline: clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	a := onetime.Upload{Key: key, ETag: "aa", Sequencer: "01"}
	b := onetime.Upload{Key: key, ETag: "bb", Sequencer: "02"}
	c := onetime.Upload{Key: key, ETag: "cc", Sequencer: "03"}
	step := func(what string, got onetime.Verdict, err error, accept bool, reason onetime.Reason, ifMatch string) {
		t.Helper()
		if err != nil || got.Accept != accept || got.Reason != reason || got.IfMatch != ifMatch {
			t.Fatalf("%s = %+v, %v; want accept=%v reason=%s IfMatch=%q", what, got, err, accept, reason, ifMatch)
		}
	}
	v, err := s.Claim(ctx, a)
	step("a claims", v, err, true, onetime.ReasonFirstUse, "aa")
	v, err = s.Claim(ctx, b)
	step("b claims while a holds", v, err, false, onetime.ReasonTokenConsumed, "")
	v, err = passer.PassClaim(ctx, b, &onetime.ObjectInfo{ETag: "cc"})
	step("b, not the holder, passes", v, err, false, onetime.ReasonTokenConsumed, "")
	// b's bytes replaced a's before a's copy: a's claim passes to them.
	v, err = passer.PassClaim(ctx, a, &onetime.ObjectInfo{ETag: "bb"})
	step("a passes to bb", v, err, true, onetime.ReasonClaimPassed, "bb")
	v, err = passer.PassClaim(ctx, a, &onetime.ObjectInfo{ETag: "bb"})
	step("a passes to bb again (a duplicate delivery)", v, err, true, onetime.ReasonClaimPassed, "bb")
	v, err = s.Claim(ctx, a)
	step("a redelivered", v, err, true, onetime.ReasonRedelivery, "bb")
	v, err = s.Claim(ctx, b)
	step("b's own event after the pass", v, err, false, onetime.ReasonTokenConsumed, "")
	// The key holds nothing any more: a gives the claim back, c takes it.
	v, err = passer.PassClaim(ctx, a, nil)
	step("a releases", v, err, false, onetime.ReasonClaimReleased, "")
	v, err = s.Claim(ctx, c)
	step("c claims after the release", v, err, true, onetime.ReasonFirstUse, "cc")
	v, err = s.Claim(ctx, a)
	step("a after c took it", v, err, false, onetime.ReasonTokenConsumed, "")
}

// liveBucket is an in-memory bucket for the verifier: versioned or not,
// with S3's conditional copy and delete.
type liveBucket struct {
	mu        sync.Mutex
	versioned bool
	seq       int
	objs      map[string][]liveVersion // key -> versions, oldest first
}

type liveVersion struct{ id, etag, body string }

func newLiveBucket(versioned bool) *liveBucket {
	return &liveBucket{versioned: versioned, objs: map[string][]liveVersion{}}
}

var (
	_ onetime.Objects       = (*liveBucket)(nil)
	_ onetime.VersionLister = (*liveBucket)(nil)
)

func etagOf(body string) string { s := md5.Sum([]byte(body)); return hex.EncodeToString(s[:]) }

// put writes body and returns the event record S3 would send.
func (m *liveBucket) put(key, body string) events.S3EventRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	v := liveVersion{etag: etagOf(body), body: body}
	if m.versioned {
		v.id = fmt.Sprintf("v%d", m.seq)
		m.objs[key] = append(m.objs[key], v)
	} else {
		m.objs[key] = []liveVersion{v}
	}
	var rec events.S3EventRecord
	rec.EventName = "ObjectCreated:Put"
	rec.S3.Bucket.Name = "b"
	rec.S3.Object = events.S3Object{Key: key, URLDecodedKey: key, ETag: v.etag, VersionID: v.id, Sequencer: fmt.Sprintf("%016X", m.seq)}
	return rec
}

func (m *liveBucket) current(key string) (liveVersion, bool) {
	vs := m.objs[key]
	if len(vs) == 0 {
		return liveVersion{}, false
	}
	return vs[len(vs)-1], true
}

func (m *liveBucket) Copy(_ context.Context, in onetime.CopyInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	src, ok := m.current(in.SrcKey)
	if in.SrcVersionID != "" {
		i := slices.IndexFunc(m.objs[in.SrcKey], func(v liveVersion) bool { return v.id == in.SrcVersionID })
		ok = i >= 0
		if ok {
			src = m.objs[in.SrcKey][i]
		}
	}
	switch {
	case !ok:
		return onetime.ErrNoSuchKey
	case in.IfMatch != "" && in.IfMatch != src.etag:
		return onetime.ErrPreconditionFailed
	}
	m.seq++
	src.id = ""
	if m.versioned {
		src.id = fmt.Sprintf("v%d", m.seq)
	}
	m.objs[in.DstKey] = append(m.objs[in.DstKey], src)
	return nil
}

func (m *liveBucket) Delete(_ context.Context, in onetime.DeleteInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in.VersionID != "" {
		m.objs[in.Key] = slices.DeleteFunc(m.objs[in.Key], func(v liveVersion) bool { return v.id == in.VersionID })
		return nil
	}
	cur, ok := m.current(in.Key)
	if ok && in.IfMatch != "" && in.IfMatch != cur.etag {
		return onetime.ErrPreconditionFailed
	}
	if m.versioned {
		return nil // a delete marker hides nothing the verifier lists
	}
	delete(m.objs, in.Key)
	return nil
}

func (m *liveBucket) Head(_ context.Context, _, key string) (onetime.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.current(key)
	if !ok {
		return onetime.ObjectInfo{}, onetime.ErrNoSuchKey
	}
	return onetime.ObjectInfo{Key: key, ETag: v.etag, VersionID: v.id, Size: int64(len(v.body))}, nil
}

func (m *liveBucket) Versions(_ context.Context, _, key string) ([]onetime.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []onetime.ObjectInfo
	for _, v := range m.objs[key] {
		out = append(out, onetime.ObjectInfo{Key: key, ETag: v.etag, VersionID: v.id, Size: int64(len(v.body))})
	}
	return out, nil
}

// TestOverwriteLiveness uploads twice to one URL and hands the verifier the
// events in every order that matters (and, unversioned, S3's coalesced
// single event): the strategies that owe liveness end with exactly one
// accepted upload, whose bytes are in accepted/ and are what the accept
// names.
func TestOverwriteLiveness(t *testing.T) {
	// Each schedule is a string of steps: 1 and 2 write the first and the
	// second upload, a and b deliver their events (b of the second write;
	// coalesced schedules deliver only a).
	schedules := []struct{ name, steps string }{
		{"sequential, events in order", "1a2b"},
		{"both written, then events in order", "12ab"},
		{"both written, then events reversed", "12ba"},
		{"coalesced: one event for both writes", "12a"},
		{"both written, first event twice", "12aab"},
	}
	for _, strategy := range []string{onetime.CAS, onetime.Versioning, onetime.IfNoneMatch} {
		for _, sc := range schedules {
			t.Run(strategy+"/"+sc.name, func(t *testing.T) {
				if strategy == onetime.Versioning && !strings.Contains(sc.steps, "b") {
					t.Skip("a versioned bucket neither overwrites nor coalesces")
				}
				runSchedule(t, strategy, sc.steps)
			})
		}
	}
}

func runSchedule(t *testing.T, strategy, steps string) {
	t.Helper()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	objs := newLiveBucket(strategy == onetime.Versioning)
	var s onetime.Strategy
	var err error
	if onetime.UsesMemcached(strategy) {
		s, err = onetime.NewMemcachedStrategy(strategy, newCache(t), clk)
	} else {
		s, err = onetime.NewS3Strategy(strategy, objs)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const key = "uploads/UploadFilename-twice"
	if err := s.Register(ctx, onetime.Token{Key: key, Deadline: clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var decisions []onetime.Decision
	v := &onetime.Verifier{Strategy: s, Objects: objs, Clock: clk, Record: func(d onetime.Decision) { decisions = append(decisions, d) }}
	recs := map[byte]events.S3EventRecord{}
	written := map[string]bool{} // ETags S3 took
	for i := range len(steps) {
		switch c := steps[i]; c {
		case '1', '2':
			if strategy == onetime.IfNoneMatch && c == '2' {
				continue // S3 refuses the second PUT with 412: no write, no event
			}
			rec := objs.put(key, "body of upload "+string(c))
			recs['a'+c-'1'] = rec
			written[rec.S3.Object.ETag] = true
		default:
			rec, ok := recs[c]
			if !ok {
				continue
			}
			if err := v.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{rec}}); err != nil {
				t.Fatalf("event %c: %v", c, err)
			}
		}
	}
	accepted := map[string]string{} // sequencer -> ETag named by the accept
	for _, d := range decisions {
		if d.Decision == onetime.Accepted {
			accepted[d.Sequencer] = d.ETag
		}
	}
	if len(accepted) != 1 {
		t.Fatalf("%d distinct uploads accepted, want exactly 1; decisions %+v", len(accepted), decisions)
	}
	info, err := objs.Head(ctx, "b", "accepted/UploadFilename-twice")
	if err != nil {
		t.Fatalf("accepted copy: %v; decisions %+v", err, decisions)
	}
	for _, etag := range accepted {
		if info.ETag != etag || !written[etag] {
			t.Fatalf("accepted/ holds %s, the accept names %s, uploads wrote %v", info.ETag, etag, written)
		}
	}
}
