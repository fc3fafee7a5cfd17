package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

func TestStartExternalDoesNotOwnTheServer(t *testing.T) {
	ctx := context.Background()
	e := startEmbedded(t)
	spec, err := memcached.ParseSpec(e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := memcached.Start(ctx, spec, memcached.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Kind() != memcached.KindExternal || !slices.Equal(srv.Addrs(), []string{e.Addr()}) {
		t.Fatalf("Kind %q Addrs %v", srv.Kind(), srv.Addrs())
	}
	if err := srv.Restart(ctx); !errors.Is(err, memcached.ErrUnsupported) {
		t.Fatalf("Restart: got %v, want ErrUnsupported", err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The server someone else runs is still up.
	if _, err := memcached.Probe(ctx, e.Addr()); err != nil {
		t.Fatalf("external server after Close: %v", err)
	}
}

func TestStartExternalUnreachableFailsFast(t *testing.T) {
	port := func() string { // a port nobody listens on
		e := memcached.NewEmbedded()
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := e.Addr()
		_ = e.Close()
		return a
	}()
	start := time.Now()
	_, err := memcached.Start(context.Background(), memcached.Spec{Kind: memcached.KindExternal, Addrs: []string{port}},
		memcached.WithStartTimeout(time.Second))
	if err == nil {
		t.Fatal("Start of an unreachable external server succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

func TestEmbeddedServerKnobsViaStart(t *testing.T) {
	ctx := context.Background()
	clk := &virtualClock{now: time.Unix(2_000_000_000, 0)}
	srv, err := memcached.Start(ctx, memcached.Spec{Kind: memcached.KindEmbedded},
		memcached.WithClock(clk), memcached.WithMemoryMB(1), memcached.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	if srv.Embedded() == nil || srv.Embedded().Stats().LimitMaxBytes != 1<<20 {
		t.Fatalf("Embedded() = %v", srv.Embedded())
	}
	r := dialRaw(t, srv.Addrs()[0])
	r.expect("set k 0 5 1\r\nx\r\n", "STORED")
	clk.Advance(5 * time.Second)
	r.expect("get k\r\n", "END")
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); !errors.Is(err, memcached.ErrClosed) {
		t.Fatalf("Restart after Close: got %v, want ErrClosed", err)
	}
}

func TestStartContainerMissingImageFailsFast(t *testing.T) {
	ctx := context.Background()
	if !memcached.DockerAvailable(ctx) {
		unavailable(t, memcached.KindContainer, "docker engine does not answer")
	}
	start := time.Now()
	_, err := memcached.Start(ctx, memcached.Spec{Kind: memcached.KindContainer},
		memcached.WithImage("uploadonce/no-such-image:missing"), memcached.WithLogger(testLogger(t)))
	var missing *memcached.ImageMissingError
	if !errors.As(err, &missing) || missing.Image != "uploadonce/no-such-image:missing" {
		t.Fatalf("got %v, want an ImageMissingError", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("missing image took %v to fail", took)
	}
	t.Logf("error: %v", err)
}

func TestStartContainerCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if !memcached.DockerAvailable(ctx) {
		unavailable(t, memcached.KindContainer, "docker engine does not answer")
	}
	if ok, _ := memcached.ImagePresent(ctx, testImage()); !ok {
		unavailable(t, memcached.KindContainer, "image "+testImage()+" not present (make memcached-image)")
	}
	spec, err := memcached.ParseSpec("container:2")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := memcached.Start(ctx, spec, memcached.WithImage(testImage()), memcached.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	addrs := srv.Addrs()
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("Addrs() = %v, want two distinct nodes", addrs)
	}
	for _, a := range addrs {
		if _, err := memcached.Probe(ctx, a); err != nil {
			t.Fatalf("node %s: %v", a, err)
		}
	}
	t.Logf("cluster: %s", srv.Describe())
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if _, err := memcached.Probe(ctx, a); err == nil {
			t.Fatalf("node %s still answers after Close", a)
		}
	}
}

func TestStartAutoPicksAConcreteKind(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := memcached.Start(ctx, memcached.Spec{Kind: memcached.KindAuto},
		memcached.WithImage(testImage()), memcached.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	switch srv.Kind() {
	case memcached.KindContainer, memcached.KindProcess, memcached.KindEmbedded:
	default:
		t.Fatalf("auto chose %q", srv.Kind())
	}
	t.Logf("auto chose %s", srv.Describe())
	if _, err := memcached.Probe(ctx, srv.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
}

// TestStartEmbeddedCluster: embedded:3 runs three nodes as one cluster.
// Every node answers config get cluster with all three, in the order of
// Addrs, and keeps doing so across Restart; Close stops all of them.
func TestStartEmbeddedCluster(t *testing.T) {
	ctx := context.Background()
	spec, err := memcached.ParseSpec("embedded:3")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := memcached.Start(ctx, spec, memcached.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	addrs := srv.Addrs()
	if srv.Kind() != memcached.KindEmbedded || len(addrs) != 3 || len(srv.EmbeddedNodes()) != 3 ||
		srv.ConfigEndpoint() != addrs[0] || srv.Embedded() != srv.EmbeddedNodes()[0] {
		t.Fatalf("Kind %q Addrs %v nodes %d ConfigEndpoint %q", srv.Kind(), addrs, len(srv.EmbeddedNodes()), srv.ConfigEndpoint())
	}
	want := make([]string, 0, 3)
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		want = append(want, host+"|"+host+"|"+port)
	}
	check := func(when string) {
		t.Helper()
		for _, a := range addrs {
			r := dialRaw(t, a)
			r.send("config get cluster\r\n")
			version, nodes := r.readClusterConfig(r.line())
			if version != "1" || !slices.Equal(nodes, want) {
				t.Fatalf("%s: node %s answers version %s nodes %v, want 1 %v", when, a, version, nodes, want)
			}
		}
	}
	check("after Start")
	// The nodes are separate servers: a key lives on one of them.
	mc := memcached.NewClient(addrs, 4)
	defer mc.Close()
	for i := range 30 {
		if err := mc.Set(&memcache.Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	var total uint64
	for i, e := range srv.EmbeddedNodes() {
		n := e.Stats().CurrItems
		if n == 0 {
			t.Errorf("node %d holds no key of 30", i)
		}
		total += n
	}
	if total != 30 {
		t.Fatalf("the nodes hold %d items, want 30", total)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	check("after Restart")
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if _, err := memcached.Probe(ctx, a); err == nil {
			t.Fatalf("node %s still answers after Close", a)
		}
	}
}
