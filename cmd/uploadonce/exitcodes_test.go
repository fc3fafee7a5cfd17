package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// TestExitCodes is README's "Exit codes" table, a row a case: 2 for every
// kind of bad input (flag, file, environment), before anything runs.
func TestExitCodes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	html := filepath.Join(t.TempDir(), "c.html")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"memcached typo", []string{"loadtest", "--memcached", "procss"}, `invalid value "procss" for flag -memcached`},
		{"report in a missing directory", []string{"loadtest", "--memcached", "embedded", "--report-json", "/nonexistent/dir/r.json"}, "directory /nonexistent/dir does not exist"},
		{"page in a missing directory", []string{"compare", "--memcached", "embedded", "--report-html", "/nonexistent/c.html"}, "directory /nonexistent does not exist"},
		{"port out of range", []string{"serve", "--listen", ":99999"}, `port "99999": want 0..65535`},
		{"negative port", []string{"serve", "--listen", "127.0.0.1:-1"}, `port "-1"`},
		{"bogus memcached", []string{"serve", "--memcached", "bogus"}, `invalid value "bogus" for flag -memcached`},
		{"zero containers", []string{"serve", "--memcached", "container:0"}, "container count"},
		{"port in use", []string{"serve", "--memcached", "embedded", "--listen", busy.Addr().String()}, "address already in use"},
		{"URL expiry under 1s", []string{"loadtest", "--url-expiry", "500ms"}, "--url-expiry: 500ms: want 1s..168h"},
		{"flag typo", []string{"loadtest", "--concurency", "3"}, "did you mean --concurrency?"},
		{"compare has no --strategy", []string{"compare", "--strategy", "cas", "--report-html", html}, "-strategy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "beyond loopback") {
				t.Errorf("warned before refusing:\n%s", stderr)
			}
			if n := strings.Count(stderr, "\n"); n > 3 {
				t.Errorf("%d lines for one bad input (no usage dump wanted):\n%s", n, stderr)
			}
		})
	}
}

// loadReport runs loadtest with a report and returns its exit code and
// the report's fields of interest.
func loadReport(t *testing.T, ctx context.Context, args ...string) (int, map[string]any, string) {
	t.Helper()
	rj := filepath.Join(t.TempDir(), "r.json")
	var out, errOut syncBuffer
	err := run(ctx, append([]string{"loadtest", "--report-json", rj}, args...), &out, &errOut)
	code := exitCode(err, &errOut)
	var r map[string]any
	if b, err := os.ReadFile(rj); err == nil {
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
	}
	return code, r, out.String() + errOut.String()
}

// TestRunThatTestedNothingIsInconclusive: the README's pause example made
// every issue call fail; it said OK. It must not.
func TestRunThatTestedNothingIsInconclusive(t *testing.T) {
	code, r, out := loadReport(t, context.Background(), "--memcached", "embedded", "--urls", "100",
		"--fault", "memcached-pause@0s:30s", "--fault", "memcached-flush@1m")
	if code != exitFailed || r["ok"] != false || r["verdict"] != "inconclusive" {
		t.Fatalf("exit %d, ok %v, verdict %v; want 1, false, inconclusive\n%s", code, r["ok"], r["verdict"], out)
	}
	if h, _ := r["headline"].(string); !strings.HasPrefix(h, "INCONCLUSIVE: 100 of 100 issue calls failed") ||
		!strings.Contains(h, "memcached-pause@0s") || !strings.Contains(out, h) {
		t.Errorf("headline %q (also wanted in the text report)", h)
	}
}

// TestFaultsAreReported: every injected fault is in the report with when
// it fired, on what, and what it did.
func TestFaultsAreReported(t *testing.T) {
	code, r, out := loadReport(t, context.Background(), "--memcached", "embedded", "--urls", "200", "--duplicates", "1",
		"--delayed", "0", "--fault", "memcached-restart@5s")
	faults, _ := r["faults"].([]any)
	if len(faults) != 1 {
		t.Fatalf("exit %d, faults %v\n%s", code, r["faults"], out)
	}
	f := faults[0].(map[string]any)
	if f["kind"] != "memcached-restart" || f["at"] != "5s" || f["fired"] != true || f["provider"] != "embedded" ||
		!strings.Contains(f["effect"].(string), "items dropped") {
		t.Errorf("fault %v", f)
	}
	if !strings.Contains(out, "fault memcached-restart@5s") {
		t.Errorf("the text report does not show the fault:\n%s", out)
	}
}

