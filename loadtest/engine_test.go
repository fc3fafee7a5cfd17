package loadtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/onetime/rendezvous"
	"github.com/uploadonce/uploadonce/loadtest"
	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// storm is urls URLs with dups concurrent same-bytes uploads each, plus one
// late URL, on the embedded memcached with 200µs reply latency (a network
// between Lambda and ElastiCache), which widens get-delete's window.
func storm(strategy string, urls, dups int) plan.Plan {
	ups := make([]plan.Upload, dups)
	return plan.Plan{Seed: 7, Concurrency: 64,
		Stack: testStack(strategy, memcached.KindEmbedded, 64),
		Groups: []plan.Group{{Name: "storm", Tokens: urls, Uploads: ups},
			{Name: "late", Tokens: 1, Uploads: []plan.Upload{{At: 40 * time.Second}}}},
		Faults: []plan.Fault{{Kind: plan.FaultMemcachedLatency, Duration: 200 * time.Microsecond}},
	}
}

func run(t *testing.T, p plan.Plan, opts ...loadtest.Option) *loadtest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts = append([]loadtest.Option{loadtest.WithLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))}, opts...)
	res, err := loadtest.Run(ctx, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// forced is a loadtest option that makes the gets of the first keys URLs'
// n claims meet before any of them goes on (onetime/rendezvous): the
// interleaving get, get, delete, delete happens every run, not only when
// the machine is slow.
func forced(n, keys int) (*schedule, loadtest.Option) {
	s := &schedule{}
	return s, loadtest.WithCacheWrapper(func(c onetime.Cache) onetime.Cache {
		s.cache = rendezvous.New(c, n, keys)
		return s.cache
	})
}

type schedule struct{ cache *rendezvous.Cache }

// met is how many URLs had their claims' gets meet.
func (s *schedule) met() int {
	if s.cache == nil {
		return 0
	}
	return s.cache.Met()
}

// TestCheckerCatchesGetDelete: the reference's get-delete double-accepts
// under concurrent duplicates, and the checker says so; delete and cas pass.
// The duplicates of 8 URLs are forced to meet, so the race shows every run.
func TestCheckerCatchesGetDelete(t *testing.T) {
	const urls, dups = 300, 3
	for _, strategy := range []string{onetime.GetDelete, onetime.Delete, onetime.CAS} {
		t.Run(strategy, func(t *testing.T) {
			rv, opt := forced(dups, 8)
			res := run(t, storm(strategy, urls, dups), opt)
			c, rep := res.Check, res.Report
			t.Logf("%s: %s; %d URLs forced", strategy, c.String(), rv.met())
			if c.Counts.Tokens != urls+1 || c.Counts.Uploads != urls*dups+1 || c.Counts.Late != 1 {
				t.Fatalf("counts %+v", c.Counts)
			}
			if rep.Statuses["204"] != urls*dups || rep.Statuses["403"] != 1 {
				t.Fatalf("statuses %v", rep.Statuses)
			}
			if len(c.Assumptions) != 0 || c.Unknown.Count != 0 || res.Partial {
				t.Fatalf("assumptions %v, unknown %d, partial %v", c.Assumptions, c.Unknown.Count, res.Partial)
			}
			if rv.met() == 0 {
				t.Fatal("no URL's claims met: the schedule was not forced")
			}
			if strategy == onetime.GetDelete {
				// Every URL whose gets met was accepted more than once.
				if c.DoubleAccept.Count < rv.met() || c.Linearizable != check.NotLinearizable || rep.OK {
					t.Fatalf("get-delete: %s; want at least %d double accepts", c.String(), rv.met())
				}
				return
			}
			if !rep.OK || c.Violations() != 0 || c.Linearizable != check.Linearizable || c.Counts.Accepted != urls {
				t.Fatalf("%s failed: %s, accepted %d", strategy, c.String(), c.Counts.Accepted)
			}
			if !rep.OpsPerUpload.MemcachedExact || rep.OpsPerUpload.Memcached <= 0 || rep.OpsPerUpload.S3Requests <= 0 {
				t.Fatalf("ops per upload %+v", rep.OpsPerUpload)
			}
		})
	}
}

// TestHistoryRoundTrip: a written history reads back equal and re-checks to
// the same verdict offline.
func TestHistoryRoundTrip(t *testing.T) {
	p := storm(onetime.GetDelete, 60, 3)
	p.Groups[0].Uploads[1].Content = plan.ContentUnique
	res := run(t, p)
	var buf bytes.Buffer
	if err := res.History.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := history.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Tokens) != len(res.History.Tokens) || !reflect.DeepEqual(back.Meta, res.History.Meta) {
		t.Fatalf("read back %d tokens, meta %+v; want %d, %+v", len(back.Tokens), back.Meta, len(res.History.Tokens), res.History.Meta)
	}
	for i := range back.Tokens {
		if !reflect.DeepEqual(back.Tokens[i], res.History.Tokens[i]) {
			t.Fatalf("token %d differs:\n%+v\n%+v", i, back.Tokens[i], res.History.Tokens[i])
		}
	}
	again := check.Check(back)
	if again.String() != res.Check.String() {
		t.Fatalf("offline re-check %s, online %s", again.String(), res.Check.String())
	}
}

