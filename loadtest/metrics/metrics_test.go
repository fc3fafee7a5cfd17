package metrics

import (
	"math"
	"testing"
	"time"
)

// TestHistogramPercentiles: 1..1000 ms uniformly; HDR keeps 3 digits.
func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, 500}, {"p90", s.P90, 900}, {"p99", s.P99, 990}, {"p999", s.P999, 999}, {"max", s.Max, 1000},
	} {
		if math.Abs(tc.got-tc.want)/tc.want > 0.001 {
			t.Errorf("%s = %v ms, want %v ±0.1%%", tc.name, tc.got, tc.want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count %d", s.Count)
	}
	if (NewHistogram().Summary() != Summary{}) {
		t.Error("empty histogram has values")
	}
}
