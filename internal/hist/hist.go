// Package hist keeps fixed-bucket histograms for the statistics snapshots that domain
// packages expose (fsync and snapshot durations); the metrics package turns their
// snapshots into Prometheus histograms at scrape time.
package hist

// DurationBounds are bucket bounds in seconds for I/O durations, 100 µs to 10 min: an
// fsync takes milliseconds, a snapshot of a collection of millions of items minutes.
var DurationBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Histogram counts observations per bucket. It is not synchronised: its owner guards
// it with the lock that guards the rest of its statistics. The zero value is not
// usable; call New.
type Histogram struct {
	bounds  []float64
	buckets []uint64 // per bucket, len(bounds)+1 (the last is +Inf)
	count   uint64
	sum     float64
}

// New returns an empty histogram with the given ascending upper bounds.
func New(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, buckets: make([]uint64, len(bounds)+1)}
}

// Observe adds one value.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.buckets[i]++
	h.count++
	h.sum += v
}

// Snapshot is a cumulative copy: Counts[i] observations were ≤ Bounds[i]; Count and
// Sum cover all observations, including those above the last bound.
type Snapshot struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Snapshot returns a cumulative copy of h.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)), Count: h.count, Sum: h.sum}
	var cum uint64
	for i := range h.bounds {
		cum += h.buckets[i]
		s.Counts[i] = cum
	}
	return s
}
