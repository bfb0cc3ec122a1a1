package mining

import "github.com/hardneg/hardneg/internal/engine"

// Score scale. The cosine defaults — the near-duplicate threshold
// (DefaultCosineDuplicateThreshold) and the p_fn coefficients — were fitted on
// collections whose unrelated items score about 0.0–0.2 against each other
// (all-MiniLM-L6-v2, all-mpnet-base-v2 and WordLlama on the evaluation sets: a
// background similarity of 0.006–0.215). Many models give every pair of texts a high
// cosine — their vectors share a strong common direction (the E5 and GTE families, for
// instance, score unrelated texts at 0.7 or more) — and on their scores a fixed 0.80
// removes most hard candidates: with the evaluation sets' vectors lifted to a background
// of 0.9, the empty policy returned nothing for any anchor (eval/scale.py).
//
// So where a collection's background similarity b (the mean cosine of two of its items,
// reported by the searcher) is above BackgroundReference, the defaults read its scores
// on the reference scale: a score s counts as
//
//	s' = r + (s − b)·(1 − r)/(1 − b),  r = BackgroundReference,
//
// which maps the collection's background to r and keeps 1 at 1. The default
// near-duplicate threshold becomes the raw score that maps to it, and p_fn is computed
// from mapped scores (sim⁺ mapped, s − s⁺ scaled by the same factor). At or below r
// nothing changes. Thresholds a policy sets (raw, quantile or z-score) are used as
// given.

// BackgroundReference is the background similarity above which the cosine defaults are
// read on the collection's own scale (scoreScale): above the highest background of the
// collections they were fitted and checked on (0.215).
const BackgroundReference = 0.25

// maxBackground bounds the background used for the mapping: a collection whose items
// all point one way (b → 1) would otherwise stretch every difference without bound.
const maxBackground = 0.99

// backgroundMeasurer is implemented by searchers that can tell the background
// similarity of their items (index.Collection.Background): the mean similarity of two
// items, with ok false while it is not known (too few items, or a metric without a
// fixed scale).
type backgroundMeasurer interface {
	Background() (b float64, ok bool)
}

// scoreScale maps a collection's cosine scores to the reference scale; the zero value
// (and any background at or below the reference) is the identity.
type scoreScale struct {
	b float64 // the collection's background, when above BackgroundReference
	k float64 // (1 − r)/(1 − b); 0 for the identity
}

// newScoreScale returns the mapping for a collection with background similarity b.
func newScoreScale(b float64) scoreScale {
	if !(b > BackgroundReference) {
		return scoreScale{}
	}
	b = min(b, maxBackground)
	return scoreScale{b: b, k: (1 - BackgroundReference) / (1 - b)}
}

func (sc scoreScale) identity() bool { return sc.k == 0 }

// score maps a raw score to the reference scale.
func (sc scoreScale) score(s float32) float32 {
	if sc.identity() {
		return s
	}
	return float32(BackgroundReference + (float64(s)-sc.b)*sc.k)
}

// diff maps a difference of two raw scores.
func (sc scoreScale) diff(d float32) float32 {
	if sc.identity() {
		return d
	}
	return float32(float64(d) * sc.k)
}

// raw returns the raw score that maps to t on the reference scale (the inverse of
// score), rounded to the nearest float32.
func (sc scoreScale) raw(t float32) float32 {
	if sc.identity() {
		return t
	}
	return float32(sc.b + (float64(t)-BackgroundReference)/sc.k)
}

// pfn is p_fn of a candidate (falseNegativeProbability) with its scores read on the
// reference scale.
func (sc scoreScale) pfn(posSim, s, sPlus float32) float32 {
	if sc.identity() {
		return falseNegativeProbability(posSim, s, sPlus)
	}
	return falseNegativeProbability(sc.score(posSim), sc.diff(s-sPlus), 0)
}

// BackgroundOf returns s's background similarity when s measures one (a cosine
// collection with enough items).
func BackgroundOf(s Searcher) (float64, bool) {
	if bm, ok := s.(backgroundMeasurer); ok {
		return bm.Background()
	}
	return 0, false
}

// DefaultDuplicateThreshold returns the near-duplicate threshold an empty policy applies
// to a collection of metric m whose background similarity is b (ok: measured, as
// BackgroundOf returns it): DefaultCosineDuplicateThreshold read on that scale, under
// cosine only. It takes the background rather than the collection, so that a caller
// reporting both reports one estimate.
func DefaultDuplicateThreshold(m engine.Metric, b float64, ok bool) (float32, bool) {
	pol := DefaultPolicy()
	return scaledDuplicateThreshold(&pol, m, scaleFor(m, b, ok))
}

// scaleFor is the mapping of a collection of metric m with background b (ok: measured)
// to the reference scale: the identity unless m is cosine and b is above
// BackgroundReference.
func scaleFor(m engine.Metric, b float64, ok bool) scoreScale {
	if m != engine.Cosine || !ok {
		return scoreScale{}
	}
	return newScoreScale(b)
}
