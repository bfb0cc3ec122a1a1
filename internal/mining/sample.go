package mining

import (
	"math"
	"math/rand/v2"
	"slices"
)

// newRand returns the sampler's generator for the anchor at position draw of a call
// (prepared.draw): PCG seeded with the policy's seed and that position, so that the
// same request on the same index draws the same negatives.
func newRand(seed, draw uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, draw))
}

// gumbel draws a standard Gumbel variate −log(−log u) with u uniform in (0, 1).
func gumbel(rng *rand.Rand) float64 {
	u := (float64(rng.Uint64()>>11) + 0.5) / (1 << 53)
	return -math.Log(-math.Log(u))
}

// sampleOrder returns the order in which the window's candidates (hardness order) are
// drawn, without replacement, under the policy's strategy. It uses the Gumbel-top-k
// trick: candidate i gets the key log wᵢ + Gᵢ with Gᵢ a Gumbel variate drawn in
// hardness order, and sorting by key (descending) is distributed exactly like drawing
// one candidate at a time with probability proportional to w among those left.
//
//	uniform:     log w = 0
//	softmax:     log w = s / τ
//	SimANS:      log w = −a·(s − s⁺ − b)²   (s⁺: the hardest window candidate's score
//	                                          when the anchor has no positive)
//	top1+sampled: the hardest first, then the others uniformly
func sampleOrder(p *Policy, draw uint64, window []candidate, posScore float32, hasPos bool) []int {
	if len(window) == 0 {
		return nil
	}
	rng := newRand(p.Seed, draw)
	first := 0
	if p.Sampling == SampleTop1Sampled {
		first = 1
	}
	center := float64(posScore)
	if !hasPos {
		center = float64(window[0].Score)
	}
	center += float64(p.SimANSB)
	keys := make([]float64, len(window))
	for i := first; i < len(window); i++ {
		s := float64(window[i].Score)
		var logw float64
		switch p.Sampling {
		case SampleSoftmax:
			logw = s / float64(p.Temperature)
		case SampleSimANS:
			d := s - center
			logw = -float64(p.SimANSA) * d * d
		}
		keys[i] = logw + gumbel(rng)
	}
	order := make([]int, 0, len(window))
	if first == 1 {
		order = append(order, 0)
	}
	rest := make([]int, 0, len(window)-first)
	for i := first; i < len(window); i++ {
		rest = append(rest, i)
	}
	slices.SortStableFunc(rest, func(x, y int) int {
		switch {
		case keys[x] > keys[y]:
			return -1
		case keys[x] < keys[y]:
			return 1
		}
		return 0
	})
	return append(order, rest...)
}
