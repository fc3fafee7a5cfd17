package s3store_test

import (
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// backend is what the suite needs of an implementation.
type backend interface {
	gofakes3.Backend
	gofakes3.VersionedBackend
}

// clock is a goroutine-safe gofakes3.TimeSource that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Since(t time.Time) time.Duration {
	return c.Now().Sub(t)
}
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type impl struct {
	name string
	make func(ts gofakes3.TimeSource) backend
	// expectedFailures names the cases this implementation fails, and why.
	// Such a case still runs: it must fail, so a fix shows up as an error
	// asking to remove the entry.
	expectedFailures map[string]string
}

var impls = []impl{
	{name: "s3store", make: func(ts gofakes3.TimeSource) backend { return s3store.New(s3store.WithTimeSource(ts)) }},
	{name: "s3mem", make: func(ts gofakes3.TimeSource) backend { return s3mem.New(s3mem.WithTimeSource(ts)) },
		expectedFailures: map[string]string{
			"DeleteCurrentVersionMakesPreviousCurrent": "s3mem leaves the key without a current version (its next GET panics)",
			"DeleteMarkerRemovedRestoresObject":        "s3mem leaves the key without a current version",
			"VersionsNewestFirst":                      "s3mem lists a key's versions in version-id order, not newest first",
			"LastModifiedOnEveryVersion":               "s3mem puts no Last-Modified in an object's metadata",
			"DeleteMarkerOnMissingKey":                 "s3mem makes no delete marker for a key it does not hold",
			"ListPagesGoOnAfterCommonPrefix":           "s3mem's NextMarker inside a common prefix repeats the prefix on the next page",
			"VersionListPages":                         "s3mem's version-id marker does not resume after the marker, so pages repeat",
			"ConcurrentWritersOneKey":                  "s3mem lists versions in id order, so the newest listed is not the current one",
		}},
}

const bkt = "suite"

// runWithAllBackends runs fn against every implementation, each on a new
// versioned or unversioned bucket.
func runWithAllBackends(t *testing.T, versioned bool, fn func(t testing.TB, b backend, c *clock)) {
	name := strings.TrimPrefix(t.Name(), "Test")
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			b := im.make(c)
			if err := b.CreateBucket(bkt); err != nil {
				t.Fatal(err)
			}
			if versioned {
				if err := b.SetVersioningConfiguration(bkt, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
					t.Fatal(err)
				}
			}
			why, expected := im.expectedFailures[name]
			if !expected {
				fn(t, b, c)
				return
			}
			r := &recorder{TB: t}
			r.run(func() { fn(r, b, c) })
			if !r.failed {
				t.Errorf("%s now passes on %s: remove it from the expected failures (%s)", name, im.name, why)
				return
			}
			t.Logf("expected failure on %s: %s; got: %s", im.name, why, r.first)
		})
	}
}

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	first  string
}

