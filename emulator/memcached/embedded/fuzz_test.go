package embedded_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator/memcached/embedded"
)

// FuzzEmbeddedProtocol feeds arbitrary bytes to one connection of the
// embedded server. The server must not panic (InternalErrors stays 0) and
// must still answer `version` on a new connection afterwards.
func FuzzEmbeddedProtocol(f *testing.F) {
	for _, seed := range []string{
		"get a b c\r\n",
		"set k 0 0 1\r\nx\r\nget k\r\n",
		"set k 0 0 5 noreply\r\nab\r\n",
		"cas k 0 0 1 18446744073709551616\r\nx\r\n",
		"incr k 1\r\ndecr k 99999999999999999999\r\n",
		"set k 0 0 -1\r\n",
		"set k 0 0 2147483647\r\n",
		"gat -1 k\r\ngats x\r\n",
		"flush_all -5 noreply\r\nstats\r\nstats reset\r\nstats items\r\n",
		"delete k 0 noreply\r\ntouch k\r\nverbosity\r\n",
		"delete noreply\r\nflush_all noreply\r\n", // a key named noreply
		"delete noreply\r\nflush_all noreply\r\n", // a key named noreply
		"\r\n\n \x00\xff\r\nquit\r\n",
	} {
		f.Add([]byte(seed))
	}
	// Small limits make the size and eviction paths reachable.
	e := embedded.New(
		embedded.WithLogger(zerolog.New(zerolog.NewTestWriter(f)).Level(zerolog.ErrorLevel)),
		embedded.WithMaxItemSize(4096),
		embedded.WithMaxBytes(16<<10),
	)
	f.Cleanup(func() { _ = e.Close() })
	if err := e.Start(f.Context()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		e.ServeConn(server)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, client)
		}()
		_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = client.Write(in)
		_ = client.Close()
		<-drained
		// Wait for the server side to finish before judging it.
		deadline := time.Now().Add(5 * time.Second)
		for e.Stats().CurrConnections != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := e.Stats().InternalErrors; n != 0 {
			t.Fatalf("InternalErrors = %d after input %q", n, in)
		}
		if v, err := probe(t, e.Addr()); err != nil || v != embedded.Version {
			t.Fatalf("version after input %q: %q, %v", in, v, err)
		}
	})
}
