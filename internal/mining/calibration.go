package mining

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// CalibrationQuantiles are the probabilities at which a ScoreSummary reports quantiles.
var CalibrationQuantiles = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99}

const (
	// calibrationSample is the size of the uniform sample each score stream keeps for
	// its quantiles (reservoir sampling): the quantile error at 4,096 samples is about
	// ±0.8 percentile points (one standard error at the median).
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
	// Count is the number of observations; Mean and Std are over all of them.
	Count     uint64
	Mean, Std float64
	// Quantiles holds the scores at CalibrationQuantiles, estimated from a uniform
	// sample of at most 4,096 observations; nil when there is none.
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
	mu                   sync.Mutex
	rng                  *rand.Rand
	pos, cand, posSim    scoreStream
	samplesForThresholds []float32 // scratch, reused under mu
}

// NewCalibration returns an empty Calibration.
func NewCalibration() *Calibration {
	return &Calibration{rng: rand.New(rand.NewPCG(0x6361, 0x6c69))}
}

// scoreStream keeps the moments of a stream and a uniform reservoir sample of it.
type scoreStream struct {
	n        uint64
	mean, m2 float64
	sample   []float32
}

func (s *scoreStream) add(rng *rand.Rand, v float32) {
	s.n++
	d := float64(v) - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (float64(v) - s.mean)
	if len(s.sample) < calibrationSample {
		s.sample = append(s.sample, v)
	} else if j := rng.Uint64N(s.n); j < calibrationSample {
		s.sample[j] = v
	}
}

func (s *scoreStream) summary() ScoreSummary {
	out := ScoreSummary{Count: s.n, Mean: s.mean}
	if s.n > 1 {
		out.Std = math.Sqrt(s.m2 / float64(s.n-1))
	}
	if len(s.sample) > 0 {
		sorted := slices.Clone(s.sample)
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
		c.pos.add(c.rng, obs.posScore)
	}
	for _, v := range obs.cand {
		c.cand.add(c.rng, v)
	}
	for _, v := range obs.posSim {
		c.posSim.add(c.rng, v)
	}
}

// duplicateThreshold resolves a calibrated near-duplicate threshold: the q-quantile of
// the positive similarities (quantile set) or mean + z·std (z set). ok is false when
// fewer than MinCalibrationSamples were observed.
func (c *Calibration) duplicateThreshold(q, z *float32) (t float32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.posSim
	if s.n < MinCalibrationSamples {
		return 0, false
	}
	if q != nil {
		c.samplesForThresholds = append(c.samplesForThresholds[:0], s.sample...)
		slices.Sort(c.samplesForThresholds)
		return quantile(c.samplesForThresholds, float64(*q)), true
	}
	std := 0.0
	if s.n > 1 {
		std = math.Sqrt(s.m2 / float64(s.n-1))
	}
	return float32(s.mean + float64(*z)*std), true
}

// anchorObservations are one anchor's contributions to a Calibration.
type anchorObservations struct {
	hasPos   bool
	posScore float32
	cand     []float32
	posSim   []float32
}
