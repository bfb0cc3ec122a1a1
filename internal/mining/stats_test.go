package mining

import "testing"

func TestRecorderAccumulates(t *testing.T) {
	var r Recorder
	r.Record([]Result{
		{Negatives: []Negative{{Score: 0.25}, {Score: 0.5}}, PositiveScore: 0.9, HasPositiveScore: true, Examined: 10, Removed: RuleCounts{Positive: 1, Margin: 2}},
		{Shortfall: 2, Widenings: 1, ExactScan: true, Removed: RuleCounts{Margin: 1}},
	})
	s := r.Snapshot()
	if s.Requests != 1 || s.Anchors != 2 || s.Negatives != 2 || s.Examined != 10 || s.Shortfalls != 1 || s.ShortNegatives != 2 || s.Widenings != 1 || s.ExactScans != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if s.Removed.Margin != 3 || s.Removed.Positive != 1 {
		t.Errorf("removed = %+v", s.Removed)
	}
	h := s.NegativeScores
	if h.Count != 2 || h.Sum != 0.75 {
		t.Errorf("negative histogram = %+v", h)
	}
	// 0.25 falls under bound 0.3 (index 6); 0.5 under bound 0.5 (index 8).
	if h.Counts[5] != 0 || h.Counts[6] != 1 || h.Counts[7] != 1 || h.Counts[8] != 2 {
		t.Errorf("cumulative counts = %v", h.Counts)
	}
	if s.PositiveScores.Count != 1 {
		t.Errorf("positive histogram = %+v", s.PositiveScores)
	}
}
