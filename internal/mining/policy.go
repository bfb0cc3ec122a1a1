package mining

import (
	"math"

	"github.com/hardneg/hardneg/internal/validate"
)

// Limits of a request, shared with the API documentation.
const (
	MaxAnchors         = 1024
	MaxNumNegatives    = 1024
	MaxPositives       = 1024
	MaxExcludes        = 4096
	MaxAnchorGroups    = 256
	DefaultMaxExamined = 100000
	// MaxRange bounds range_min and range_max.
	MaxRange = 1 << 20
)

// Sampling chooses negatives among the candidates of the rank window.
type Sampling int

// Sampling strategies.
const (
	// SampleTop takes the k hardest.
	SampleTop Sampling = iota
	// SampleUniform samples uniformly without replacement.
	SampleUniform
	// SampleSoftmax samples with p ∝ exp(s/τ) without replacement.
	SampleSoftmax
	// SampleSimANS samples with p ∝ exp(−a·(s − s⁺ − b)²) without replacement.
	SampleSimANS
	// SampleTop1Sampled takes the hardest, then samples the rest uniformly.
	SampleTop1Sampled
)

// RankMode says what the rank window counts.
type RankMode int

// Rank modes.
const (
	// RankSurviving counts candidates that survived the other rules
	// (sentence-transformers' range_min/range_max).
	RankSurviving RankMode = iota
	// RankRaw counts raw search ranks (FlagEmbedding's range_for_sampling).
	RankRaw
)

// Policy holds every mining rule. Use DefaultPolicy and change what differs; nil
// pointer fields turn a rule off.
type Policy struct {
	// NumNegatives is k, the negatives to return per anchor (1–1024).
	NumNegatives int
	// ExcludeSameGroup drops candidates sharing a group with the anchor item, its
	// positives or the anchor's request groups.
	ExcludeSameGroup bool
	// DuplicateThreshold drops candidates whose similarity to any positive is ≥ it.
	DuplicateThreshold *float32
	// AbsoluteMargin keeps candidates with s < s⁺ − m.
	AbsoluteMargin *float32
	// RelativeMargin keeps candidates with s < s⁺ − |s⁺|·r.
	RelativeMargin *float32
	// MinScore and MaxScore bound s.
	MinScore, MaxScore *float32
	// RangeMin and RangeMax are the rank window [RangeMin, RangeMax); RangeMax 0 means
	// sentence-transformers' default (see EffectiveRangeMax).
	RangeMin, RangeMax int
	// RankMode says what the window counts.
	RankMode RankMode
	// InBatchExclusion keeps one anchor's id, positives and exclusions from being
	// another anchor's negatives in the same request.
	InBatchExclusion bool
	// UseFeedback excludes reported false negatives.
	UseFeedback bool
	// Sampling is the sampling strategy; Temperature, SimANSA and SimANSB its
	// parameters; Seed makes it reproducible.
	Sampling         Sampling
	Temperature      float32
	SimANSA, SimANSB float32
	Seed             uint64
	// DiversityThreshold: no two returned negatives more similar than it.
	DiversityThreshold *float32
	// Widen lets the search go wider (then exact) when fewer than k survive.
	Widen bool
	// MaxExamined bounds the candidates examined per anchor.
	MaxExamined int
	// Ef is the first pass's candidate list size; 0: the collection's default.
	Ef int
}

// DefaultPolicy returns the policy used for unset fields of a request.
func DefaultPolicy() Policy {
	return Policy{
		NumNegatives:     1,
		ExcludeSameGroup: true,
		InBatchExclusion: true,
		UseFeedback:      true,
		Sampling:         SampleTop,
		Temperature:      0.05,
		SimANSA:          0.5,
		Widen:            true,
		MaxExamined:      DefaultMaxExamined,
	}
}

// hasScoreFilter reports whether a filter is set that sentence-transformers widens its
// default window for: a margin or max_score (min_score does not count there).
func (p *Policy) hasScoreFilter() bool {
	return p.AbsoluteMargin != nil || p.RelativeMargin != nil || p.MaxScore != nil
}

