package emulator

import (
	"slices"
	"testing"
)

func TestRingQuery(t *testing.T) {
	r := newRing[int](10)
	for i := 1; i <= 25; i++ {
		r.add(i) // item i has sequence number i
	}
	even := func(v int) bool { return v%2 == 0 }
	for _, tc := range []struct {
		name     string
		since    uint64
		limit    int
		match    func(int) bool
		want     []int
		wantNext uint64
	}{
		{"everything kept", 0, 0, nil, []int{16, 17, 18, 19, 20, 21, 22, 23, 24, 25}, 26},
		{"first page", 0, 3, nil, []int{16, 17, 18}, 19},
		{"next page", 19, 3, nil, []int{19, 20, 21}, 22},
		{"last page", 22, 3, nil, []int{22, 23, 24}, 25},
		{"caught up", 26, 3, nil, nil, 26},
		{"beyond the newest", 90, 0, nil, nil, 26},
		{"from a dropped cursor", 5, 2, nil, []int{16, 17}, 18},
		{"filtered", 0, 0, even, []int{16, 18, 20, 22, 24}, 26},
		{"filtered page", 17, 2, even, []int{18, 20}, 21},
	} {
		got, next := r.query(tc.since, tc.limit, tc.match)
		if !slices.Equal(got, tc.want) || next != tc.wantNext {
			t.Errorf("%s: query(%d, %d) = %v next %d, want %v next %d", tc.name, tc.since, tc.limit, got, next, tc.want, tc.wantNext)
		}
	}
	if r.dropped != 15 || r.oldest() != 16 || len(r.buf) != 10 {
		t.Fatalf("dropped %d, oldest %d, kept %d", r.dropped, r.oldest(), len(r.buf))
	}
	empty := newRing[int](4)
	if got, next := empty.query(0, 0, nil); got != nil || next != 1 || empty.oldest() != 1 {
		t.Fatalf("empty ring: %v next %d oldest %d", got, next, empty.oldest())
	}
}
