package emulator_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

type tally struct{ accepted, rejected, redelivered int }

func (s *stack) tally(key string) tally {
	var t tally
	for _, d := range s.Decisions() {
		if d.Key != key {
			continue
		}
		switch {
		case d.Decision == onetime.Accepted && d.Redelivery:
			t.redelivered++
		case d.Decision == onetime.Accepted:
			t.accepted++
		default:
			t.rejected++
		}
	}
	return t
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func (s *stack) acceptedETag(t *testing.T, key string) string {
	t.Helper()
	info, err := s.Objects().Head(context.Background(), s.Config().Bucket, "accepted/"+key[len("uploads/"):])
	if err != nil {
		t.Fatalf("accepted copy of %s: %v", key, err)
	}
	return info.ETag
}

// uploadAll issues one URL and uploads each body in turn.
func (s *stack) uploadAll(t *testing.T, bodies ...string) string {
	t.Helper()
	ctx := context.Background()
	g, err := s.client.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		res, err := s.client.Upload(ctx, g, []byte(b))
		if err != nil || res.Status/100 != 2 {
			t.Fatalf("upload = %+v, %v", res, err)
		}
	}
	return g.Key
}

func TestDuplicateDeliveries(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     tally
	}{
		// The token is gone when the copy arrives: the winner's own
		// redelivery is rejected (and reported).
		{onetime.Delete, tally{accepted: 1, rejected: 1}},
		// The consumed marker names the winner: the copy is accepted again.
		{onetime.CAS, tally{accepted: 1, redelivered: 1}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
				o.Strategy = tc.strategy
				o.Delivery = s3event.Model{Duplicates: 1, Delay: mustDelay(t, "1s")}
			})
			key := s.uploadAll(t, "once")
			s.settle(t)
			if got := s.tally(key); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			if n := s.eventsFor(t, key); n != 2 {
				t.Fatalf("%d deliveries, want 2", n)
			}
			if s.acceptedETag(t, key) != md5hex([]byte("once")) {
				t.Fatal("accepted copy has the wrong bytes")
			}
		})
	}
}

func mustDelay(t *testing.T, s string) s3event.Delay {
	t.Helper()
	d, err := s3event.ParseDelay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEventLaterThanTokenTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want tally
	}{
		{10 * time.Minute, tally{rejected: 1}}, // a legitimate upload lost to a short TTL
		{30 * time.Minute, tally{accepted: 1}},
	} {
		s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
			o.TokenTTL = tc.ttl
			o.Delivery = s3event.Model{Delay: mustDelay(t, "20m")}
		})
		key := s.uploadAll(t, "slow event")
		s.settle(t)
		if got := s.tally(key); got != tc.want {
			t.Fatalf("TTL %v: %+v, want %+v", tc.ttl, got, tc.want)
		}
		// The deadline in the value says expired; the embedded server, on the
		// same virtual clock, may already have dropped the item by its TTL.
		if r := s.Decisions()[0].Reason; tc.want.rejected == 1 && r != onetime.ReasonTokenExpired && r != onetime.ReasonTokenMissing {
			t.Fatalf("reason %s, want %s or %s", r, onetime.ReasonTokenExpired, onetime.ReasonTokenMissing)
		}
	}
}

// failFirstCopy fails the first copy, as a throttled or timed-out S3 call
// after the token was consumed.
type failFirstCopy struct {
	onetime.Objects
	failed atomic.Bool
}

func (f *failFirstCopy) Copy(ctx context.Context, in onetime.CopyInput) error {
	if f.failed.CompareAndSwap(false, true) {
		return errors.New("SlowDown: please reduce your request rate")
	}
	return f.Objects.Copy(ctx, in)
}

