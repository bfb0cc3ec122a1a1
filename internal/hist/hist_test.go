package hist

import (
	"slices"
	"testing"
)

func TestSnapshotIsCumulative(t *testing.T) {
	h := New([]float64{1, 2, 4})
	for _, v := range []float64{0.5, 1, 1.5, 3, 9} {
		h.Observe(v)
	}
	s := h.Snapshot()
	if !slices.Equal(s.Counts, []uint64{2, 3, 4}) || s.Count != 5 || s.Sum != 15 {
		t.Fatalf("snapshot = %+v", s)
	}
}
