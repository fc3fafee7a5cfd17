package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// shardValue parses --shard I/N.
type shardValue struct{ p *plan.Shard }

func (v shardValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v shardValue) Set(s string) error {
	i, n, ok := strings.Cut(s, "/")
	ii, err1 := strconv.Atoi(i)
	nn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || nn < 1 || ii < 1 || ii > nn {
		return fmt.Errorf("%q: want I/N with 1 <= I <= N", s)
	}
	*v.p = plan.Shard{Index: ii, Count: nn}
	return nil
}

// shardFlags split a plan over machines: --shard runs one part, --history
// writes what it did, for `uploadonce check` to merge.
type shardFlags struct {
	shard   plan.Shard
	history string
}

func (f *shardFlags) register(fs *flag.FlagSet) {
	fs.Var(shardValue{&f.shard}, "shard", "run the I-th of N disjoint parts of the plan (I/N): keys, bodies and URL counts split\n"+
		"so that N shards together send one run's load; merge their --history files with uploadonce check")
	fs.StringVar(&f.history, "history", "", "write the run's history (JSON Lines) to this path, whatever the verdict")
}

// apply puts the shard in the plan; a shard of a plan with fewer URLs than
// shards would run nothing.
func (f *shardFlags) apply(p *plan.Plan) error {
	if err := checkOutPath("--history", f.history); err != nil {
		return err
	}
	if f.shard.Count > p.Tokens() {
		return usagef("--shard %s: the plan has %d URLs, fewer than %d shards", f.shard, p.Tokens(), f.shard.Count)
	}
	p.Shard = f.shard
	return nil
}
