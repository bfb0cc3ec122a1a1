package mining

import (
	"math"
	"strconv"

	"github.com/hardneg/hardneg/internal/engine"
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
	// DefaultCosineDuplicateThreshold is the near-duplicate threshold used under cosine
	// when a policy sets none: candidates whose cosine to a known positive (or to an
	// excluded item) is ≥ 0.80 are dropped: 0.80 on the collection's scale where its
	// background similarity is above BackgroundReference (scale.go).
	DefaultCosineDuplicateThreshold = 0.80
	// DefaultCosinePFNThreshold and DefaultCosinePFNBudget are the false-negative budget
	// rule used under cosine when a policy sets neither: of each anchor's first k +
	// DefaultCosinePFNBudget(k) candidates that pass every other rule, the
	// DefaultCosinePFNBudget(k) with the highest p_fn ≥ DefaultCosinePFNThreshold are
	// dropped. Chosen leave-one-set-out on the four evaluation sets at k = 8
	// (eval/FINDINGS.md, "A label-free default"; the budget then took the first flagged
	// candidates): with the 0.80 near-duplicate threshold it met the false-negative,
	// hardness and shortfall targets on two held-out sets of four, against none for the
	// former default cos ≥ min(0.80, s⁺). Taking the likeliest instead of the first
	// (eval/budget_order.py, docs/MINING.md rule 11b) met them on more sets of ten with
	// each of three models.
	DefaultCosinePFNThreshold = 0.01
	// MaxPFNBudget bounds PFNBudget.
	MaxPFNBudget = MaxNumNegatives
	// DefaultMaxRank is the smallest default hardness floor: unless a policy sets
	// MaxRank, no negative comes from a raw rank at or beyond max(DefaultMaxRank, 2·end)
	// with end the rank window's end (the depth of ANCE's and Tevatron's pools, 100–200,
	// and of FlagEmbedding's default range 10–210).
	DefaultMaxRank = 200
	// NoMaxRank (or any larger MaxRank) turns the hardness floor off.
	NoMaxRank = math.MaxUint32
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
	// NearDuplicates turns the near-duplicate rule on: candidates whose similarity to a
	// known positive, or to an item excluded for the anchor (exclude ids, reported false
	// negatives), is ≥ the duplicate threshold are dropped. Default true.
	NearDuplicates bool
	// DuplicateThreshold is the near-duplicate rule's threshold; nil means the metric's
	// default (see EffectiveDuplicateThreshold).
	DuplicateThreshold *float32
	// DuplicateQuantile and DuplicateZScore set the threshold relative to the
	// collection's calibration (Request.Calibration): the q-quantile of the observed
	// positive similarities, or their mean + z·std. At most one may be set; until the
	// calibration holds MinCalibrationSamples observations, the raw threshold applies.
	DuplicateQuantile, DuplicateZScore *float32
	// DuplicateMargin δ sets a per-anchor near-duplicate threshold s⁺ + δ: a candidate at
	// least as similar to a known positive as the anchor is (plus δ) is dropped. With a
	// duplicate threshold as well, the lower of the two applies to the positives. nil:
	// off; needs s⁺.
	DuplicateMargin *float32
	// PFNThreshold and PFNBudget are the false-negative budget rule: of the first k +
	// PFNBudget candidates (k: the anchor's negatives) that pass every other rule and reach
	// the rank window's start, the PFNBudget with the highest p_fn (pfn.go) ≥ PFNThreshold
	// are dropped, the better ranked first among equals; later ones are kept whatever
	// their p_fn, so the rule costs at most PFNBudget ranks of hardness. Needs a known positive. nil:
	// DefaultCosinePFNThreshold and DefaultCosinePFNBudget(NumNegatives) under cosine
	// while NearDuplicates is on, off under dot and L2 (see EffectivePFNBudget). A budget of 0
	// turns the rule off.
	PFNThreshold *float32
	PFNBudget    *int
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
	// Ef is the first pass's candidate list size; 0: derived from the rank window and
	// the collection's default (see anchorMiner.firstPass).
	Ef int
	// MaxRank is the hardness floor: no candidate at raw rank ≥ MaxRank is taken, and
	// an anchor whose search reaches it reports FloorReached (and a shortfall) instead
	// of going deeper. 0 means the default (see EffectiveMaxRank); NoMaxRank or more
	// turns it off.
	MaxRank int
	// GuideMargin and GuideDuplicateThreshold are GISTEmbed-style rules evaluated in a
	// guide vector space (Request.Guide: a collection holding the same item ids encoded
	// by another, usually stronger and frozen, model), while hardness stays measured in
	// the training space. GuideMargin m drops c when guide(a, c) ≥ guide(a, p) − m for the
	// anchor's hardest guide positive (GISTEmbed's absolute margin strategy, m = 0 there
	// by default); GuideDuplicateThreshold t drops c when guide(c, p) ≥ t for a guide
	// positive. nil: off.
	GuideMargin, GuideDuplicateThreshold *float32
	// GuideCollection names the guide collection; the server resolves it into
	// Request.Guide.
	GuideCollection string
	// MinVersion and MaxStaleness are the freshness rule: a candidate is stale when its
	// version is below MinVersion, or more than MaxStaleness below the collection's
	// newest item version when the request starts (with both, the higher bound
	// applies). StaleRule says whether stale candidates are skipped or kept and
	// re-scored. nil: off.
	MinVersion, MaxStaleness *int64
	// StaleRule is what the freshness rule does with stale candidates; default skip.
	StaleRule StaleRule
	// Rotate turns on rotation per anchor key (Anchor.Key, else ID): a negative served
	// to a key is not served to it again until its cycle is exhausted (see
	// Exposure). Needs Request.Exposure and a key per anchor.
	Rotate bool
	// MaxExposures caps how often one item is served as a negative within the
	// collection's exposure window; 0 turns the cap off. Needs Request.Exposure.
	MaxExposures int
	// Synthetic asks for MoCHi-style synthetic negatives (synthetic.go); zero: none.
	Synthetic Synthetic
	// ClosedLoop shifts each anchor's rank window by its closed-loop hardness
	// (hardness.go, Request.Hardness): down by round((1 − h)·ClosedLoopDepth) ranks.
	// ClosedLoopDepth 0 means 10·k. Needs Request.Hardness and a key per anchor. A moved
	// window that ends short of k moves back up by as few ranks as fill it
	// (anchorMiner.fillShifted).
	ClosedLoop      bool
	ClosedLoopDepth int
}

