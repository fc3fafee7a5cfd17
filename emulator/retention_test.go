package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

type page struct {
	status                int
	keys                  []string
	next, dropped, missed string
}

func getPage(t *testing.T, u string) page {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := page{status: resp.StatusCode, next: resp.Header.Get(emulator.NextHeader),
		dropped: resp.Header.Get(emulator.DroppedHeader), missed: resp.Header.Get(emulator.MissedHeader)}
	if resp.StatusCode != http.StatusOK {
		return p
	}
	var entries []struct {
		Key string `json:"key"`
		S3  struct {
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		t.Fatal(err)
	}
	if entries == nil {
		t.Fatalf("%s answered null, not an array", u)
	}
	for _, e := range entries {
		p.keys = append(p.keys, e.Key+e.S3.Object.Key)
	}
	return p
}

// TestInspectionRetention: the decision and event logs keep their newest
// entries, count the dropped ones, and page with ?since=, ?limit= and
// ?key=, while the body stays the JSON array clients already read.
func TestInspectionRetention(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.KeepDecisions, o.KeepEvents = 5, 6
	})
	var keys []string
	for range 8 {
		keys = append(keys, s.uploadAll(t, "payload"))
	}
	s.settle(t)
	base := s.URL + "/_uploadonce/"

	// Invocations run concurrently, so decisions come in any order; every
	// URL gets one.
	all := getPage(t, base+"decisions")
	if len(all.keys) != 5 || all.dropped != "3" || all.next != "9" {
		t.Fatalf("decisions: %d kept, dropped %s, next %s; want the newest 5, 3 dropped, next 9", len(all.keys), all.dropped, all.next)
	}
	if ev := getPage(t, base+"events"); len(ev.keys) != 6 || ev.dropped != "2" || ev.next != "9" {
		t.Fatalf("events: %d kept, dropped %s, next %s; want the newest 6 and 2 dropped", len(ev.keys), ev.dropped, ev.next)
	}
	// Paging from the start: the oldest kept first, two at a time.
	var paged []string
	cursor := "0"
	for range 5 {
		p := getPage(t, base+"decisions?limit=2&since="+cursor)
		if len(p.keys) == 0 {
			break
		}
		paged = append(paged, p.keys...)
		cursor = p.next
	}
	if !slices.Equal(paged, all.keys) || cursor != "9" {
		t.Fatalf("pages %v ending at cursor %s, want %v and cursor 9", paged, cursor, all.keys)
	}
	// A reader whose cursor fell behind the log learns what it missed.
	if p := getPage(t, base+"decisions?since=2"); p.missed != "2" || len(p.keys) != 5 {
		t.Fatalf("since=2: missed %q, %d entries; want 2 missed and the 5 kept", p.missed, len(p.keys))
	}
	// One URL's entries.
	kept := all.keys[2]
	if p := getPage(t, base+"decisions?key="+kept); len(p.keys) != 1 || p.keys[0] != kept {
		t.Fatalf("key filter: %v", p.keys)
	}
	dropped := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(all.keys, k) })[0]
	if p := getPage(t, base+"decisions?key="+dropped); len(p.keys) != 0 || p.next != "9" {
		t.Fatalf("a dropped key: %v next %s, want [] and the end cursor", p.keys, p.next)
	}
	for _, bad := range []string{"limit=0", "limit=x", "since=-1"} {
		if p := getPage(t, base+"decisions?"+bad); p.status != http.StatusBadRequest {
			t.Fatalf("?%s answered %d, want 400", bad, p.status)
		}
	}
	var h emulator.Health
	getJSONInto(t, base+"health", &h)
	if d := h.Logs["decisions"]; d.Kept != 5 || d.Limit != 5 || d.Dropped != 3 || d.Next != 9 {
		t.Fatalf("health logs %+v", h.Logs)
	}
}

func getJSONInto(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPerURLStateFreed: once a URL's events are decided, nothing of it is
// left in flight, and the bucket keeps only its accepted copy: the upload
// and the rejected second write are gone from uploads/.
func TestPerURLStateFreed(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Delivery = s3event.Model{Delay: mustDelay(t, "1s"), Duplicates: 0.5, Seed: 5}
	})
	var keys []string
	for range 30 {
		keys = append(keys, s.uploadAll(t, "first bytes", "second bytes"))
	}
	s.settle(t)
	if !s.KeysDone(keys) || !s.Idle() || s.Queue.InFlight() != 0 || s.Invoker.Pending() != 0 {
		t.Fatalf("after settling: keys done %v, idle %v, queue %d, invoker %d", s.KeysDone(keys), s.Idle(),
			s.Queue.InFlight(), s.Invoker.Pending())
	}
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey, "")})
	count := func(prefix string) int32 {
		out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(s.Config().Bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(out.KeyCount)
	}
	if up, acc := count("uploads/"), count("accepted/"); up != 0 || acc != 30 {
		t.Fatalf("uploads/ holds %d objects, accepted/ %d; want 0 and 30", up, acc)
	}
}
