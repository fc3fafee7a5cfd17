package s3event

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/clock"
)

func TestRecordShape(t *testing.T) {
	b := NewBuilder("eu-west-1")
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r1 := b.Record(Write{EventName: ObjectCreatedPost, Bucket: "bkt", Key: "uploads/a b+c=ü", Size: 5, ETag: `"abc"`, Time: at})
	r2 := b.Record(Write{EventName: ObjectCreatedPut, Bucket: "bkt", Key: "uploads/a b+c=ü", Size: 5, ETag: "abc", VersionID: "v2", Time: at})
	raw, err := json.Marshal(events.S3Event{Records: []events.S3EventRecord{r1}})
	if err != nil {
		t.Fatal(err)
	}
	var back events.S3Event
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got := back.Records[0]
	for _, c := range []struct{ name, got, want string }{
		{"eventVersion", got.EventVersion, "2.1"},
		{"eventSource", got.EventSource, "aws:s3"},
		{"awsRegion", got.AWSRegion, "eu-west-1"},
		{"eventName", got.EventName, "ObjectCreated:Post"},
		{"bucket.arn", got.S3.Bucket.Arn, "arn:aws:s3:::bkt"},
		{"object.key (form-encoded)", got.S3.Object.Key, "uploads/a+b%2Bc%3D%C3%BC"},
		{"urlDecodedKey", got.S3.Object.URLDecodedKey, "uploads/a b+c=ü"},
		{"eTag without quotes", got.S3.Object.ETag, "abc"},
		{"versionId only when versioned", got.S3.Object.VersionID, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !got.EventTime.Equal(at) || got.S3.Object.Size != 5 {
		t.Errorf("eventTime %v size %d", got.EventTime, got.S3.Object.Size)
	}
	if r2.S3.Object.VersionID != "v2" {
		t.Errorf("versioned record lost its versionId")
	}
	if CompareSequencers(r1.S3.Object.Sequencer, r2.S3.Object.Sequencer) >= 0 {
		t.Errorf("sequencers %s, %s do not increase", r1.S3.Object.Sequencer, r2.S3.Object.Sequencer)
	}
}

func TestCompareSequencers(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"0A", "0B", -1},
		{"0A", "0A00", 0},  // right-padded with zeros, equal
		{"0A1", "0A00", 1}, // 0A10 > 0A00
		{"0055", "00550", 0},
		{"ff", "FE", 1}, // case does not matter
	} {
		if got := CompareSequencers(c.a, c.b); got != c.want {
			t.Errorf("CompareSequencers(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParseDelay(t *testing.T) {
	for _, c := range []struct {
		in      string
		wantErr bool
	}{
		{"0", false}, {"250ms", false}, {"10ms..2s", false}, {"exp:300ms", false}, {"aws", false},
		{"-1s", true}, {"2s..1s", true}, {"exp:x", true}, {"soon", true}, {"1s..", true},
	} {
		_, err := ParseDelay(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseDelay(%q) error = %v, wantErr %v", c.in, err, c.wantErr)
		}
	}
	d, _ := ParseDelay("10ms..20ms")
	q := NewQueue(clock.Real{}, func(events.S3EventRecord) {}, Model{}, zerolog.Nop())
	for range 1000 {
		if s := d.Sample(q.rng); s < 10*time.Millisecond || s > 20*time.Millisecond {
			t.Fatalf("sample %v outside 10ms..20ms", s)
		}
	}
}

type sink struct {
	mu   sync.Mutex
	recs []events.S3EventRecord
}

func (s *sink) add(r events.S3EventRecord) { s.mu.Lock(); s.recs = append(s.recs, r); s.mu.Unlock() }
func (s *sink) len() int                   { s.mu.Lock(); defer s.mu.Unlock(); return len(s.recs) }
func (s *sink) seqs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		out = append(out, r.S3.Object.Sequencer)
	}
	return out
}

// waitFor polls until cond or a bound; timer callbacks run in goroutines.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueModel(t *testing.T) {
	b := NewBuilder("")
	write := func(key string) events.S3EventRecord {
		return b.Record(Write{EventName: ObjectCreatedPost, Bucket: "b", Key: key, ETag: "e"})
	}
	t.Run("zero model delivers once, at once, in order", func(t *testing.T) {
		var s sink
		q := NewQueue(clock.NewVirtual(time.Unix(0, 0)), s.add, Model{}, zerolog.Nop())
		for _, k := range []string{"a", "b", "c"} {
			q.Publish(write(k))
		}
		if s.len() != 3 || q.InFlight() != 0 {
			t.Fatalf("delivered %d, in flight %d", s.len(), q.InFlight())
		}
	})
	t.Run("duplicates 1 delivers every record twice", func(t *testing.T) {
		var s sink
		v := clock.NewVirtual(time.Unix(0, 0))
		q := NewQueue(v, s.add, Model{Duplicates: 1}, zerolog.Nop())
		for range 10 {
			q.Publish(write("k"))
		}
		// Undelayed copies do not wait for the virtual clock.
		waitFor(t, func() bool { return s.len() == 20 })
		if st := q.Stats(); st.Duplicated != 10 || st.Delivered != 20 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("delay holds records until the clock moves", func(t *testing.T) {
		var s sink
		v := clock.NewVirtual(time.Unix(0, 0))
		d, _ := ParseDelay("90s")
		q := NewQueue(v, s.add, Model{Delay: d}, zerolog.Nop())
		q.Publish(write("k"))
		v.Advance(89 * time.Second)
		time.Sleep(5 * time.Millisecond)
		if s.len() != 0 {
			t.Fatal("delivered before the delay")
		}
		v.Advance(time.Second)
		waitFor(t, func() bool { return s.len() == 1 })
	})
	t.Run("reorder window swaps records", func(t *testing.T) {
		var s sink
		v := clock.NewVirtual(time.Unix(0, 0))
		q := NewQueue(v, s.add, Model{ReorderWindow: time.Second, Seed: 7}, zerolog.Nop())
		for i := range 50 {
			q.Publish(write(string(rune('a' + i%26))))
		}
		// Fire timers one deadline at a time so delivery order is timer order.
		for q.InFlight() > 0 {
			next, ok := v.NextDeadline()
			if !ok {
				time.Sleep(time.Millisecond)
				continue
			}
			n := s.len()
			v.Advance(next.Sub(v.Now()))
			waitFor(t, func() bool { return s.len() > n })
		}
		seqs := s.seqs()
		swapped := 0
		for i := 1; i < len(seqs); i++ {
			if CompareSequencers(seqs[i-1], seqs[i]) > 0 {
				swapped++
			}
		}
		if swapped == 0 {
			t.Fatalf("50 records in a 1 s window arrived in order: %v", seqs)
		}
	})
	t.Run("coalesce folds a later write into the pending record", func(t *testing.T) {
		var s sink
		v := clock.NewVirtual(time.Unix(0, 0))
		d, _ := ParseDelay("1s")
		q := NewQueue(v, s.add, Model{Delay: d, Coalesce: true}, zerolog.Nop())
		first := write("same")
		q.Publish(first)
		q.Publish(write("same"))
		q.Publish(write("other"))
		v.Advance(time.Second)
		waitFor(t, func() bool { return s.len() == 2 })
		if st := q.Stats(); st.Coalesced != 1 {
			t.Fatalf("stats %+v", st)
		}
		for _, r := range s.recs {
			if r.S3.Object.URLDecodedKey == "same" && r.S3.Object.Sequencer != first.S3.Object.Sequencer {
				t.Fatalf("the delivered record is not the first write's")
			}
		}
	})
	t.Run("events older than the max age are dropped", func(t *testing.T) {
		var s sink
		v := clock.NewVirtual(time.Unix(0, 0))
		d, _ := ParseDelay("2m")
		q := NewQueue(v, s.add, Model{Delay: d, MaxEventAge: time.Minute}, zerolog.Nop())
		q.Publish(write("k"))
		v.Advance(2 * time.Minute)
		waitFor(t, func() bool { return q.InFlight() == 0 })
		if s.len() != 0 || q.Stats().Dropped != 1 {
			t.Fatalf("delivered %d, stats %+v", s.len(), q.Stats())
		}
	})
}

func TestModelValidate(t *testing.T) {
	for _, m := range []Model{{Duplicates: -0.1}, {Duplicates: 1.1}, {ReorderWindow: -1}, {MaxEventAge: -1}} {
		if m.Validate() == nil {
			t.Errorf("%+v validated", m)
		}
	}
	if (Model{Duplicates: 1}).Validate() != nil {
		t.Error("duplicates 1 refused")
	}
}
