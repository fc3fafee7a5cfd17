// Package bigbodies_test measures what large bodies cost the emulator's
// memory, in a test binary of its own so that no other test's heap blurs
// the figures. It reads the process's resident set from /proc (Linux).
package bigbodies_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/client"
)

const bodySize = 200 << 20

// vmRSS is the process's resident set size in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// peakRSS samples the resident set every 2 ms until stop is called and
// returns the largest sample.
func peakRSS(t *testing.T) (stop func() int64) {
	var peak atomic.Int64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if v := vmRSS(t); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); <-finished; return peak.Load() }
}

// quiesce collects garbage and returns freed pages to the OS, so that the
// resident set is what the process holds.
func quiesce() {
	runtime.GC()
	debug.FreeOSMemory()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func startStack(t *testing.T, mutate func(*emulator.StartOptions)) (*emulator.Running, *client.Client) {
	t.Helper()
	o := emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: memcached.KindEmbedded, Config: emulator.Config{
		APIKey: "k", Strategy: onetime.CAS, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}}
	mutate(&o)
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
	return r, client.New(r.URL+"/Prod/getpresignedurl", "k", 2)
}

func TestBigBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MB through the emulator")
	}
	t.Run("200 MB POST against a 1 KiB policy", testBigPost)
	t.Run("accepted 200 MB PUT", testBigPut)
}

// testBigPost: the POST is refused with EntityTooLarge as soon as its file
// passes the policy's 1 KiB, and the resident set rises by less than 16 MiB
// while it is in flight.
func testBigPost(t *testing.T) {
	r, c := startStack(t, func(o *emulator.StartOptions) { o.MaxUploadSize = 1 << 10 })
	g, err := c.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	names := make([]string, 0, len(g.Fields))
	for k := range g.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		_ = mw.WriteField(k, g.Fields[k])
	}
	_, _ = mw.CreateFormFile("file", "big.bin")
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	length := int64(head.Len()) + bodySize + int64(len(tail))
	req, err := http.NewRequest(http.MethodPost, g.URL, io.MultiReader(&head, io.LimitReader(zeros{}, bodySize), strings.NewReader(tail)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", mw.FormDataContentType())

	quiesce()
	base := vmRSS(t)
	stop := peakRSS(t)
	resp, err := http.DefaultClient.Do(req)
	peak := stop()
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>EntityTooLarge</Code>") {
		t.Fatalf("POST = %d %s, want 400 EntityTooLarge", resp.StatusCode, body)
	}
	t.Logf("resident set %d MiB before, peak %d MiB during (+%d KiB)", base>>20, peak>>20, (peak-base)>>10)
	if rise := peak - base; rise >= 16<<20 {
		t.Fatalf("a refused 200 MB POST raised the resident set by %d MiB, want < 16 MiB", rise>>20)
	}
	if n := r.S3.Stats().Post.Load(); n != 1 {
		t.Fatalf("%d POSTs counted", n)
	}
}

// testBigPut: an accepted 200 MB PUT is copied to accepted/ and removed from
// uploads/. Its body is read once into a buffer of its size, and the copy
// shares those bytes, so the process holds less than 1.3 times the bytes
// stored at its peak and after the accept, with no garbage collection
// forced.
func testBigPut(t *testing.T) {
	r, c := startStack(t, func(o *emulator.StartOptions) { o.Method = onetime.MethodPUT })
	g, err := c.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, g.URL, io.LimitReader(zeros{}, bodySize))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = bodySize
	for k, v := range g.Headers {
		req.Header.Set(k, v)
	}
	quiesce()
	base := vmRSS(t)
	stop := peakRSS(t)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.WaitKeys(ctx, []string{g.Key}); err != nil {
		t.Fatal(err)
	}
	peak := stop()
	ds := r.Decisions()
	if len(ds) != 1 || ds[0].Decision != onetime.Accepted {
		t.Fatalf("decisions %+v, want one accept", ds)
	}
	held := vmRSS(t)
	quiesce()
	rss := vmRSS(t)
	t.Logf("resident set %d MiB before, peak %d MiB, %d MiB after the accept, %d MiB once garbage is collected; %d MiB stored",
		base>>20, peak>>20, held>>20, rss>>20, bodySize>>20)
	limit := int64(bodySize) * 13 / 10
	for what, v := range map[string]int64{"at its peak": peak, "after the accept": held, "once garbage is collected": rss} {
		if v >= limit {
			t.Errorf("resident set %d MiB %s, want < %d MiB (1.3 x the 200 MB stored)", v>>20, what, limit>>20)
		}
	}
}