func (r *recorder) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Sprint("panic: ", p))
			}
		}()
		fn()
	}()
	<-done
}

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failed {
		r.failed, r.first = true, msg[:min(len(msg), 200)]
	}
}
func (r *recorder) Helper()                           {}
func (r *recorder) Error(args ...any)                 { r.fail(fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }
func (r *recorder) Fatal(args ...any)                 { r.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) FailNow() { r.fail("FailNow"); runtime.Goexit() }
func (r *recorder) Fail()    { r.fail("Fail") }

func put(t testing.TB, b backend, key, body string) gofakes3.VersionID {
	t.Helper()
	res, err := b.PutObject(bkt, key, map[string]string{"Content-Type": "text/plain"}, strings.NewReader(body), int64(len(body)), nil)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return res.VersionID
}

func get(t testing.TB, b backend, key string, id gofakes3.VersionID) string {
	t.Helper()
	obj, err := b.GetObjectVersion(bkt, key, id, nil)
	if err != nil {
		t.Fatalf("get %s@%s: %v", key, id, err)
	}
	defer obj.Contents.Close()
	body, _ := io.ReadAll(obj.Contents)
	return string(body)
}

func md5of(s string) []byte { sum := md5.Sum([]byte(s)); return sum[:] }

func TestPutGetHead(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		put(t, b, "k", "hello")
		put(t, b, "k", "world!") // an unversioned bucket overwrites
		if got := get(t, b, "k", ""); got != "world!" {
			t.Fatalf("GET = %q", got)
		}
		head, err := b.HeadObject(bkt, "k")
		if err != nil || head.Size != 6 || string(head.Hash) != string(md5of("world!")) || head.Metadata["Content-Type"] != "text/plain" {
			t.Fatalf("HEAD = %+v, %v", head, err)
		}
		rng := &gofakes3.ObjectRangeRequest{Start: 1, End: 3}
		obj, err := b.GetObject(bkt, "k", rng)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(obj.Contents)
		if string(part) != "orl" {
			t.Fatalf("range 1-3 = %q", part)
		}
		if _, err := b.GetObject(bkt, "missing", nil); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			t.Fatalf("GET missing = %v, want NoSuchKey", err)
		}
		if _, err := b.DeleteObject(bkt, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.HeadObject(bkt, "k"); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			t.Fatalf("HEAD after delete = %v, want NoSuchKey", err)
		}
	})
}

func TestConditionalPut(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		star, wrong, right := "*", `"00"`, fmt.Sprintf(`"%x"`, md5of("one"))
		if _, err := b.PutObject(bkt, "c", nil, strings.NewReader("one"), 3, &gofakes3.PutConditions{IfNoneMatch: &star}); err != nil {
			t.Fatalf("If-None-Match * on a new key: %v", err)
		}
		for _, cond := range []*gofakes3.PutConditions{{IfNoneMatch: &star}, {IfMatch: &wrong}} {
			_, err := b.PutObject(bkt, "c", nil, strings.NewReader("two"), 3, cond)
			if !gofakes3.HasErrorCode(err, gofakes3.ErrPreconditionFailed) {
				t.Fatalf("conditional put %+v = %v, want PreconditionFailed", cond, err)
			}
		}
		if _, err := b.PutObject(bkt, "c", nil, strings.NewReader("two"), 3, &gofakes3.PutConditions{IfMatch: &right}); err != nil {
			t.Fatalf("If-Match with the current ETag: %v", err)
		}
		if got := get(t, b, "c", ""); got != "two" {
			t.Fatalf("GET = %q", got)
		}
	})
}

func TestEachWriteIsAVersion(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		ids := []gofakes3.VersionID{put(t, b, "v", "one"), put(t, b, "v", "two"), put(t, b, "v", "three")}
		if ids[0] == "" || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
			t.Fatalf("version ids %q; want three distinct", ids)
		}
		for i, want := range []string{"one", "two", "three"} {
			if got := get(t, b, "v", ids[i]); got != want {
				t.Fatalf("version %d = %q, want %q", i, got, want)
			}
		}
		if got := get(t, b, "v", ""); got != "three" {
			t.Fatalf("current = %q", got)
		}
	})
}

func TestDeleteMakesMarker(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		id := put(t, b, "d", "kept")
		res, err := b.DeleteObject(bkt, "d")
		if err != nil || !res.IsDeleteMarker || res.VersionID == "" || res.VersionID == id {
			t.Fatalf("delete = %+v, %v; want a new delete marker", res, err)
		}
		if _, err := b.GetObject(bkt, "d", nil); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			t.Fatalf("GET behind a marker = %v, want NoSuchKey", err)
		}
		if got := get(t, b, "d", id); got != "kept" {
			t.Fatalf("the version behind the marker = %q", got)
		}
		list, err := b.ListBucket(bkt, nil, gofakes3.ListBucketPage{})
		if err != nil || len(list.Contents) != 0 {
			t.Fatalf("list = %+v, %v; a deleted key is not listed", list, err)
		}
	})
}

