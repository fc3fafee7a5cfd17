package memcached

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestProcessRestartWaitsForItsPort: when another process holds the port
// while memcached restarts, Restart retries until the port is free instead
// of failing, and memcached comes back on the same address.
func TestProcessRestartWaitsForItsPort(t *testing.T) {
	if _, err := findMemcachedBinary(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, Spec{Kind: KindProcess}, WithStartTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	n := srv.node.(*processNode)
	if err := n.close(ctx); err != nil { // memcached gone, the port free
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	const held = 400 * time.Millisecond
	time.AfterFunc(held, func() { _ = squatter.Close() })
	start := time.Now()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart while the port was held for %v: %v", held, err)
	}
	if took := time.Since(start); took < held {
		t.Fatalf("Restart returned after %v, before the port was freed at %v", took, held)
	}
	if _, err := Probe(ctx, srv.Addrs()[0]); err != nil {
		t.Fatalf("memcached after Restart: %v", err)
	}
}

// TestProcessStartReportsPortInUse: a memcached that cannot bind its port
// fails with an error that wraps EADDRINUSE, which is what the retries key on.
func TestProcessStartReportsPortInUse(t *testing.T) {
	bin, err := findMemcachedBinary()
	if err != nil {
		t.Skip(err)
	}
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	n := &processNode{bin: bin, port: squatter.Addr().(*net.TCPAddr).Port, memoryMB: 8, timeout: 10 * time.Second}
	err = n.start(context.Background())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("start on a held port: %v, want an error wrapping EADDRINUSE", err)
	}
}