// TestFaultUnsupported: a fault the provider has no knob for is refused
// before any load runs, naming the fault and the provider; a memcached fault
// under a strategy without memcached is recorded as not applied, and the run
// shows the strategy unaffected.
func TestFaultUnsupported(t *testing.T) {
	t.Run("s3 strategy", func(t *testing.T) {
		res := run(t, storm(onetime.Versioning, 1, 1))
		f := res.History.Meta.Faults
		if len(f) != 1 || f[0].Err == "" || !res.Report.OK || res.Check.Counts.Accepted != 1 {
			t.Fatalf("faults %+v, ok %v, %s", f, res.Report.OK, res.Check.String())
		}
	})
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("no memcached binary for the process provider")
	}
	for _, kind := range []string{plan.FaultMemcachedLatency, plan.FaultMemcachedEvict, plan.FaultMemcachedConnLimit} {
		t.Run(kind, func(t *testing.T) {
			p := storm(onetime.CAS, 1, 1)
			p.Stack.Memcached = memcached.Spec{Kind: memcached.KindProcess}
			p.Faults = []plan.Fault{{Kind: kind, Duration: time.Millisecond, Value: 1}}
			_, err := loadtest.Run(context.Background(), p)
			if !errors.Is(err, loadtest.ErrFaultUnsupported) || !strings.Contains(err.Error(), kind) {
				t.Fatalf("err %v, want ErrFaultUnsupported naming %s", err, kind)
			}
		})
	}
}

// TestCancelIsPartial: a cancelled run still returns a result flagged
// partial.
func TestCancelIsPartial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := storm(onetime.CAS, 2000, 2)
	p.Rate = 500 // open model: 4 s of starts
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := loadtest.Run(ctx, p, loadtest.WithDrain(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || !res.Report.Partial || res.Report.OK {
		t.Fatalf("partial %v, report %+v", res.Partial, res.Report.Counts)
	}
	if res.Report.Counts.Tokens == 0 || res.Report.Counts.Tokens >= 2001 {
		t.Fatalf("tokens %d", res.Report.Counts.Tokens)
	}
	if res.Check.DoubleAccept.Count != 0 || res.Check.FalseReject.Count != 0 {
		t.Fatalf("a cut-short run reported violations: %s", res.Check.String())
	}
}

// TestAfterPreviousIsBackToBack: an AfterPrevious upload at the same offset
// is sent only once the previous upload of its token has returned, as the
// reference's upload2x client does, on either clock and in either model.
func TestAfterPreviousIsBackToBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock string
		rate  float64
	}{
		{"virtual closed", "virtual", 0},
		{"virtual open", "virtual", 2000},
		{"real closed", "real", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan.Plan{Seed: 5, Concurrency: 16, Rate: tc.rate,
				Stack:  withClock(testStack(onetime.CAS, memcached.KindEmbedded, 0), tc.clock, true),
				Groups: []plan.Group{{Name: "twice", Tokens: 40, Uploads: []plan.Upload{{}, {AfterPrevious: true}, {AfterPrevious: true}}}}}
			res := run(t, p)
			if !res.Report.OK || res.Check.Counts.Uploads != 120 || res.Check.Counts.Accepted != 40 {
				t.Fatalf("%s ok %v", res.Check.String(), res.Report.OK)
			}
			for _, tok := range res.History.Tokens {
				for j := 1; j < len(tok.Uploads); j++ {
					prev, u := tok.Uploads[j-1], tok.Uploads[j]
					if u.Sent < prev.Returned {
						t.Fatalf("%s: upload %d sent at %d, before upload %d returned at %d", tok.Key, j, u.Sent, j-1, prev.Returned)
					}
				}
			}
		})
	}
}