// TestInterruptedRunExits3: a run cut short is partial, exits 3, and its
// headline blames no strategy.
func TestInterruptedRunExits3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	code, r, out := loadReport(t, ctx, "--memcached", "embedded", "--clock", "real", "--url-expiry", "2s",
		"--urls", "50", "--delayed", "1")
	if code != exitInterrupted || r["verdict"] != "partial" || r["partial"] != true {
		t.Fatalf("exit %d, verdict %v, partial %v; want 3, partial\n%s", code, r["verdict"], r["partial"], out)
	}
	if h, _ := r["headline"].(string); !strings.HasPrefix(h, "PARTIAL:") || strings.Contains(out, "FAILED") {
		t.Errorf("headline %q\n%s", h, out)
	}
}

// TestCostPerURLAndProbedCapacity: both costs are reported, and nodes are
// sized by a probe of memcached's capacity, so a real-clock run whose late
// uploads hold the load back prices the same nodes as one without them.
func TestCostPerURLAndProbedCapacity(t *testing.T) {
	nodes := func(delayed string) (float64, map[string]any) {
		code, r, out := loadReport(t, context.Background(), "--memcached", "embedded", "--clock", "real", "--url-expiry", "1s",
			"--urls", "40", "--delayed", delayed, "--duplicates", "2")
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, out)
		}
		m := r["cost_model"].(map[string]any)
		if m["node_capacity_from"] != "probed" {
			t.Errorf("node capacity from %v, want probed", m["node_capacity_from"])
		}
		return m["nodes"].(float64), r
	}
	late, r := nodes("0.5")
	prompt, _ := nodes("0")
	if late != prompt || late != 1 {
		t.Errorf("nodes %v with late uploads, %v without; want 1 and 1", late, prompt)
	}
	perURL := r["cost_usd_per_million_urls"].(map[string]any)["total"].(float64)
	perUpload := r["cost_usd_per_million"].(map[string]any)["total"].(float64)
	if perURL < 1.9*perUpload || perURL > 2.1*perUpload {
		t.Errorf("per URL $%.4f, per upload $%.4f: with 2 uploads per URL want twice", perURL, perUpload)
	}
}

// TestMain lets a test run this binary as uploadonce itself: with
// UPLOADONCE_BE_MAIN=1 the test binary is main, taking its arguments from
// UPLOADONCE_ARGS (space-separated).
func TestMain(m *testing.M) {
	if os.Getenv("UPLOADONCE_BE_MAIN") == "1" {
		os.Args = append([]string{"uploadonce"}, strings.Fields(os.Getenv("UPLOADONCE_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSIGHUPStopsLikeSIGINT: closing the terminal stops a run as Ctrl-C
// does: the stack is torn down (no container left behind), the partial
// report printed, exit 3.
func TestSIGHUPStopsLikeSIGINT(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { sighupRun(t, "embedded") })
	t.Run("container", func(t *testing.T) {
		if !strings.Contains(os.Getenv("UPLOADONCE_REQUIRE_MEMCACHED"), "container") {
			if err := exec.Command("docker", "info").Run(); err != nil {
				t.Skip("SKIP memcached provider container: the Docker engine does not answer")
			}
			image, err := memcached.ResolveImage(context.Background(), "")
			if err != nil {
				t.Skipf("SKIP memcached provider container: %v", err)
			}
			if ok, err := memcached.ImagePresent(context.Background(), image); err != nil || !ok {
				t.Skipf("SKIP memcached provider container: image %s is not present here (make memcached-image builds one)", image)
			}
		}
		pid := sighupRun(t, "container")
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+memcached.LabelPID+"="+strconv.Itoa(pid)).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("containers of the stopped run: %q (%v)", out, err)
		}
	})
}

// sighupRun starts a loadtest on mc, sends it SIGHUP once it runs, checks
// it stopped as interrupted, and returns its pid.
func sighupRun(t *testing.T, mc string) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "UPLOADONCE_BE_MAIN=1",
		"UPLOADONCE_ARGS=loadtest --memcached "+mc+" --clock real --url-expiry 2s --urls 30 --delayed 1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "progress") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no exit 60 s after SIGHUP:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(out.String(), "PARTIAL:") {
		t.Fatalf("exit %d after SIGHUP, want %d and a partial report:\n%s", code, exitInterrupted, out.String())
	}
	return cmd.Process.Pid
}