// guideOn reports whether a guide rule is set.
func (p *Policy) guideOn() bool { return p.GuideMargin != nil || p.GuideDuplicateThreshold != nil }

// UsesGuide reports whether a guide rule is set, so that Mine looks up
// Request.Guide.
func (p *Policy) UsesGuide() bool { return p.guideOn() }

// DefaultPolicy returns the policy used for unset fields of a request.
func DefaultPolicy() Policy {
	return Policy{
		NumNegatives:     1,
		ExcludeSameGroup: true,
		NearDuplicates:   true,
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

// EffectiveDuplicateThreshold returns the near-duplicate threshold under metric m and
// whether the rule is on: DuplicateThreshold when set, else
// DefaultCosineDuplicateThreshold under cosine. Dot and L2 scores have no fixed scale,
// so under them the rule is on only with an explicit threshold.
func (p *Policy) EffectiveDuplicateThreshold(m engine.Metric) (float32, bool) {
	switch {
	case !p.NearDuplicates:
		return 0, false
	case p.DuplicateThreshold != nil:
		return *p.DuplicateThreshold, true
	case m == engine.Cosine:
		return DefaultCosineDuplicateThreshold, true
	}
	return 0, false
}

// EffectiveDuplicateMargin returns the relative near-duplicate margin and whether it is
// on: DuplicateMargin when set and the near-duplicate rule is on.
func (p *Policy) EffectiveDuplicateMargin() (float32, bool) {
	if !p.NearDuplicates || p.DuplicateMargin == nil {
		return 0, false
	}
	return *p.DuplicateMargin, true
}

// DefaultCosinePFNBudget is the false-negative budget for k negatives per anchor when a
// policy sets none: half of k, rounded up (4 at k = 8, the k it was chosen at). The
// budget moves the returned negatives down by up to its size in ranks, while naive
// top-k's median rank is about k/2, so a budget of k/2 keeps the median rank within
// about 2× naive's at every k; a fixed 4 cost 3× at k = 3 and removed too few false
// negatives at k = 16 and 32 (docs/MINING.md rule 11b, eval/budgets.py).
func DefaultCosinePFNBudget(k int) int { return (max(k, 1) + 1) / 2 }

// EffectivePFNBudget returns the false-negative budget rule under metric m, its p_fn
// threshold and budget, and whether it is on: the policy's values where set, else under
// cosine with NearDuplicates on DefaultCosinePFNThreshold and
// DefaultCosinePFNBudget(NumNegatives). Off with a budget of 0, and under dot and L2
// unless both are set (the p_fn model is fitted on cosine scores).
func (p *Policy) EffectivePFNBudget(m engine.Metric) (threshold float32, budget int, on bool) {
	if p.PFNThreshold == nil && p.PFNBudget == nil && (m != engine.Cosine || !p.NearDuplicates) {
		return 0, 0, false
	}
	threshold, budget = DefaultCosinePFNThreshold, DefaultCosinePFNBudget(p.NumNegatives)
	if p.PFNThreshold != nil {
		threshold = *p.PFNThreshold
	}
	if p.PFNBudget != nil {
		budget = *p.PFNBudget
	}
	if m != engine.Cosine && (p.PFNThreshold == nil || p.PFNBudget == nil) {
		return 0, 0, false
	}
	return threshold, budget, budget > 0
}

// EffectiveMaxRank returns the hardness floor for a rank window ending at end: MaxRank
// when set, else max(DefaultMaxRank, 2·end); math.MaxInt when turned off.
func (p *Policy) EffectiveMaxRank(end int) int {
	switch {
	case p.MaxRank >= NoMaxRank:
		return math.MaxInt
	case p.MaxRank > 0:
		return p.MaxRank
	}
	return max(DefaultMaxRank, 2*end)
}

// scoreSlack widens the bounded ends of a metric's score range by float32 rounding:
// the cosine of a vector with itself can come out as 1.0000001.
const scoreSlack = 1e-3

// scoreRange returns the scores metric m can produce, widened by scoreSlack: [-1, 1]
// under cosine, (−∞, 0] under L2 (negated squared distance), any value under dot.
func scoreRange(m engine.Metric) (lo, hi float32) {
	inf := float32(math.Inf(1))
	switch m {
	case engine.Cosine:
		return -1 - scoreSlack, 1 + scoreSlack
	case engine.L2:
		return -inf, scoreSlack
	}
	return -inf, inf
}

// Validate checks the policy for a collection of metric m, as Mine does first, and
// returns a *validate.Error naming every bad field under "policy." (nil when valid).
// A server calls it to refuse a bad policy before any work that depends on its counts.
func (p *Policy) Validate(m engine.Metric) error {
	var e validate.Error
	p.validate(&e, "policy", m)
	return e.Err()
}

// validate checks the policy for a collection of metric m; field is its path in the
// request.
func (p *Policy) validate(e *validate.Error, field string, m engine.Metric) {
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
	// Thresholds compare with scores, so they must lie in the metric's score range; a
	// value outside it would silently keep or drop everything.
	lo, hi := scoreRange(m)
	for _, f := range []struct {
		name string
		v    *float32
	}{
		{"duplicate_threshold", p.DuplicateThreshold}, {"min_score", p.MinScore},
		{"max_score", p.MaxScore}, {"diversity_threshold", p.DiversityThreshold},
	} {
		if f.v != nil && finite(*f.v) && (*f.v < lo || *f.v > hi) {
			e.Add(field+"."+f.name, "%v is outside the %s score range %s", *f.v, m, rangeText(lo, hi))
		}
	}
	if p.AbsoluteMargin != nil && finite(*p.AbsoluteMargin) && *p.AbsoluteMargin > hi-lo {
		e.Add(field+".absolute_margin", "%v is wider than the %s score range %s", *p.AbsoluteMargin, m, rangeText(lo, hi))
	}
	if p.DuplicateMargin != nil && !finite(*p.DuplicateMargin) {
		e.Add(field+".duplicate_margin", "must be finite")
	} else if p.DuplicateMargin != nil && (*p.DuplicateMargin < lo-hi || *p.DuplicateMargin > hi-lo) {
		e.Add(field+".duplicate_margin", "%v is wider than the %s score range %s", *p.DuplicateMargin, m, rangeText(lo, hi))
	}
	if p.DuplicateQuantile != nil && !(*p.DuplicateQuantile >= 0 && *p.DuplicateQuantile <= 1) {
		e.Add(field+".duplicate_quantile", "must be in [0, 1]")
	}
	if p.DuplicateZScore != nil && !finite(*p.DuplicateZScore) {
		e.Add(field+".duplicate_zscore", "must be finite")
	}
	if p.DuplicateQuantile != nil && p.DuplicateZScore != nil {
		e.Add(field+".duplicate_zscore", "set duplicate_quantile or duplicate_zscore, not both")
	}
	for _, f := range []struct {
		name string
		v    *float32
	}{{"guide_margin", p.GuideMargin}, {"guide_duplicate_threshold", p.GuideDuplicateThreshold}} {
		if f.v != nil && !finite(*f.v) {
			e.Add(field+"."+f.name, "must be finite")
		}
	}
	if p.GuideMargin != nil && *p.GuideMargin < 0 {
		e.Add(field+".guide_margin", "must not be negative")
	}
	if p.PFNThreshold != nil && !(*p.PFNThreshold >= 0 && *p.PFNThreshold <= 1) {
		e.Add(field+".pfn_threshold", "must be in [0, 1]")
	}
	if p.PFNBudget != nil && (*p.PFNBudget < 0 || *p.PFNBudget > MaxPFNBudget) {
		e.Add(field+".pfn_budget", "must be 0–%d, got %d", MaxPFNBudget, *p.PFNBudget)
	}
	if p.MaxRank < 0 {
		e.Add(field+".max_rank", "must not be negative")
	} else if p.MaxRank > 0 && p.MaxRank < NoMaxRank && p.RangeMin >= p.MaxRank {
		// A negative's raw rank is at least its rank in the window: none could be returned.
		e.Add(field+".max_rank", "%d is not above range_min (%d): the hardness floor ends the search before the rank window starts", p.MaxRank, p.RangeMin)
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
	p.validateFreshness(e, field)
	if p.MaxExposures < 0 {
		e.Add(field+".max_exposures", "must not be negative")
	}
	p.Synthetic.validate(e, field+".synthetic", m)
	if p.ClosedLoopDepth < 0 || p.ClosedLoopDepth > MaxRange {
		e.Add(field+".closed_loop_depth", "must be 0–%d, got %d", MaxRange, p.ClosedLoopDepth)
	}
}

func rangeText(lo, hi float32) string {
	f := func(x float32) string {
		if math.IsInf(float64(x), 0) {
			if x < 0 {
				return "−∞"
			}
			return "∞"
		}
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + f(lo) + ", " + f(hi) + "]"
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
