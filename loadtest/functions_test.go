package loadtest_test

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestLoadFunction is loadtest --verify-function bin/lambda --urls 1000
// --duplicates 3 on process memcached: cas holds, and the checker catches
// get-delete's race in the deployed binary as it does in process.
func TestLoadFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/lambda and runs 3000 function invocations")
	}
	mc := memcached.KindEmbedded
	if _, err := exec.LookPath("memcached"); err == nil {
		mc = memcached.KindProcess
	}
	bin := filepath.Join(t.TempDir(), "lambda")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/lambda").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const urls, dups = 1000, 3
	for _, strategy := range []string{onetime.CAS, onetime.GetDelete} {
		t.Run(strategy, func(t *testing.T) {
			st := testStack(strategy, mc, 16)
			st.Functions = plan.Functions{Verify: bin}
			p := plan.Plan{Seed: 11, Concurrency: 32, Stack: st,
				Groups: []plan.Group{{Name: "storm", Tokens: urls, Uploads: make([]plan.Upload, dups)}}}
			start := time.Now()
			res := run(t, p)
			c, rep := res.Check, res.Report
			t.Logf("%s through bin/lambda in %v: %s", strategy, time.Since(start).Round(time.Millisecond), c.String())
			if c.Counts.Tokens != urls || c.Counts.Uploads != urls*dups || rep.Statuses["204"] != urls*dups {
				t.Fatalf("counts %+v, statuses %v", c.Counts, rep.Statuses)
			}
			if len(c.Assumptions) != 0 || c.Unknown.Count != 0 || res.Partial {
				t.Fatalf("assumptions %v, unknown %d, partial %v", c.Assumptions, c.Unknown.Count, res.Partial)
			}
			if strategy == onetime.GetDelete {
				if c.DoubleAccept.Count == 0 || rep.OK {
					t.Fatalf("get-delete passed: %s", c.String())
				}
				return
			}
			if !rep.OK || c.Violations() != 0 || c.Counts.Accepted != urls {
				t.Fatalf("cas failed: %s, accepted %d", c.String(), c.Counts.Accepted)
			}
		})
	}
}