func TestRetryAfterAFailedCopy(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     tally
	}{
		// The retry finds the token gone and rejects the legitimate upload;
		// the first attempt's fail-closed rejection counts too.
		{onetime.Delete, tally{rejected: 2}},
		{onetime.CAS, tally{rejected: 1, redelivered: 1}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) { o.Strategy = tc.strategy })
			s.Verifier.Objects = &failFirstCopy{Objects: s.Verifier.Objects}
			key := s.uploadAll(t, "retry me")
			s.settle(t)
			if got := s.tally(key); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			ds := s.Decisions()
			if !ds[0].Retryable || ds[0].Reason != onetime.ReasonInfrastructure {
				t.Fatalf("first decision %+v: want a retryable fail-closed rejection", ds[0])
			}
			if d := ds[1].Time.Sub(ds[0].Time); d != time.Minute {
				t.Fatalf("retry %v after the failure, want 1m", d)
			}
		})
	}
}

func TestCoalescedOverwrite(t *testing.T) {
	for _, tc := range []struct {
		strategy   string
		wantETag   string // what the accept names
		wantReason onetime.Reason
	}{
		// The one event names the first upload, the object holds the second's
		// bytes: the reference copies them anyway, and its accept names the
		// first upload's bytes (wrong bytes).
		{onetime.GetDelete, "first", onetime.ReasonFirstUse},
		{onetime.Delete, "first", onetime.ReasonFirstUse},
		// cas copies only if the ETag still matches; when it does not, the
		// event passes its claim to the bytes that replaced its own, and the
		// accept says so: the URL is not lost and the bytes are named.
		{onetime.CAS, "second", onetime.ReasonClaimPassed},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
				o.Strategy = tc.strategy
				o.Delivery = s3event.Model{Delay: mustDelay(t, "2s"), Coalesce: true}
			})
			key := s.uploadAll(t, "first", "second")
			s.settle(t)
			ds := s.Decisions()
			if len(ds) != 1 || ds[0].Decision != onetime.Accepted || ds[0].Reason != tc.wantReason || ds[0].ETag != md5hex([]byte(tc.wantETag)) {
				t.Fatalf("decisions %+v: want one accept, naming %q, reason %s", ds, tc.wantETag, tc.wantReason)
			}
			if s.acceptedETag(t, key) != md5hex([]byte("second")) {
				t.Fatal(`accepted/ does not hold "second", the bytes under the key`)
			}
		})
	}
}

func TestVersioningKeepsTheFirstUpload(t *testing.T) {
	s := start(t, "", func(o *emulator.StartOptions) {
		o.Strategy = onetime.Versioning
		// Reordered, so the second upload's event may be handled first.
		o.Delivery = s3event.Model{ReorderWindow: 5 * time.Second, Seed: 3}
	})
	if s.Memcached != nil {
		t.Fatal("versioning started a memcached it does not need")
	}
	for range 5 {
		key := s.uploadAll(t, "first bytes", "second bytes")
		s.settle(t)
		if got := s.tally(key); got.accepted != 1 || got.rejected != 1 {
			for _, d := range s.Decisions() {
				t.Logf("%+v", d)
			}
			t.Logf("deliveries %d queue %+v invoker %+v", len(s.Deliveries()), s.Queue.Stats(), s.Invoker.Stats())
			t.Fatalf("%+v, want one accepted and one rejected", got)
		}
		if s.acceptedETag(t, key) != md5hex([]byte("first bytes")) {
			t.Fatal("accepted/ does not hold the first upload")
		}
	}
}

func TestIfNoneMatch(t *testing.T) {
	s := start(t, "", func(o *emulator.StartOptions) { o.Strategy = onetime.IfNoneMatch })
	ctx := context.Background()
	g, err := s.client.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.Method != http.MethodPut || g.Headers["If-None-Match"] != "*" {
		t.Fatalf("grant %+v: want a PUT that signs If-None-Match", g)
	}
	var statuses []int
	for range 2 {
		res, err := s.client.Upload(ctx, g, []byte("only once"))
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, res.Status)
	}
	if statuses[0] != 200 || statuses[1] != 412 {
		t.Fatalf("statuses %v, want [200 412]", statuses)
	}
	s.settle(t)
	if got := s.tally(g.Key); got != (tally{accepted: 1}) {
		t.Fatalf("%+v", got)
	}
	// The source stays, so the URL cannot write again after the accept.
	res, err := s.client.Upload(ctx, g, []byte("again"))
	if err != nil || res.Status != 412 {
		t.Fatalf("upload after the accept = %+v, %v; want 412", res, err)
	}
}

