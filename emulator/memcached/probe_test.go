package memcached

import (
	"context"
	"testing"
	"time"
)

// TestProbeMeasuresCapacity: the probe reports a rate from commands the
// server counted, per node, and refuses an empty mix.
func TestProbeMeasuresCapacity(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Spec{Kind: KindEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	before, err := ReadStats(ctx, s.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	mix := Mix{Get: 1, Set: 1, Delete: 1}
	rate, err := ProbeCapacity(ctx, s.Addrs(), mix, ProbeOptions{Workers: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	after, err := ReadStats(ctx, s.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	served := (after["cmd_get"] - before["cmd_get"]) + (after["cmd_set"] - before["cmd_set"]) +
		(after["delete_hits"] + after["delete_misses"] - before["delete_hits"] - before["delete_misses"])
	// The rate is the served commands over about 200 ms: between a third
	// and three times served/0.2 s allows for the timer's slack.
	if want := float64(served) / 0.2; rate < want/3 || rate > want*3 || served < 100 {
		t.Errorf("probe says %.0f cmd/s; the server counted %d commands in ~200ms (%.0f/s)", rate, served, want)
	}
	if _, err := ProbeCapacity(ctx, s.Addrs(), Mix{}, ProbeOptions{}); err == nil {
		t.Error("an empty mix probed something")
	}
}