func TestDeleteMarkerOnMissingKey(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		res, err := b.DeleteObject(bkt, "never")
		if err != nil || !res.IsDeleteMarker || res.VersionID == "" {
			t.Fatalf("delete of a missing key = %+v, %v; S3 adds a delete marker", res, err)
		}
	})
}

func TestDeleteCurrentVersionMakesPreviousCurrent(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		first := put(t, b, "p", "first")
		second := put(t, b, "p", "second")
		res, err := b.DeleteObjectVersion(bkt, "p", second)
		if err != nil || res.VersionID != second || res.IsDeleteMarker {
			t.Fatalf("delete version = %+v, %v", res, err)
		}
		if got := get(t, b, "p", ""); got != "first" {
			t.Fatalf("current after deleting the newest = %q, want first", got)
		}
		head, err := b.HeadObject(bkt, "p")
		if err != nil || head.VersionID != first {
			t.Fatalf("HEAD = %+v, %v; want version %s", head, err, first)
		}
		if _, err := b.GetObjectVersion(bkt, "p", second, nil); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchVersion) {
			t.Fatalf("GET of the deleted version = %v, want NoSuchVersion", err)
		}
		if res, err := b.DeleteObjectVersion(bkt, "p", second); err != nil || res.VersionID != "" {
			t.Fatalf("deleting it again = %+v, %v; want a no-op", res, err)
		}
	})
}

func TestDeleteMarkerRemovedRestoresObject(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		put(t, b, "m", "back")
		res, err := b.DeleteObject(bkt, "m")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.DeleteObjectVersion(bkt, "m", res.VersionID); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "m", ""); got != "back" {
			t.Fatalf("GET after removing the marker = %q", got)
		}
	})
}

func TestVersionsNewestFirst(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		var a []gofakes3.VersionID
		for i := range 5 {
			a = append(a, put(t, b, "a", fmt.Sprint(i)))
		}
		bv := put(t, b, "b", "x")
		marker, err := b.DeleteObject(bkt, "b")
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.ListBucketVersions(bkt, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range res.Versions {
			switch x := v.(type) {
			case *gofakes3.Version:
				got = append(got, fmt.Sprintf("%s/%s/%v", x.Key, x.VersionID, x.IsLatest))
			case *gofakes3.DeleteMarker:
				got = append(got, fmt.Sprintf("%s/%s/%v/marker", x.Key, x.VersionID, x.IsLatest))
			}
		}
		want := []string{fmt.Sprintf("a/%s/true", a[4]), fmt.Sprintf("a/%s/false", a[3]), fmt.Sprintf("a/%s/false", a[2]),
			fmt.Sprintf("a/%s/false", a[1]), fmt.Sprintf("a/%s/false", a[0]),
			fmt.Sprintf("b/%s/true/marker", marker.VersionID), fmt.Sprintf("b/%s/false", bv)}
		if !slices.Equal(got, want) {
			t.Fatalf("versions\n got %q\nwant %q", got, want)
		}
	})
}

func TestVersionListPages(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		var all []string
		for _, k := range []string{"a", "b", "c"} {
			for i := range 3 {
				put(t, b, k, fmt.Sprint(i))
			}
		}
		full, err := b.ListBucketVersions(bkt, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range full.Versions {
			all = append(all, string(v.GetVersionID()))
		}
		var paged []string
		page := &gofakes3.ListBucketVersionsPage{MaxKeys: 2}
		for range 10 {
			res, err := b.ListBucketVersions(bkt, nil, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Versions {
				paged = append(paged, string(v.GetVersionID()))
			}
			if !res.IsTruncated {
				break
			}
			page = &gofakes3.ListBucketVersionsPage{MaxKeys: 2, KeyMarker: res.NextKeyMarker, HasKeyMarker: true,
				VersionIDMarker: res.NextVersionIDMarker, HasVersionIDMarker: true}
		}
		if len(all) != 9 || !slices.Equal(paged, all) {
			t.Fatalf("pages of 2 gave %q, one page %q", paged, all)
		}
	})
}

