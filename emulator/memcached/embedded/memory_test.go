package embedded_test

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// tokenKey is shaped like onetime.NewKey's keys: prefix +
// "UploadFilename-<YYYYmmdd_HHMMSS>-<22 random chars>", 61 bytes.
func tokenKey(i int) string {
	return fmt.Sprintf("uploads/UploadFilename-20300101_000000-%022d", i)
}

// consumedValue is shaped like onetime's consumed marker
// "consumed <deadline-ms> <sequencer> <etag> <versionId>", with an S3-like
// 20-hex sequencer, a 32-hex ETag and a 64-character version id.
func consumedValue(i int) string {
	return fmt.Sprintf("consumed 1790000000000 %020X %032x %064d", i, i, i)
}

// batch sends cmds in one write and returns the reply lines, reading
// linesPer lines for each command. Batches are small enough that neither
// side blocks on a full socket buffer.
func (r *raw) batch(cmds []string, linesPer int) []string {
	r.t.Helper()
	_ = r.c.SetDeadline(time.Now().Add(20 * time.Second))
	r.send(strings.Join(cmds, ""))
	out := make([]string, 0, len(cmds)*linesPer)
	for range len(cmds) * linesPer {
		out = append(out, r.line())
	}
	return out
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestEmbeddedMemoryPerUsedToken measures what a used cas token costs the
// embedded store: the cas strategy adds "valid <deadline-ms>" and swaps it
// with cas to the longer consumed marker. The acceptance criterion is about
// 1 KB a token until its TTL.
func TestEmbeddedMemoryPerUsedToken(t *testing.T) {
	const (
		n        = 20000
		perBatch = 100
		maxBytes = 1200 // per token
	)
	clk := &virtualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} // nothing expires meanwhile
	e := startEmbedded(t, embedded.WithClock(clk), embedded.WithMaxBytes(0))
	r := dialRaw(t, e.Addr())
	r.expect("version\r\n", "VERSION "+embedded.Version) // the session's buffers exist now

	before := heapAlloc()
	var valueBytes int
	for lo := 0; lo < n; lo += perBatch {
		hi := min(lo+perBatch, n)
		var adds, gets []string
		for i := lo; i < hi; i++ {
			adds = append(adds, fmt.Sprintf("add %s 0 900 19\r\nvalid 1790000000000\r\n", tokenKey(i)))
			gets = append(gets, "gets "+tokenKey(i)+"\r\n")
		}
		for _, l := range r.batch(adds, 1) {
			if l != "STORED" {
				t.Fatalf("add: %q", l)
			}
		}
		lines := r.batch(gets, 3) // VALUE line, data, END
		var cas []string
		for j := 0; j < len(lines); j += 3 {
			f := strings.Fields(lines[j])
			if len(f) != 5 || f[0] != "VALUE" || lines[j+2] != "END" {
				t.Fatalf("gets: %q", lines[j:j+3])
			}
			if _, err := strconv.ParseUint(f[4], 10, 64); err != nil {
				t.Fatalf("gets cas id %q: %v", f[4], err)
			}
			v := consumedValue(lo + j/3)
			valueBytes = len(v)
			cas = append(cas, fmt.Sprintf("cas %s 0 900 %d %s\r\n%s\r\n", f[1], len(v), f[4], v))
		}
		for _, l := range r.batch(cas, 1) {
			if l != "STORED" {
				t.Fatalf("cas: %q", l)
			}
		}
	}
	after := heapAlloc()

	st := e.Stats()
	if st.CurrItems != n || st.CasHits != n {
		t.Fatalf("CurrItems %d, CasHits %d; want %d each", st.CurrItems, st.CasHits, n)
	}
	keyBytes := len(tokenKey(0))
	if want := int64(n * (keyBytes + valueBytes + 56)); st.Bytes != want {
		t.Fatalf("Bytes %d, want %d", st.Bytes, want)
	}
	perToken := (int64(after) - int64(before)) / n
	t.Logf("%d used tokens (key %d B, consumed value %d B): heap %d -> %d, %d bytes a token",
		n, keyBytes, valueBytes, before, after, perToken)
	if perToken <= 0 || perToken > maxBytes {
		t.Fatalf("a used token costs %d heap bytes, want 1..%d", perToken, maxBytes)
	}
}

