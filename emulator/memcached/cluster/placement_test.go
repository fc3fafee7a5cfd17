package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// The reference tables in testdata/placement were computed by the client
// libraries themselves (see the generators there and each table's header).
// A case gives its nodes as `config get cluster` lists them; the table's
// case line names them as the library does, which checks our node keys.

type placementCase struct {
	name  string
	nodes []Node
}

func readPlacementCases(t *testing.T) []placementCase {
	t.Helper()
	var cases []placementCase
	for _, line := range readLines(t, "cases.txt") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, list, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("cases.txt: bad line %q", line)
		}
		c := placementCase{name: name}
		for _, n := range strings.Fields(list) {
			f := strings.Split(n, "|")
			port, err := strconv.Atoi(f[2])
			if len(f) != 3 || err != nil {
				t.Fatalf("cases.txt: bad node %q", n)
			}
			c.nodes = append(c.nodes, Node{Host: f[0], IP: f[1], Port: port})
		}
		cases = append(cases, c)
	}
	return cases
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "placement", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// placementTable is a reference table: node names per case, and per key
// the index of the node the library picked in each case.
type placementTable struct {
	names map[string][]string
	order []string
	rows  [][]string // key, then one index per case
}

func readPlacementTable(t *testing.T, file string) placementTable {
	t.Helper()
	tab := placementTable{names: map[string][]string{}}
	for _, line := range readLines(t, file) {
		switch f := strings.Split(line, "\t"); {
		case strings.HasPrefix(line, "#"):
		case f[0] == "case" && len(f) == 3:
			tab.names[f[1]] = strings.Fields(f[2])
			tab.order = append(tab.order, f[1])
		default:
			if len(f) != len(tab.order)+1 {
				t.Fatalf("%s: row %q has %d columns, want %d", file, line, len(f), len(tab.order)+1)
			}
			tab.rows = append(tab.rows, f)
		}
	}
	if len(tab.rows) < 1000 {
		t.Fatalf("%s: %d keys, want at least 1000", file, len(tab.rows))
	}
	return tab
}

func TestPlacementMatchesReferenceTables(t *testing.T) {
	cases := readPlacementCases(t)
	for _, tc := range []struct {
		hashing Hashing
		file    string
		name    func(Node) string // the library's node key
	}{
		{HashingRendezvous, "rendezvous.tsv", Node.pyName}, // pymemcache 3.5.2
		{HashingKetamaMD5, "ketama-md5.tsv", Node.spyName}, // spymemcached 2.12.3
		{HashingKetama, "ketama-sha384.tsv", Node.spyName}, // AWS Cluster Client for Java 1.2.4
	} {
		t.Run(string(tc.hashing), func(t *testing.T) {
			tab := readPlacementTable(t, tc.file)
			if len(tab.order) != len(cases) {
				t.Fatalf("%s has %d cases, cases.txt %d", tc.file, len(tab.order), len(cases))
			}
			for ci, c := range cases {
				if tab.order[ci] != c.name {
					t.Fatalf("case %d: table has %q, cases.txt %q", ci, tab.order[ci], c.name)
				}
				for i, n := range c.nodes {
					if got, want := tc.name(n), tab.names[c.name][i]; got != want {
						t.Errorf("case %s node %d: our node key %q, the library's %q", c.name, i, got, want)
					}
				}
				sel, err := NewSelector(tc.hashing, c.nodes)
				if err != nil {
					t.Fatal(err)
				}
				bad := 0
				for _, row := range tab.rows {
					n, ok := sel.Pick(row[0])
					want, _ := strconv.Atoi(row[ci+1])
					if !ok || n != c.nodes[want] {
						if bad++; bad <= 5 {
							t.Errorf("case %s key %q: picked %v, the library %v", c.name, row[0], n, c.nodes[want])
						}
					}
				}
				if bad > 0 {
					t.Errorf("case %s: %d of %d keys placed unlike the library", c.name, bad, len(tab.rows))
				}
			}
		})
	}
}

