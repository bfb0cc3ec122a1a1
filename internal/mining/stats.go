package mining

import (
	"sync"
)

// ScoreBounds are the upper bounds of the score histograms kept by a Recorder. Scores
// above the last bound fall in the implicit +Inf bucket.
var ScoreBounds = []float64{-1, -0.5, -0.25, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1}

// Histogram is a cumulative-count snapshot of a score histogram: Counts[i] is the
// number of observations ≤ Bounds[i]; Count and Sum cover all observations.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Stats are cumulative counters of everything mined since start.
type Stats struct {
	Requests  uint64
	Anchors   uint64
	Negatives uint64
	// Examined counts candidates the searches produced.
	Examined uint64
	// Removed counts candidates removed, per rule.
	Removed RuleCounts
	// Shortfalls counts anchors that got fewer than k negatives; ShortNegatives the
	// negatives they missed in total.
	Shortfalls, ShortNegatives uint64
	// Widenings counts search passes beyond the first; ExactScans anchors that ended in
	// an exact scan; ExactFallbacks those of them whose exact scan followed graph passes
	// (a graph collection searched in full, which widening keeps rare).
	Widenings, ExactScans, ExactFallbacks uint64
	// FloorsReached counts anchors whose search reached the hardness floor.
	FloorsReached uint64
	// PositiveScores and NegativeScores are histograms of s⁺ and of returned negatives'
	// scores.
	PositiveScores, NegativeScores Histogram
}

// Recorder accumulates Stats from results. Safe for concurrent use; the zero value is
// ready.
type Recorder struct {
	// mu guards every field below.
	mu    sync.Mutex
	stats Stats
	pos   hist
	neg   hist
}

type hist struct {
	buckets []uint64 // per bucket (not cumulative), len(ScoreBounds)+1
	count   uint64
	sum     float64
}

func (h *hist) observe(v float64) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(ScoreBounds)+1)
	}
	i := 0
	for i < len(ScoreBounds) && v > ScoreBounds[i] {
		i++
	}
	h.buckets[i]++
	h.count++
	h.sum += v
}

func (h *hist) snapshot() Histogram {
	out := Histogram{Bounds: ScoreBounds, Counts: make([]uint64, len(ScoreBounds)), Count: h.count, Sum: h.sum}
	var cum uint64
	for i := range ScoreBounds {
		if h.buckets != nil {
			cum += h.buckets[i]
		}
		out.Counts[i] = cum
	}
	return out
}

// Record adds the results of one request.
func (r *Recorder) Record(results []Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.stats
	s.Requests++
	for i := range results {
		res := &results[i]
		s.Anchors++
		s.Negatives += uint64(len(res.Negatives))
		s.Examined += uint64(res.Examined)
		s.Removed.add(&res.Removed)
		if res.Shortfall > 0 {
			s.Shortfalls++
			s.ShortNegatives += uint64(res.Shortfall)
		}
		s.Widenings += uint64(res.Widenings)
		if res.ExactScan {
			s.ExactScans++
		}
		if res.ExactFallback {
			s.ExactFallbacks++
		}
		if res.FloorReached {
			s.FloorsReached++
		}
		if res.HasPositiveScore {
			r.pos.observe(float64(res.PositiveScore))
		}
		for _, n := range res.Negatives {
			r.neg.observe(float64(n.Score))
		}
	}
}

// Snapshot returns the counters so far.
func (r *Recorder) Snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.PositiveScores = r.pos.snapshot()
	s.NegativeScores = r.neg.snapshot()
	return s
}

func (c *RuleCounts) add(o *RuleCounts) {
	c.Self += o.Self
	c.Positive += o.Positive
	c.Excluded += o.Excluded
	c.InBatch += o.InBatch
	c.Feedback += o.Feedback
	c.SameGroup += o.SameGroup
	c.Duplicate += o.Duplicate
	c.ExcludedDuplicate += o.ExcludedDuplicate
	c.Guide += o.Guide
	c.Margin += o.Margin
	c.ScoreBand += o.ScoreBand
	c.RankWindow += o.RankWindow
	c.Diversity += o.Diversity
	c.Stale += o.Stale
	c.Rotation += o.Rotation
	c.Exposure += o.Exposure
	c.LikelyFalseNegative += o.LikelyFalseNegative
}
