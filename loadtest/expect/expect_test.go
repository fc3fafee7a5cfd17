package expect

import "testing"

func TestParseCmp(t *testing.T) {
	for _, tc := range []struct {
		in      string
		holds   []int
		fails   []int
		wantErr bool
	}{
		{in: "2", holds: []int{2}, fails: []int{1, 3}},
		{in: ">0", holds: []int{1, 9}, fails: []int{0}},
		{in: ">=1", holds: []int{1, 2}, fails: []int{0}},
		{in: "<=2", holds: []int{0, 2}, fails: []int{3}},
		{in: "<3", holds: []int{2}, fails: []int{3}},
		{in: "== 4", holds: []int{4}, fails: []int{5}},
		{in: "any", holds: []int{0, 1 << 30}},
		{in: "70..90", holds: []int{70, 80, 90}, fails: []int{69, 91}},
		{in: " 3 .. 3", holds: []int{3}, fails: []int{2, 4}},
		{in: "9..8", wantErr: true},
		{in: "..8", wantErr: true},
		{in: "1..", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "<0", wantErr: true}, // can never hold
		{in: "=>1", wantErr: true},
		{in: "", wantErr: true},
	} {
		c, err := ParseCmp(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseCmp(%q) error = %v", tc.in, err)
			continue
		}
		for _, n := range tc.holds {
			if !c.Holds(n) {
				t.Errorf("%q should hold for %d", tc.in, n)
			}
		}
		for _, n := range tc.fails {
			if c.Holds(n) {
				t.Errorf("%q should not hold for %d", tc.in, n)
			}
		}
	}
}