// TestEmbeddedReclaimsExpiredOnStore checks that expired items that are
// never read again are freed by later stores, a bounded number at a time,
// and that live items are never reclaimed.
func TestEmbeddedReclaimsExpiredOnStore(t *testing.T) {
	clk := &virtualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := startEmbedded(t, embedded.WithClock(clk))
	r := dialRaw(t, e.Addr())
	size := func(key, value string) int64 { return int64(len(key) + len(value) + 56) }

	// From the LRU tail: a never-expiring item, 50 short-lived tokens, a
	// long-lived one, 50 more short-lived tokens.
	const short = 100
	r.expect("set forever 0 0 1\r\nf\r\n", "STORED")
	liveBytes := size("forever", "f")
	var shortBytes int64
	for i := range short {
		if i == short/2 {
			r.expect("set longlived 0 3600 1\r\nl\r\n", "STORED")
			liveBytes += size("longlived", "l")
		}
		r.expect(fmt.Sprintf("add %s 0 10 19\r\nvalid 1790000000000\r\n", tokenKey(i)), "STORED")
		shortBytes += size(tokenKey(i), "valid 1790000000000")
	}
	st := e.Stats()
	if st.CurrItems != short+2 || st.Bytes != liveBytes+shortBytes || st.Reclaimed != 0 {
		t.Fatalf("after storing: %+v", st)
	}

	// Before the TTL a store reclaims nothing.
	clk.Advance(9 * time.Second)
	r.expect("set fresh-0 0 900 1\r\nx\r\n", "STORED")
	liveBytes += size("fresh-0", "x")
	if st := e.Stats(); st.Reclaimed != 0 || st.CurrItems != short+3 {
		t.Fatalf("a store before the TTL reclaimed: Reclaimed %d CurrItems %d", st.Reclaimed, st.CurrItems)
	}

	// Past the TTL nothing is read, yet each store frees a few, not all.
	clk.Advance(2 * time.Second)
	r.expect("set fresh-1 0 900 1\r\nx\r\n", "STORED")
	liveBytes += size("fresh-1", "x")
	st = e.Stats()
	if st.Reclaimed == 0 || st.Reclaimed > 5 {
		t.Fatalf("one store reclaimed %d expired items, want 1..5", st.Reclaimed)
	}
	if st.CurrItems != uint64(short+4)-st.Reclaimed {
		t.Fatalf("CurrItems %d with Reclaimed %d", st.CurrItems, st.Reclaimed)
	}

	// More stores, through every path that links an item, free the rest.
	r.expect("set ctr 0 900 1\r\n7\r\n", "STORED")
	r.expect("incr ctr 1\r\n", "8")
	r.expect("decr ctr 1\r\n", "7")
	r.expect("append ctr 0 0 1\r\n0\r\n", "STORED")
	r.expect("prepend ctr 0 0 1\r\n1\r\n", "STORED")
	r.expect("replace ctr 0 900 2\r\n70\r\n", "STORED")
	liveBytes += size("ctr", "70")
	for i := 2; i < 2+short; i++ {
		k := fmt.Sprintf("fresh-%d", i)
		r.expect(fmt.Sprintf("add %s 0 900 1\r\nx\r\n", k), "STORED")
		r.send("gets " + k + "\r\n")
		f := strings.Fields(r.line())
		r.expect("", "x", "END")
		r.expect(fmt.Sprintf("cas %s 0 900 2 %s\r\nxy\r\n", k, f[4]), "STORED")
		liveBytes += size(k, "xy")
	}
	st = e.Stats()
	if st.Reclaimed != short || st.CurrItems != 2+(2+short)+1 || st.Bytes != liveBytes {
		t.Fatalf("after further stores: Reclaimed %d CurrItems %d Bytes %d; want %d, %d, %d",
			st.Reclaimed, st.CurrItems, st.Bytes, short, 2+(2+short)+1, liveBytes)
	}
	if st.GetExpired != 0 {
		t.Fatalf("GetExpired %d: nothing expired was read", st.GetExpired)
	}

	// Live items survived; expired ones answer as before, a miss.
	r.expect("get forever longlived ctr\r\n",
		"VALUE forever 0 1", "f", "VALUE longlived 0 1", "l", "VALUE ctr 0 2", "70", "END")
	r.expect("get "+tokenKey(0)+" "+tokenKey(short-1)+"\r\n", "END")
	clk.Advance(3600 * time.Second)
	r.expect("get forever longlived\r\n", "VALUE forever 0 1", "f", "END")
}