// TestModuloIsGomemcache compares modulo with gomemcache's ServerList
// itself, keys longer than its 256-byte hash buffer included.
func TestModuloIsGomemcache(t *testing.T) {
	keys := readLines(t, "keys.txt")
	keys = append(keys, strings.Repeat("x", 300), strings.Repeat("x", 256)+"y")
	for _, c := range readPlacementCases(t) {
		var ref memcache.ServerList
		addrs := make([]string, len(c.nodes))
		for i, n := range c.nodes {
			addrs[i] = n.Addr()
		}
		if err := ref.SetServers(addrs...); err != nil {
			t.Fatal(err)
		}
		sel, err := NewSelector(HashingModulo, c.nodes)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			want, _ := ref.PickServer(k)
			got, err := sel.PickServer(k)
			if err != nil || got.String() != want.String() {
				t.Fatalf("case %s key %q: picked %v (%v), gomemcache %v", c.name, k, got, err, want)
			}
		}
	}
}

func TestMurmur3(t *testing.T) {
	// Values from pymemcache.client.murmur3.murmur3_32 (3.5.2).
	for _, tc := range []struct {
		a, b string
		want uint32
	}{
		{"", "", 0},
		{"a", "", 0x3c2569b2},
		{"a", "b", 0x9bbfd75f},
		{"ab", "c", 0xb3dd93fa},
		{"", "abcd", 0x43ed676a},
		{"hel", "lo", 0x248bfa47},
		{"The quick brown fox ", "jumps over the lazy dog", 0x2e4ff723},
		{"10.0.0.1:11211-", "uploads/x", 0x3f2e4e8f},
	} {
		if got := murmur3Strings(tc.a, tc.b); got != tc.want {
			t.Errorf("murmur3(%q) = %#x, want %#x", tc.a+tc.b, got, tc.want)
		}
	}
}