// EffectiveRangeMax returns the end of the rank window for an anchor with numPositives
// positives (distinct positive ids plus positive vectors): RangeMax when set, else
// sentence-transformers' default, range_min + 10·k + numPositives with a margin or
// max_score filter, range_min + k + numPositives without.
func (p *Policy) EffectiveRangeMax(numPositives int) int {
	if p.RangeMax > 0 {
		return p.RangeMax
	}
	if p.hasScoreFilter() {
		return p.RangeMin + 10*p.NumNegatives + numPositives
	}
	return p.RangeMin + p.NumNegatives + numPositives
}

// validate checks the policy; field is its path in the request.
func (p *Policy) validate(e *validate.Error, field string) {
	if p.NumNegatives < 1 || p.NumNegatives > MaxNumNegatives {
		e.Add(field+".num_negatives", "must be 1–%d, got %d", MaxNumNegatives, p.NumNegatives)
	}
	if p.RangeMin < 0 || p.RangeMin > MaxRange {
		e.Add(field+".range_min", "must be 0–%d, got %d", MaxRange, p.RangeMin)
	}
	if p.RangeMax < 0 || p.RangeMax > MaxRange {
		e.Add(field+".range_max", "must be 0–%d, got %d", MaxRange, p.RangeMax)
	}
	if p.RangeMax > 0 && p.RangeMax <= p.RangeMin {
		e.Add(field+".range_max", "must be above range_min (%d), got %d", p.RangeMin, p.RangeMax)
	} else if p.RangeMax > 0 && p.NumNegatives > p.RangeMax-p.RangeMin {
		e.Add(field+".num_negatives", "%d negatives cannot come from the %d ranks of [range_min, range_max)", p.NumNegatives, p.RangeMax-p.RangeMin)
	}
	for _, f := range []struct {
		name string
		v    *float32
	}{
		{"duplicate_threshold", p.DuplicateThreshold}, {"absolute_margin", p.AbsoluteMargin},
		{"relative_margin", p.RelativeMargin}, {"min_score", p.MinScore}, {"max_score", p.MaxScore},
		{"diversity_threshold", p.DiversityThreshold},
	} {
		if f.v != nil && !finite(*f.v) {
			e.Add(field+"."+f.name, "must be finite")
		}
	}
	if p.MinScore != nil && p.MaxScore != nil && *p.MinScore > *p.MaxScore {
		e.Add(field+".min_score", "%v is above max_score %v", *p.MinScore, *p.MaxScore)
	}
	if p.AbsoluteMargin != nil && *p.AbsoluteMargin < 0 {
		e.Add(field+".absolute_margin", "must not be negative")
	}
	if p.RelativeMargin != nil && (*p.RelativeMargin < 0 || *p.RelativeMargin > 1) {
		e.Add(field+".relative_margin", "must be in [0, 1]")
	}
	if p.RankMode != RankSurviving && p.RankMode != RankRaw {
		e.Add(field+".rank_mode", "unknown rank mode %d", int(p.RankMode))
	}
	if p.Sampling < SampleTop || p.Sampling > SampleTop1Sampled {
		e.Add(field+".sampling", "unknown strategy %d", int(p.Sampling))
	}
	if p.Sampling == SampleSoftmax && !(p.Temperature > 0 && finite(p.Temperature)) {
		e.Add(field+".temperature", "must be positive for softmax sampling")
	}
	if p.Sampling == SampleSimANS {
		if !(p.SimANSA > 0 && finite(p.SimANSA)) {
			e.Add(field+".simans_a", "must be positive for SimANS sampling")
		}
		if !finite(p.SimANSB) {
			e.Add(field+".simans_b", "must be finite")
		}
	}
	if p.MaxExamined < 0 {
		e.Add(field+".max_candidates", "must not be negative")
	}
	if p.Ef < 0 || p.Ef > 65536 {
		e.Add(field+".ef_search", "must be 0–65536, got %d", p.Ef)
	}
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
