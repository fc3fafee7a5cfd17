package soak_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/loadtest/soak"
)

// TestSoakShort drives an in-process serve for 3 s: every URL with a 2xx
// upload is accepted, double uploads included, and the samples carry the
// server's runtime metrics.
func TestSoakShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := emulator.Start(ctx, emulator.StartOptions{Listen: "127.0.0.1:0", Memcached: memcached.KindEmbedded,
		Config: emulator.Config{APIKey: "k", Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var progress bytes.Buffer
	res, err := soak.Run(ctx, soak.Options{Target: r.URL, APIKey: "k", Rate: 40, Duration: 3 * time.Second,
		Baseline: time.Second, Sample: 500 * time.Millisecond, Double: 0.5, Size: 512, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range res.Summary() {
		t.Log(line)
	}
	if doubles := res.Uploads - res.URLs; res.URLs < 60 || res.Failed != 0 || res.OK != res.Uploads || doubles < res.URLs/2-1 || doubles > res.URLs/2+1 {
		t.Fatalf("%d URLs, %d uploads, %d 2xx, %d failed: want about 120 URLs, half of them uploaded twice, all answered 2xx",
			res.URLs, res.Uploads, res.OK, res.Failed)
	}
	if res.LostURLs != 0 || res.Settled.Accepted-res.Samples[0].Accepted != res.OKURLs {
		t.Fatalf("%d lost URLs; %d accepted of %d URLs", res.LostURLs, res.Settled.Accepted-res.Samples[0].Accepted, res.OKURLs)
	}
	if res.Baseline.At < time.Second || res.End.RSS <= 0 || res.End.Goroutines <= 0 || res.End.OpenFDs <= 0 || len(res.Samples) < 5 {
		t.Fatalf("samples %+v, baseline %+v, end %+v", res.Samples, res.Baseline, res.End)
	}
	if !strings.Contains(progress.String(), "rss") {
		t.Fatalf("no progress lines: %q", progress.String())
	}
}

func TestSoakOptionsRefused(t *testing.T) {
	for _, o := range []soak.Options{
		{},
		{Target: "http://127.0.0.1:1", APIKey: "k", Double: 2},
		{Target: "http://127.0.0.1:1", APIKey: "k", Baseline: time.Hour},
		{Target: "http://127.0.0.1:1", APIKey: "k", Rate: -1},
	} {
		if _, err := soak.Run(context.Background(), o); err == nil {
			t.Errorf("%+v was accepted", o)
		}
	}
}