func TestSelectorNodes(t *testing.T) {
	three := []Node{{IP: "10.0.0.1", Port: 11211}, {IP: "10.0.0.2", Port: 11211}, {IP: "10.0.0.3", Port: 11211}}
	for _, h := range Hashings() {
		t.Run(string(h), func(t *testing.T) {
			sel, err := NewSelector(h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sel.PickServer("k"); !errors.Is(err, memcache.ErrNoServers) {
				t.Fatalf("no nodes: err %v, want ErrNoServers", err)
			}
			if err := sel.SetNodes(three); err != nil {
				t.Fatal(err)
			}
			// A bad list is refused whole and the old one stays.
			if err := sel.SetNodes([]Node{{IP: "10.0.0.9", Port: 0}}); err == nil {
				t.Fatal("port 0 accepted")
			}
			if got := len(sel.Nodes()); got != 3 {
				t.Fatalf("after a refused list: %d nodes, want 3", got)
			}
			var seen []string
			_ = sel.Each(func(a net.Addr) error { seen = append(seen, a.String()); return nil })
			if want := "10.0.0.1:11211 10.0.0.2:11211 10.0.0.3:11211"; strings.Join(seen, " ") != want {
				t.Fatalf("Each: %v, want %s", seen, want)
			}
		})
	}
	if _, err := NewSelector("crc", nil); err == nil {
		t.Fatal("unknown hashing accepted")
	}
}

// TestScaleOutMovesKeys measures what a 4th node does to the keys of
// keys.txt placed on 3: the share that moves is the share of live tokens a
// scale-out loses. README.md quotes these figures.
func TestScaleOutMovesKeys(t *testing.T) {
	cases := readPlacementCases(t)
	var three, four []Node
	for _, c := range cases {
		switch c.name {
		case "three":
			three = c.nodes
		case "four":
			four = c.nodes
		}
	}
	keys := readLines(t, "keys.txt")[:1000] // the issuer's keys
	for _, tc := range []struct {
		h        Hashing
		min, max float64
	}{
		{HashingModulo, 0.70, 0.80}, // 3/4: crc mod 3 and mod 4 agree for 3 of 12 residues
		{HashingKetama, 0.15, 0.35},
		{HashingKetamaMD5, 0.15, 0.35},
		{HashingRendezvous, 0.20, 0.30}, // 1/4 exactly in expectation
	} {
		before, _ := NewSelector(tc.h, three)
		after, _ := NewSelector(tc.h, four)
		moved := 0
		for _, k := range keys {
			a, _ := before.Pick(k)
			b, _ := after.Pick(k)
			if a != b {
				moved++
				if tc.h != HashingModulo && b != four[3] {
					t.Errorf("%s: key %q moved from %v to %v, not to the new node", tc.h, k, a, b)
				}
			}
		}
		frac := float64(moved) / float64(len(keys))
		t.Logf("%s: 3 -> 4 nodes moves %d of %d keys (%.3f)", tc.h, moved, len(keys), frac)
		if frac < tc.min || frac > tc.max {
			t.Errorf("%s: moved fraction %.3f, want %.2f..%.2f", tc.h, frac, tc.min, tc.max)
		}
	}
}

func ExampleSelector() {
	nodes := []Node{{IP: "10.0.0.1", Port: 11211}, {IP: "10.0.0.2", Port: 11211}, {IP: "10.0.0.3", Port: 11211}}
	for _, h := range []Hashing{HashingModulo, HashingKetama, HashingRendezvous} {
		sel, _ := NewSelector(h, nodes)
		n, _ := sel.Pick("uploads/UploadFilename-20210914_092318-lXTTIQ")
		fmt.Println(h, n)
	}
	// Output:
	// modulo 10.0.0.2:11211
	// ketama 10.0.0.3:11211
	// rendezvous 10.0.0.1:11211
}

// TestScaleOutSpread measures, over 300 runs of random loopback ports
// and 400 random issuer keys each, how many keys a 4th node takes from 3:
// the spread the scale-out scenarios' tolerances must cover (their nodes
// listen on random ports, their keys are random). Seeded: the figures are
// the same on every machine.
func TestScaleOutSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 4))
	for _, tc := range []struct {
		h      Hashing
		lo, hi int // the scenario's pinned range
	}{
		{HashingModulo, 260, 340},
		{HashingKetama, 55, 150},
		{HashingRendezvous, 55, 150},
	} {
		var lost []int
		for len(lost) < 300 {
			ports := map[int]bool{}
			var nodes []Node
			for len(nodes) < 4 {
				p := 32768 + rng.IntN(28232) // Linux's ephemeral ports
				if !ports[p] {
					ports[p] = true
					nodes = append(nodes, Node{IP: "127.0.0.1", Port: p})
				}
			}
			before, _ := NewSelector(tc.h, nodes[:3])
			after, _ := NewSelector(tc.h, nodes)
			n := 0
			for range 400 {
				k := fmt.Sprintf("uploads/UploadFilename-2026%02d%02d_%06d-%06x", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(240000), rng.IntN(1<<24))
				a, _ := before.Pick(k)
				b, _ := after.Pick(k)
				if a != b {
					n++
				}
			}
			lost = append(lost, n)
		}
		slices.Sort(lost)
		t.Logf("%s: of 400 keys a 4th node takes min %d, median %d, max %d in 300 runs", tc.h, lost[0], lost[150], lost[299])
		if lost[0] < tc.lo || lost[299] > tc.hi {
			t.Errorf("%s: %d..%d is not inside the scenarios' %d..%d", tc.h, lost[0], lost[299], tc.lo, tc.hi)
		}
	}
}

// TestMixedPlacementMisses measures, on the reference keys and the 3 nodes
// of case "three", how often two placements put a key on different nodes:
// the share of tokens a verifier never finds when the issuer places keys
// the other way. README.md quotes the matrix.
func TestMixedPlacementMisses(t *testing.T) {
	var three []Node
	for _, c := range readPlacementCases(t) {
		if c.name == "three" {
			three = c.nodes
		}
	}
	keys := readLines(t, "keys.txt")[:1000]
	hs := Hashings()
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			sa, _ := NewSelector(a, three)
			sb, _ := NewSelector(b, three)
			miss := 0
			for _, k := range keys {
				x, _ := sa.Pick(k)
				y, _ := sb.Pick(k)
				if x != y {
					miss++
				}
			}
			t.Logf("issuer %s, verifier %s: %d of %d keys on another node (%.3f)", a, b, miss, len(keys), float64(miss)/1000)
			if miss < 600 || miss > 740 { // 2/3 if independent
				t.Errorf("%s vs %s: %d of 1000 differ, want about 2/3", a, b, miss)
			}
		}
	}
}