func TestLastModifiedOnEveryVersion(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, c *clock) {
		t1 := c.Now()
		put(t, b, "t", "one")
		c.advance(time.Minute)
		put(t, b, "t", "two")
		c.advance(time.Minute)
		if _, err := b.CopyObject(bkt, "t", bkt, "t-copy", nil); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]time.Time{"t": t1.Add(time.Minute), "t-copy": t1.Add(2 * time.Minute)} {
			head, err := b.HeadObject(bkt, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := head.Metadata["Last-Modified"]; got != want.Format(http.TimeFormat) {
				t.Fatalf("%s Last-Modified %q, want %q", key, got, want.Format(http.TimeFormat))
			}
		}
		res, err := b.ListBucketVersions(bkt, &gofakes3.Prefix{HasPrefix: true, Prefix: "t"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for _, v := range res.Versions {
			got = append(got, v.(*gofakes3.Version).LastModified.Time)
		}
		want := []time.Time{t1.Add(time.Minute), t1, t1.Add(2 * time.Minute)}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Fatalf("listed Last-Modified %v, want %v", got, want)
		}
	})
}

func TestCopyKeepsBytesAndETag(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		body := strings.Repeat("copy me ", 100)
		put(t, b, "uploads/x", body)
		res, err := b.CopyObject(bkt, "uploads/x", bkt, "accepted/x", nil)
		if err != nil || res.ETag != fmt.Sprintf(`"%x"`, md5of(body)) {
			t.Fatalf("copy = %+v, %v", res, err)
		}
		if _, err := b.DeleteObject(bkt, "uploads/x"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "accepted/x", ""); got != body {
			t.Fatalf("copy holds %d bytes, want %d", len(got), len(body))
		}
		if _, err := b.CopyObject(bkt, "uploads/x", bkt, "accepted/y", nil); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			t.Fatalf("copy of a deleted source = %v, want NoSuchKey", err)
		}
	})
}

// keys lists every key and common prefix, page by page.
func keys(t testing.TB, b backend, p *gofakes3.Prefix, maxKeys int64) []string {
	t.Helper()
	var out []string
	page := gofakes3.ListBucketPage{MaxKeys: maxKeys}
	for range 100 {
		res, err := b.ListBucket(bkt, p, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range res.CommonPrefixes {
			out = append(out, cp.Prefix)
		}
		for _, c := range res.Contents {
			out = append(out, c.Key)
		}
		if !res.IsTruncated {
			return out
		}
		page = gofakes3.ListBucketPage{MaxKeys: maxKeys, Marker: res.NextMarker, HasMarker: true}
	}
	t.Fatal("listing did not end")
	return nil
}

func TestListSortedPrefixDelimiter(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		for _, k := range []string{"d", "b/2", "a", "b/1", "c/x/1", "c/y", "bb"} {
			put(t, b, k, k)
		}
		put(t, b, "gone", "x")
		if _, err := b.DeleteObject(bkt, "gone"); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			p    *gofakes3.Prefix
			want []string
		}{
			{"all, sorted", nil, []string{"a", "b/1", "b/2", "bb", "c/x/1", "c/y", "d"}},
			{"prefix", &gofakes3.Prefix{HasPrefix: true, Prefix: "b"}, []string{"b/1", "b/2", "bb"}},
			{"delimiter", &gofakes3.Prefix{HasDelimiter: true, Delimiter: "/"}, []string{"b/", "c/", "a", "bb", "d"}},
			{"prefix and delimiter", &gofakes3.Prefix{HasPrefix: true, Prefix: "c/", HasDelimiter: true, Delimiter: "/"}, []string{"c/x/", "c/y"}},
		}
		for _, c := range cases {
			got := keys(t, b, c.p, 0)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q, want %q", c.name, got, want)
			}
		}
		if got := keys(t, b, nil, 2); !slices.Equal(got, cases[0].want) {
			t.Fatalf("pages of 2: %q", got)
		}
	})
}