// TestWindows: a run in windows gives the same counts, statuses and S3
// requests as the same run in one window; the requests the engine makes to
// read and remove a finished window's objects are not counted.
func TestWindows(t *testing.T) {
	p := plan.Plan{Seed: 9, Concurrency: 16,
		Stack: testStack(onetime.CAS, memcached.KindEmbedded, 0),
		Groups: []plan.Group{{Name: "twice", Tokens: 130, Uploads: []plan.Upload{{}, {}}},
			{Name: "late", Tokens: 7, Uploads: []plan.Upload{{At: 40 * time.Second}}}}}
	one := run(t, p)
	p.Window = 50
	windowed := run(t, p)
	for name, res := range map[string]*loadtest.Result{"one window": one, "windows": windowed} {
		c := res.Check
		if !res.Report.OK || c.Counts.Tokens != 137 || c.Counts.Uploads != 267 || c.Counts.Accepted != 130 || c.Counts.Late != 7 {
			t.Fatalf("%s: %s counts %+v", name, c.String(), c.Counts)
		}
	}
	if len(one.History.Tokens) != 137 || windowed.History.Tokens != nil {
		t.Fatalf("tokens kept: %d in one window, %d in windows", len(one.History.Tokens), len(windowed.History.Tokens))
	}
	if !reflect.DeepEqual(one.Report.Statuses, windowed.Report.Statuses) || !reflect.DeepEqual(one.Report.Reasons, windowed.Report.Reasons) {
		t.Fatalf("statuses %v / %v, reasons %v / %v", one.Report.Statuses, windowed.Report.Statuses, one.Report.Reasons, windowed.Report.Reasons)
	}
	// Whether a rejected duplicate is deleted depends on timing (it is left
	// for the winner's copy when it comes first); the engine's own HEAD and
	// two DELETEs per token would show.
	a, b := one.Report.S3Requests, windowed.Report.S3Requests
	if a.Post != b.Post || a.Copy != b.Copy || a.Head != b.Head || b.Delete > b.Copy+int64(windowed.Check.Counts.Rejected) {
		t.Fatalf("s3 requests in one window %+v, in windows %+v", a, b)
	}
}

// TestStreamedHistory: a failing run in windows keeps no token in memory,
// yet SaveHistory writes every token, in issue order, and the file
// re-checks offline to the same verdict. A passing one has no history to
// save.
func TestStreamedHistory(t *testing.T) {
	p := storm(onetime.GetDelete, 300, 3)
	p.Faults, p.Window = nil, 100
	p.Groups[0].Uploads[1].Content = plan.ContentUnique
	rv, opt := forced(3, 8)
	res := run(t, p, opt)
	if res.Report.OK || res.Check.DoubleAccept.Count < rv.met() || rv.met() == 0 {
		t.Fatalf("ok %v, %s, %d URLs forced: want the forced get-delete race to fail the run", res.Report.OK, res.Check.String(), rv.met())
	}
	if res.History.Tokens != nil {
		t.Fatalf("%d tokens kept in memory", len(res.History.Tokens))
	}
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := res.SaveHistory(path); err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := history.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Tokens) != 301 || !reflect.DeepEqual(back.Meta, res.History.Meta) {
		t.Fatalf("read back %d tokens, meta %+v", len(back.Tokens), back.Meta)
	}
	for i := 1; i < len(back.Tokens); i++ {
		if back.Tokens[i].IssueCall < back.Tokens[i-1].IssueCall {
			t.Fatalf("token %d issued before token %d", i, i-1)
		}
	}
	if again := check.Check(back); again.String() != res.Check.String() || again.Counts != res.Check.Counts {
		t.Fatalf("offline re-check %s %+v, online %s %+v", again.String(), again.Counts, res.Check.String(), res.Check.Counts)
	}

	pp := storm(onetime.CAS, 20, 1)
	pp.Faults, pp.Window = nil, 10
	pass := run(t, pp)
	if err := pass.SaveHistory(filepath.Join(t.TempDir(), "p.jsonl")); !pass.Report.OK || err == nil {
		t.Fatalf("ok %v, save %v: want a passing run with nothing to save", pass.Report.OK, err)
	}
}

// testStack is the default stack with a strategy, a memcached provider and,
// when > 0, a Lambda concurrency.
func testStack(strategy, provider string, lambdaConcurrency int) plan.Stack {
	st := plan.DefaultStack()
	st.Strategy, st.Memcached = strategy, memcached.Spec{Kind: provider}
	if lambdaConcurrency > 0 {
		st.LambdaConcurrency = lambdaConcurrency
	}
	return st
}

func withClock(st plan.Stack, clock string, keepRejected bool) plan.Stack {
	if clock != "" {
		st.Clock = plan.ClockKind(clock)
	}
	st.KeepRejected = keepRejected
	return st
}
