package faults

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// TestSupports is the capability table: which fault works on which
// provider, and why not.
func TestSupports(t *testing.T) {
	const (
		emb, proc, cont, ext, auto = memcached.KindEmbedded, memcached.KindProcess, memcached.KindContainer,
			memcached.KindExternal, memcached.KindAuto
	)
	for _, tc := range []struct {
		kind string
		ok   []string
		not  []string
		why  string // in every refusal but the external one
	}{
		{plan.FaultMemcachedRestart, []string{emb, proc, cont, auto}, []string{ext}, ""},
		{plan.FaultMemcachedFlush, []string{emb, proc, cont, auto}, []string{ext}, ""},
		{plan.FaultMemcachedPause, []string{emb, proc, cont, auto}, []string{ext}, ""},
		{plan.FaultMemcachedLatency, []string{emb, auto}, []string{proc, cont, ext}, "use memcached-pause"},
		{plan.FaultMemcachedEvict, []string{emb, auto}, []string{proc, cont, ext}, "--memcached-memory-mb"},
		{plan.FaultMemcachedConnLimit, []string{emb, auto}, []string{proc, cont, ext}, "-c cannot change"},
		{plan.FaultMemcachedAddNode, []string{emb, auto}, []string{proc, cont, ext}, "config get cluster"},
		{plan.FaultMemcachedRemoveNode, []string{emb, auto}, []string{proc, cont, ext}, "config get cluster"},
	} {
		for _, p := range tc.ok {
			if err := Supports(tc.kind, p); err != nil {
				t.Errorf("%s on %s: %v, want supported", tc.kind, p, err)
			}
		}
		for _, p := range tc.not {
			err := Supports(tc.kind, p)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s on %s: %v, want ErrUnsupported", tc.kind, p, err)
				continue
			}
			want := tc.why
			if p == ext {
				want = "not an external one"
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.kind) {
				t.Errorf("%s on %s: %q does not say %q", tc.kind, p, err, want)
			}
		}
	}
	if err := Supports("memcached-melt", emb); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown kind: %v", err)
	}
	// Every kind a plan may name has a row.
	for _, k := range plan.FaultKinds() {
		if _, ok := capabilities[k]; !ok {
			t.Errorf("fault kind %s has no row in the capability table", k)
		}
	}
}

// fakeMC records what the failpoints did.
type fakeMC struct {
	kind  string
	knobs *fakeKnobs
	calls []string
}

type fakeKnobs struct {
	bytes int64
	lat   time.Duration
	conns int
}

func (k *fakeKnobs) SetMaxBytes(n int64)        { k.bytes = n }
func (k *fakeKnobs) SetLatency(d time.Duration) { k.lat = d }
func (k *fakeKnobs) SetMaxConns(n int)          { k.conns = n }

func (f *fakeMC) Kind() string { return f.kind }
func (f *fakeMC) Knobs() Knobs {
	if f.knobs == nil {
		return nil
	}
	return f.knobs
}
func (f *fakeMC) Items(context.Context) (int64, error) { return 7, nil }
func (f *fakeMC) Restart(context.Context) error        { f.calls = append(f.calls, "restart"); return nil }
func (f *fakeMC) Flush(context.Context) error          { f.calls = append(f.calls, "flush"); return nil }
func (f *fakeMC) Pause(context.Context) error          { f.calls = append(f.calls, "pause"); return nil }
func (f *fakeMC) Resume(context.Context) error         { f.calls = append(f.calls, "resume"); return nil }