func TestListPagesGoOnAfterCommonPrefix(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		for _, k := range []string{"a/1", "a/2", "a/3", "b", "c/1"} {
			put(t, b, k, k)
		}
		got := keys(t, b, &gofakes3.Prefix{HasDelimiter: true, Delimiter: "/"}, 1)
		if want := []string{"a/", "b", "c/"}; !slices.Equal(got, want) {
			t.Fatalf("pages of 1 with a delimiter: %q, want %q", got, want)
		}
	})
}

func TestBuckets(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		if err := b.CreateBucket(bkt); !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
			t.Fatalf("create twice = %v", err)
		}
		put(t, b, "k", "v")
		if err := b.DeleteBucket(bkt); !gofakes3.HasErrorCode(err, gofakes3.ErrBucketNotEmpty) {
			t.Fatalf("delete a full bucket = %v", err)
		}
		if _, err := b.PutObject("nope", "k", nil, strings.NewReader(""), 0, nil); !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) {
			t.Fatalf("put to a missing bucket = %v", err)
		}
		if err := b.ForceDeleteBucket(bkt); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.BucketExists(bkt); ok {
			t.Fatal("bucket still exists")
		}
	})
}

// Concurrent writers to one key: every write is a version, none lost, and
// the current one is the last listed. Run under -race.
func TestConcurrentWritersOneKey(t *testing.T) {
	runWithAllBackends(t, true, func(t testing.TB, b backend, _ *clock) {
		const writers, each = 8, 50
		var wg sync.WaitGroup
		ids := make(chan gofakes3.VersionID, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					body := fmt.Sprintf("w%d-%d", w, i)
					res, err := b.PutObject(bkt, "hot", nil, strings.NewReader(body), int64(len(body)), nil)
					if err != nil {
						t.Error(err)
						return
					}
					ids <- res.VersionID
					if _, err := b.GetObject(bkt, "hot", nil); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[gofakes3.VersionID]bool{}
		for id := range ids {
			seen[id] = true
		}
		res, err := b.ListBucketVersions(bkt, nil, &gofakes3.ListBucketVersionsPage{MaxKeys: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != writers*each || len(res.Versions) != writers*each {
			t.Fatalf("%d distinct ids, %d versions listed; want %d", len(seen), len(res.Versions), writers*each)
		}
		head, err := b.HeadObject(bkt, "hot")
		if err != nil || head.VersionID != res.Versions[0].GetVersionID() {
			t.Fatalf("current %v (%v) is not the newest listed %s", head, err, res.Versions[0].GetVersionID())
		}
	})
}

// Many keys at once, the verifier's pattern: put, copy, delete the source.
func TestManyKeysAtOnce(t *testing.T) {
	runWithAllBackends(t, false, func(t testing.TB, b backend, _ *clock) {
		const workers, each = 16, 100
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					name := fmt.Sprintf("%02d-%03d", w, i)
					put(t, b, "uploads/"+name, name)
					if _, err := b.CopyObject(bkt, "uploads/"+name, bkt, "accepted/"+name, nil); err != nil {
						t.Error(err)
						return
					}
					if _, err := b.DeleteObject(bkt, "uploads/"+name); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		// A lister runs alongside the writers.
		for range 5 {
			keys(t, b, &gofakes3.Prefix{HasPrefix: true, Prefix: "accepted/"}, 100)
		}
		wg.Wait()
		got := keys(t, b, nil, 250)
		if len(got) != workers*each || got[0] != "accepted/00-000" || got[len(got)-1] != fmt.Sprintf("accepted/%02d-%03d", workers-1, each-1) {
			t.Fatalf("%d keys (%q ... %q), want %d accepted/ in order", len(got), got[0], got[len(got)-1], workers*each)
		}
		if !slices.IsSorted(got) {
			t.Fatal("listing not sorted")
		}
	})
}
