package uploadpage_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/internal/browsertest"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/uploadpage"
)

func startStack(t *testing.T) *emulator.Running {
	t.Helper()
	o := emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: memcached.KindEmbedded, Config: emulator.Config{
		APIKey: "page-key", Clock: clock.Real{}, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := emulator.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

// TestPageUploadTwice is the issue's acceptance test in a real browser: one
// URL from the page, the same file uploaded twice through its plain form,
// and the page shows one upload accepted and one rejected.
func TestPageUploadTwice(t *testing.T) {
	ctx := browsertest.New(t, 90*time.Second)
	r := startStack(t)

	file := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(file, []byte("hello, one-time world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(r.URL+emulator.InspectPrefix),
		chromedp.WaitVisible("#issue"),
		chromedp.Click("#issue"),
		chromedp.WaitEnabled("#send"),
		chromedp.SetUploadFiles("#file", []string{file}),
		chromedp.Click("#send"),
		waitText(`#naccepted`, "1"),
		chromedp.Click("#send"),
		waitText(`#nrejected`, "1"),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	path := browsertest.ScreenshotPath(t, "uploadonce-page-upload2x.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	got := map[string]string{}
	for _, id := range []string{"sent", "nevents", "naccepted", "nrejected", "curkey"} {
		v, err := chromedp.Run(ctx, chromedp.TextContent("#"+id))
		if err != nil {
			t.Fatal(err)
		}
		got[id] = v
	}
	want := map[string]string{"sent": "2", "nevents": "2", "naccepted": "1", "nrejected": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (page: %v)", k, got[k], v, got)
		}
	}
	if !strings.HasPrefix(got["curkey"], "uploads/") {
		t.Errorf("key %q, want uploads/...", got["curkey"])
	}
	// The bytes accepted are the file's.
	resp, err := http.Get(r.URL + "/" + r.Config().Bucket + "/accepted/" + strings.TrimPrefix(got["curkey"], "uploads/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "hello, one-time world\n" {
		t.Errorf("accepted copy: %d %q", resp.StatusCode, body)
	}
}

// waitText waits until the element's text is want, polling as the page does.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := `document.querySelector(` + jsString(sel) + `).textContent === ` + jsString(want)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}
}

func jsString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// The API key goes into the page for loopback clients only.
func TestPageKeyLoopbackOnly(t *testing.T) {
	h := uploadpage.Handler(uploadpage.Config{IssuePath: "/Prod/getpresignedurl", APIKey: "secret-key-123", InspectPrefix: "/_uploadonce/"})
	for _, tc := range []struct {
		remote string
		want   bool
	}{
		{"127.0.0.1:5555", true},
		{"[::1]:5555", true},
		{"192.168.1.20:5555", false}, // a listener opened beyond loopback
		{"garbage", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/_uploadonce/", nil)
		req.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := strings.Contains(w.Body.String(), "secret-key-123"); got != tc.want {
			t.Errorf("remote %s: key in page = %v, want %v", tc.remote, got, tc.want)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
	}
}
