package mining

import (
	"math"
	"slices"
	"sync"
)

// CalibrationQuantiles are the probabilities at which a ScoreSummary reports quantiles.
var CalibrationQuantiles = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99}

const (
	// calibrationSample is the number of most recent observations each score stream
	// keeps: its mean, standard deviation and quantiles describe them, so that the
	// statistics follow the model as it trains and its items are re-encoded (a stream
	// describes the new vectors once 4,096 scores of them were seen). The quantile error
	// at 4,096 samples is about ±0.8 percentile points (one standard error at the median).
	calibrationSample = 4096
	// calibrationPerAnchor bounds the candidate scores one anchor contributes, so that a
	// deep search does not dominate the sample.
	calibrationPerAnchor = 64
	// MinCalibrationSamples is the number of observations a calibrated threshold needs;
	// with fewer, the raw threshold (set or default) applies.
	MinCalibrationSamples = 256
)

// ScoreSummary describes one stream of scores.
type ScoreSummary struct {
	// Count and Sum are over every observation so far.
	Count uint64
	Sum   float64
	// Window is the number of recent observations (at most 4,096) that Mean, Std and
	// Quantiles (at CalibrationQuantiles; nil when there is none) describe.
	Window    int
	Mean, Std float64
	Quantiles []float32
}

// CalibrationStats are the score statistics of one collection's mining: what its model
// produces, so that thresholds can be read and set relative to them.
type CalibrationStats struct {
	// PositiveScores are s⁺, one per anchor with a known positive.
	PositiveScores ScoreSummary
	// CandidateScores are anchor–candidate scores s(a, c) of the candidates that reached
	// the score rules (at most 64 per anchor, hardest first).
	CandidateScores ScoreSummary
	// PositiveSimilarities are, for the same candidates of anchors with a positive, the
	// highest similarity to a known positive (what the near-duplicate rule compares).
	PositiveSimilarities ScoreSummary
}

// Calibration accumulates CalibrationStats for one collection. Safe for concurrent use;
// create it with NewCalibration.
type Calibration struct {
	// mu guards every field below.
	mu                sync.Mutex
	pos, cand, posSim scoreStream
}

// NewCalibration returns an empty Calibration.
func NewCalibration() *Calibration { return &Calibration{} }

// scoreStream keeps the count and sum of a stream and its most recent
// calibrationSample observations in a ring.
type scoreStream struct {
	n    uint64
	sum  float64
	ring []float32
	next int // where the next observation goes once the ring is full
}

func (s *scoreStream) add(v float32) {
	s.n++
	s.sum += float64(v)
	if len(s.ring) < calibrationSample {
		s.ring = append(s.ring, v)
		return
	}
	s.ring[s.next] = v
	s.next = (s.next + 1) % calibrationSample
}

// moments returns the mean and sample standard deviation of the ring.
func (s *scoreStream) moments() (mean, std float64) {
	if len(s.ring) == 0 {
		return 0, 0
	}
	for _, v := range s.ring {
		mean += float64(v)
	}
	mean /= float64(len(s.ring))
	if len(s.ring) > 1 {
		var ss float64
		for _, v := range s.ring {
			d := float64(v) - mean
			ss += d * d
		}
		std = math.Sqrt(ss / float64(len(s.ring)-1))
	}
	return mean, std
}

func (s *scoreStream) summary() ScoreSummary {
	out := ScoreSummary{Count: s.n, Sum: s.sum, Window: len(s.ring)}
	out.Mean, out.Std = s.moments()
	if len(s.ring) > 0 {
		sorted := slices.Clone(s.ring)
		slices.Sort(sorted)
		out.Quantiles = make([]float32, len(CalibrationQuantiles))
		for i, q := range CalibrationQuantiles {
			out.Quantiles[i] = quantile(sorted, q)
		}
	}
	return out
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []float32, q float64) float32 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Stats returns the statistics so far.
func (c *Calibration) Stats() CalibrationStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CalibrationStats{PositiveScores: c.pos.summary(), CandidateScores: c.cand.summary(), PositiveSimilarities: c.posSim.summary()}
}

// record adds one anchor's observations.
func (c *Calibration) record(obs *anchorObservations) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if obs.hasPos {
		c.pos.add(obs.posScore)
	}
	for _, v := range obs.cand {
		c.cand.add(v)
	}
	for _, v := range obs.posSim {
		c.posSim.add(v)
	}
}

// duplicateThreshold resolves a calibrated near-duplicate threshold from the recent
// positive similarities: their q-quantile (quantile set) or mean + z·std (z set). ok is
// false when fewer than MinCalibrationSamples are held.
func (c *Calibration) duplicateThreshold(q, z *float32) (t float32, ok bool) {
	c.mu.Lock()
	s := &c.posSim
	if len(s.ring) < MinCalibrationSamples {
		c.mu.Unlock()
		return 0, false
	}
	if q == nil {
		mean, std := s.moments()
		c.mu.Unlock()
		return float32(mean + float64(*z)*std), true
	}
	sorted := slices.Clone(s.ring)
	c.mu.Unlock()
	slices.Sort(sorted)
	return quantile(sorted, float64(*q)), true
}

// anchorObservations are one anchor's contributions to a Calibration.
type anchorObservations struct {
	hasPos   bool
	posScore float32
	cand     []float32
	posSim   []float32
}
