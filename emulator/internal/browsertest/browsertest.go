// Package browsertest starts headless Chromium for tests that drive the
// emulator as a browser does (chromedp over the DevTools protocol).
//
// A machine without Chromium skips those tests, except under CI=true or
// UPLOADONCE_REQUIRE_CLIENTS=1, where a missing browser fails them: .ci/run
// installs Debian's chromium.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
)

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// Executable finds Chromium: $UPLOADONCE_CHROMIUM, then the usual names.
func Executable() (string, bool) {
	if p := os.Getenv("UPLOADONCE_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Required reports whether a missing browser fails rather than skips.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("UPLOADONCE_REQUIRE_CLIENTS") == "1"
}

// New starts a headless browser for the test and returns a tab's context,
// bounded by timeout. The browser stops at the end of the test.
func New(t TB, timeout time.Duration) context.Context {
	t.Helper()
	exe, ok := Executable()
	if !ok {
		if Required() {
			t.Fatalf("chromium is required (CI=true or UPLOADONCE_REQUIRE_CLIENTS=1) but not found; apt-get install chromium")
		}
		t.Skipf("chromium not found; apt-get install chromium, or set UPLOADONCE_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a failure to launch is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return ctx
}

// ScreenshotPath is where a test writes a screenshot named name:
// $UPLOADONCE_SCREENSHOT_DIR (made when missing), else the system
// temporary directory, so the file outlives the test and its path can be
// reported.
func ScreenshotPath(t TB, name string) string {
	dir := os.Getenv("UPLOADONCE_SCREENSHOT_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot directory: %v", err)
	}
	return filepath.Join(dir, name)
}