func TestAWSSDKAgainstTheEmulator(t *testing.T) {
	s := start(t, memcached.KindEmbedded, nil)
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("uploadonce", "uploadonce-secret", "")})
	ctx := context.Background()
	// An SDK upload straight into uploads/ is an ObjectCreated:Put with no
	// token behind it: rejected, and never copied.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploadonce"), Key: aws.String("uploads/stray"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	s.settle(t)
	ds := s.Decisions()
	if len(ds) != 1 || ds[0].Reason != onetime.ReasonTokenMissing || ds[0].EventName != s3event.ObjectCreatedPut {
		t.Fatalf("decisions %+v", ds)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("uploadonce"), Key: aws.String("accepted/stray")}); err == nil {
		t.Fatal("a stray upload was copied to accepted/")
	}
}

func TestCacheCommandCounts(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     emulator.CacheStats
	}{
		// issue: add; first upload: get + delete; second: get (get-delete,
		// the reference, deletes only on a hit).
		{onetime.GetDelete, emulator.CacheStats{Add: 1, Get: 2, Delete: 1}},
		{onetime.Delete, emulator.CacheStats{Add: 1, Get: 2, Delete: 1}},
		{onetime.CAS, emulator.CacheStats{Add: 1, Get: 2, CAS: 1}},
	} {
		s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) { o.Strategy = tc.strategy })
		// The second upload goes once the first is decided: concurrent
		// verifications would race under get-delete (both get a hit, both
		// delete), and this test counts commands, not races.
		ctx := context.Background()
		g, err := s.client.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if res, err := s.client.Upload(ctx, g, []byte("a")); err != nil || res.Status/100 != 2 {
				t.Fatalf("upload = %+v, %v", res, err)
			}
			s.settle(t)
		}
		if got := s.CacheStats(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.strategy, got, tc.want)
		}
	}
}

// TestReorderedEvents: "first event processed" is not "first upload".
// Under delete the event handled first wins, which is sometimes the second
// upload's; versioning always accepts the oldest version.
func TestReorderedEvents(t *testing.T) {
	const urls = 20
	for _, tc := range []struct {
		strategy        string
		wantLaterWinner bool
	}{
		{onetime.Delete, true},
		{onetime.Versioning, false},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
				o.Strategy = tc.strategy
				o.Delivery = s3event.Model{ReorderWindow: 10 * time.Second, Seed: 11}
			})
			laterWins := 0
			for range urls {
				key := s.uploadAll(t, "first", "second")
				s.settle(t)
				var seqs []string
				winner := ""
				for _, d := range s.Decisions() {
					if d.Key != key {
						continue
					}
					seqs = append(seqs, d.Sequencer)
					if d.Decision == onetime.Accepted {
						winner = d.Sequencer
					}
				}
				if len(seqs) != 2 || winner == "" {
					t.Fatalf("decisions for %s: %v, winner %q", key, seqs, winner)
				}
				first := seqs[0]
				if s3event.CompareSequencers(seqs[1], first) < 0 {
					first = seqs[1]
				}
				if winner != first {
					laterWins++
				}
			}
			if got := laterWins > 0; got != tc.wantLaterWinner {
				t.Fatalf("the later upload won %d of %d URLs; want later winners: %v", laterWins, urls, tc.wantLaterWinner)
			}
		})
	}
}

// TestMaxEventAge: an event delayed past the maximum event age is dropped,
// so the upload is never decided.
func TestMaxEventAge(t *testing.T) {
	s := start(t, memcached.KindEmbedded, func(o *emulator.StartOptions) {
		o.Delivery = s3event.Model{Delay: mustDelay(t, "2m"), MaxEventAge: time.Minute}
	})
	key := s.uploadAll(t, "never verified")
	s.settle(t)
	if got := s.tally(key); got != (tally{}) {
		t.Fatalf("%+v, want no decision", got)
	}
	if st := s.Queue.Stats(); st.Dropped != 1 {
		t.Fatalf("queue stats %+v, want one dropped", st)
	}
}