// TestFailpoints: each kind does what it says to the server, and a knob
// fault on a server without knobs fails instead of doing nothing.
func TestFailpoints(t *testing.T) {
	ctx := context.Background()
	mc := &fakeMC{kind: memcached.KindEmbedded, knobs: &fakeKnobs{}}
	if note, _ := New(plan.Fault{Kind: plan.FaultMemcachedFlush}).Inject(ctx, &fakeMC{kind: memcached.KindEmbedded}); !strings.Contains(note, "7 items dropped") {
		t.Errorf("flush says %q, want the items it dropped", note)
	}
	for _, f := range []plan.Fault{
		{Kind: plan.FaultMemcachedRestart}, {Kind: plan.FaultMemcachedFlush},
		{Kind: plan.FaultMemcachedPause, Duration: time.Second},
		{Kind: plan.FaultMemcachedEvict, Value: 4096}, {Kind: plan.FaultMemcachedLatency, Duration: 2 * time.Millisecond},
		{Kind: plan.FaultMemcachedConnLimit, Value: 2},
	} {
		if _, err := New(f).Inject(ctx, mc); err != nil {
			t.Fatalf("%s: %v", f.Kind, err)
		}
	}
	if got := strings.Join(mc.calls, ","); got != "restart,flush,pause" {
		t.Errorf("calls %s", got)
	}
	if k := mc.knobs; k.bytes != 4096 || k.lat != 2*time.Millisecond || k.conns != 2 {
		t.Errorf("knobs %+v", *k)
	}
	end := New(plan.Fault{Kind: plan.FaultMemcachedConnLimit, Value: 2}).(Ender)
	if _, err := end.End(ctx, mc); err != nil || mc.knobs.conns != 0 {
		t.Errorf("conn-limit end: %v, conns %d", err, mc.knobs.conns)
	}
	real := &fakeMC{kind: memcached.KindProcess}
	if _, err := New(plan.Fault{Kind: plan.FaultMemcachedLatency, Duration: time.Millisecond}).Inject(ctx, real); !errors.Is(err, ErrUnsupported) {
		t.Errorf("latency on a process: %v, want ErrUnsupported", err)
	}
}

// scalingMC is a fakeMC whose cluster can change.
type scalingMC struct {
	fakeMC
	nodes []string
}

func (f *scalingMC) AddNode(context.Context) (string, error) {
	f.nodes = append(f.nodes, "n"+string(rune('0'+len(f.nodes))))
	return f.nodes[len(f.nodes)-1], nil
}

func (f *scalingMC) RemoveNode(context.Context) (string, error) {
	if len(f.nodes) < 2 {
		return "", errors.New("the last node cannot be removed")
	}
	last := f.nodes[len(f.nodes)-1]
	f.nodes = f.nodes[:len(f.nodes)-1]
	return last, nil
}

var _ Scaler = (*scalingMC)(nil)

// TestNodeChangeFailpoints: add-node and remove-node change the cluster
// and say so; a memcached that cannot change its nodes refuses them.
func TestNodeChangeFailpoints(t *testing.T) {
	ctx := context.Background()
	mc := &scalingMC{fakeMC: fakeMC{kind: memcached.KindEmbedded}, nodes: []string{"n0", "n1", "n2"}}
	add, remove := New(plan.Fault{Kind: plan.FaultMemcachedAddNode}), New(plan.Fault{Kind: plan.FaultMemcachedRemoveNode})
	effect, err := add.Inject(ctx, mc)
	if err != nil || len(mc.nodes) != 4 || !strings.Contains(effect, "node n3 added") || !strings.Contains(effect, "when they next rediscover the nodes") {
		t.Fatalf("add-node: %q, %v, nodes %v", effect, err, mc.nodes)
	}
	effect, err = remove.Inject(ctx, mc)
	if err != nil || len(mc.nodes) != 3 || !strings.Contains(effect, "node n3 removed") {
		t.Fatalf("remove-node: %q, %v, nodes %v", effect, err, mc.nodes)
	}
	for _, f := range []Failpoint{add, remove} {
		for _, m := range []Memcached{&fakeMC{kind: memcached.KindProcess}, &fakeMC{kind: memcached.KindEmbedded}} {
			if _, err := f.Inject(ctx, m); !errors.Is(err, ErrUnsupported) {
				t.Errorf("%T on a %s without nodes to change: %v, want ErrUnsupported", f, m.Kind(), err)
			}
		}
	}
}
