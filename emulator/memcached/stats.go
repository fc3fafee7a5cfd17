package memcached

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ServerStats are the numeric counters of memcached's `stats` command, summed
// over every node read. The names are memcached's (cmd_get, evictions, ...).
type ServerStats map[string]int64

// ReadStats sends `stats` to every addr and sums the counters. It is the
// one reader of server counters: operation accounting and eviction
// attribution both use it.
func ReadStats(ctx context.Context, addrs []string) (ServerStats, error) {
	total := ServerStats{}
	for _, a := range addrs {
		st, err := readStats(ctx, a)
		if err != nil {
			return nil, err
		}
		for k, v := range st {
			total[k] += v
		}
	}
	return total, nil
}

// statsTimeout bounds one node's answer.
const statsTimeout = 5 * time.Second

func readStats(ctx context.Context, addr string) (ServerStats, error) {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("memcached stats %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return nil, fmt.Errorf("memcached stats %s: %w", addr, err)
	}
	out := ServerStats{}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "END" {
			return out, nil
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "STAT" {
			return nil, fmt.Errorf("memcached stats %s: unexpected line %q", addr, line)
		}
		if v, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			out[f[1]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("memcached stats %s: %w", addr, err)
	}
	return nil, fmt.Errorf("memcached stats %s: connection closed before END", addr)
}
