package engine

// Background similarity: the mean cosine of two distinct items of a cosine collection,
// the scale mining reads its cosine defaults on (mining.BackgroundReference). Each engine
// chooses which items it reads (index.Collection.Background,
// weaviate.Collection.Background); the estimate from them is computed here.

const (
	// BackgroundSample bounds the items a background estimate reads: with 4,096 the
	// estimate's standard error is below 0.01 for any collection.
	BackgroundSample = 4096
	// BackgroundMinItems is the fewest items a background is estimated from.
	BackgroundMinItems = 64
)

// PairMean accumulates the unit vectors of a sample and gives the mean cosine of two
// distinct ones: with m the sum of n unit vectors, the mean over the n(n − 1) ordered
// pairs of distinct vectors is (‖m‖² − Σ‖v‖²) / (n(n − 1)).
type PairMean struct {
	sum []float64
	sq  float64 // Σ‖v‖², n for unit vectors up to rounding
	n   int
}

// NewPairMean returns an empty accumulator for dim-dimensional vectors.
func NewPairMean(dim int) *PairMean { return &PairMean{sum: make([]float64, dim)} }

// Add adds one vector of the sample.
func (p *PairMean) Add(v []float32) {
	for i, x := range v {
		f := float64(x)
		p.sum[i] += f
		p.sq += f * f
	}
	p.n++
}

// Len is the number of vectors added.
func (p *PairMean) Len() int { return p.n }

// Mean returns the mean cosine of two distinct vectors of the sample, clamped to
// [−1, 1]; ok is false below BackgroundMinItems vectors.
func (p *PairMean) Mean() (b float64, ok bool) {
	if p.n < BackgroundMinItems {
		return 0, false
	}
	var m2 float64
	for _, x := range p.sum {
		m2 += x * x
	}
	b = (m2 - p.sq) / (float64(p.n) * float64(p.n-1))
	return min(max(b, -1), 1), true
}
