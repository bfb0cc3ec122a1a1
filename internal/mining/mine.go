package mining

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
)

// Anchor is one query of a request.
type Anchor struct {
	// ID of the anchor item in the collection, if any. Never returned; its stored
	// vector is the query when Vector is nil, and its groups count for group exclusion.
	ID string
	// Vector is a raw query vector (not yet prepared), or nil.
	Vector []float32
	// Key identifies the anchor for feedback; defaults to ID.
	Key string
	// PositiveIDs are known positives in the collection. Never returned; those found in
	// the collection give s⁺, their groups and the near-duplicate rule.
	PositiveIDs []string
	// PositiveVectors are positives given as raw vectors; they count for s⁺ and for the
	// near-duplicate rule.
	PositiveVectors [][]float32
	// ExcludeIDs are never returned for this anchor.
	ExcludeIDs []string
	// Groups are extra groups of the anchor.
	Groups []string
	// GuideVector is the anchor's query in the guide space (raw), or nil: then the
	// anchor item's vector in the guide collection, if any, is used.
	GuideVector []float32
	// GuidePositiveVectors are positives in the guide space (raw), besides the guide
	// vectors of the positive ids found in the guide collection.
	GuidePositiveVectors [][]float32
}

// FeedbackKey is the key the anchor's feedback and rotation are kept under: Key, else
// ID ("" when it has neither).
func (a *Anchor) FeedbackKey() string {
	if a.Key != "" {
		return a.Key
	}
	return a.ID
}

// Request is a batch of anchors mined under one policy.
type Request struct {
	Anchors        []Anchor
	Policy         Policy
	IncludeVectors bool
	// Explain, when above 0, lists up to that many candidates per anchor with their
	// fate (Result.Explained): at most MaxExplain, and anchors × Explain at most
	// MaxExplainTotal. It costs one entry per candidate judged, up to the limit.
	Explain int
	// Calibration, when set, is the collection's: Mine records the scores it sees into
	// it and resolves calibrated thresholds (Policy.DuplicateQuantile, DuplicateZScore)
	// from it.
	Calibration *Calibration
	// Guide is the guide collection for the guide rules (Policy.GuideMargin,
	// GuideDuplicateThreshold): the same item ids, encoded by the guide model. It must
	// not be the searched collection; its lock is taken while the searched collection's
	// is held, never the other way round.
	Guide Searcher
	// Exposure, when set, is the collection's exposure tracker: Mine counts every
	// returned negative into it (see Exposure).
	Exposure *Exposure
	// Hardness, when set, is the collection's closed-loop hardness tracker, read when
	// the policy sets ClosedLoop (see Hardness).
	Hardness *Hardness
	// AnchorOffset is the position of the first anchor in a call its client split into
	// several requests: the samplers and synthetic negatives draw for anchor i from
	// (Policy.Seed, AnchorOffset + i), so a call's anchors draw independently however
	// it is split.
	AnchorOffset uint64
}

// Negative is one returned negative.
type Negative struct {
	ID string
	// Score is the similarity to the anchor's query.
	Score float32
	// Rank is the raw rank: the 0-based position in the best-first order of all items
	// for this anchor, the anchor item itself not counted.
	Rank   int
	Vector []float32 // only when requested
	// PFN is the estimated probability that the negative is a false negative (see
	// falseNegativeProbability); valid when HasPFN, i.e. the anchor has a known positive.
	PFN    float32
	HasPFN bool
	// Version is the item's version stamp; Stale reports that it is below the
	// freshness rule's minimum version and was kept under StaleRescore.
	Version int64
	Stale   bool
}

// RuleCounts counts candidates removed per rule; a candidate counts under the first
// rule that removed it, in field order. Duplicate counts near-duplicates of a known
// positive, ExcludedDuplicate near-duplicates of an excluded item or reported false
// negative; RankWindow counts candidates outside the rank window or at or beyond the
// hardness floor.
//
// Stale counts candidates dropped by the freshness rule; it is judged first among the
// score rules (after the id rules, before Duplicate).
type RuleCounts struct {
	Self, Positive, Excluded, InBatch, Feedback, SameGroup, Duplicate, ExcludedDuplicate, Guide, Margin, ScoreBand, RankWindow, Diversity int

	// Stale: dropped by the freshness rule.
	Stale int
	// Rotation: served to the anchor's key earlier in its rotation cycle; Exposure:
	// served MaxExposures times in the collection's exposure window. Both are judged
	// with the id rules, after SameGroup; Exposure also counts a candidate that reached
	// the cap while the anchor was mined (by a concurrent request).
	Rotation, Exposure int
	// LikelyFalseNegative: dropped by the false-negative budget rule (Policy.PFNBudget),
	// judged last, after every other rule and before the rank window.
	LikelyFalseNegative int
}

// Total returns the number of candidates removed by all rules.
func (c *RuleCounts) Total() int {
	return c.Self + c.Positive + c.Excluded + c.InBatch + c.Feedback + c.SameGroup + c.Duplicate + c.ExcludedDuplicate + c.Guide + c.Margin + c.ScoreBand + c.RankWindow + c.Diversity +
		c.Stale + c.Rotation + c.Exposure + c.LikelyFalseNegative
}

// Result is the outcome for one anchor.
type Result struct {
	// Negatives in hardness order (raw rank ascending), whatever the sampling.
	Negatives []Negative
	// PositiveScore is s⁺, the minimum score of the anchor's known positives (stored
	// and raw); valid when HasPositiveScore.
	PositiveScore    float32
	HasPositiveScore bool
	// Examined is the number of candidates the rules judged for the anchor (skipped
	// ones included). Examined = Removed.Total() + len(Negatives) + Unsampled.
	Examined int
	Removed  RuleCounts
	// Unsampled counts candidates of the rank window that the sampler did not reach, and
	// candidates the false-negative budget read ahead that were not needed because k
	// negatives had already been chosen.
	Unsampled int
	// Shortfall is k minus len(Negatives); the result is never padded.
	Shortfall int
	// Widenings and ExactScan describe how the search ran.
	Widenings int
	ExactScan bool
	// ExactFallback reports that the exact scan followed graph passes that did not
	// reach what the policy asked for (not a collection searched exactly).
	ExactFallback bool
	// MaxRank is the hardness floor applied to the anchor (math.MaxInt: none), and
	// FloorReached reports that the search got to it: a candidate at raw rank ≥ MaxRank
	// would have been judged, so every candidate the anchor could still use was
	// easier than the floor allows.
	MaxRank      int
	FloorReached bool
	// DuplicateThreshold is the near-duplicate threshold applied (raw, default or
	// calibrated); valid when HasDuplicateThreshold (the rule was on).
	DuplicateThreshold    float32
	HasDuplicateThreshold bool
	// GuidePositiveScore is guide(a, p) for the anchor's hardest guide positive; valid
	// when HasGuidePositiveScore (a guide rule was set and the anchor had a guide query
	// and a guide positive).
	GuidePositiveScore    float32
	HasGuidePositiveScore bool
	// UnknownPositiveIDs are positive ids not in the collection. They are still never
	// returned, but give no s⁺, groups or near-duplicates.
	UnknownPositiveIDs []string
	// RotationRestarted reports that the anchor's rotation cycle was exhausted during
	// this call and a new one began (Policy.Rotate); RotationServed is the number of
	// negatives served to its key in the current cycle, these included.
	RotationRestarted bool
	RotationServed    int
	// Explained lists, when Request.Explain > 0, the first Explain candidates the rules
	// judged for the anchor, in the order the search produced them, each with the rule
	// that removed it or FateReturned / FateUnsampled. ExplainTruncated reports that
	// more candidates were judged than listed.
	Explained        []Explained
	ExplainTruncated bool
	// Synthetic are the anchor's synthetic negatives (Policy.Synthetic), mixes first,
	// then query mixes; SyntheticShortfall counts those asked for but not made (too
	// few negatives to mix from).
	Synthetic          []SyntheticNegative
	SyntheticShortfall int
	// Hardness is the anchor's closed-loop hardness h applied (Policy.ClosedLoop) and
	// BandShift the ranks its window was shifted down by; valid when HasHardness.
	Hardness    float32
	BandShift   int
	HasHardness bool
}

// Mine mines every anchor of req against s, in parallel, and returns one Result per
// anchor in order. Invalid input returns a *validate.Error and no results.
//
// When s searches exactly and can score several queries in one pass (see
// engine.Collection.ScoreExact), or scores a group of anchors that way while single
// searches use its graph (groupScanner), the anchors are mined in groups of up to
// maxScoreGroup: each group's queries are scored together in one pass over the vectors,
// then each anchor is mined from its precomputed scores. The results are the same
// either way when s searches exactly; they are the exact results where the graph's
// would be approximate.
func Mine(ctx context.Context, s Searcher, req Request) ([]Result, error) {
	ctx, span := startSpan(ctx, "mining.Mine", attribute.Int("anchors", len(req.Anchors)))
	defer span.End()
	anchors, inBatch, rl, err := prepare(s, &req)
	if err != nil {
		return nil, err
	}
	if req.Exposure != nil {
		req.Exposure.setItems(searcherItems(s))
	}
	if req.Policy.inOrder() {
		results, err := mineInOrder(ctx, s, &req, rl, anchors, inBatch)
		if err == nil {
			annotateHardness(&req.Policy, anchors, results)
			synthesize(s, &req.Policy, anchors, results)
		}
		return results, err
	}
	results := make([]Result, len(anchors))
	errs := make([]error, len(anchors))
	par := parallelism(s)
	// Graph searches take one anchor at a time, so a worker whose anchors cost more is
	// not left with a fixed share while the others wait; exact ones score groups.
	groups, batched := planGroups(s, len(anchors), par)
	// mineGroup mines anchors[lo:hi], scoring them together first when batched.
	mineGroup := func(lo, hi int) {
		scores, release, err := scoreAnchors(ctx, s, batched, &req.Policy, anchors[lo:hi])
		if err != nil {
			errs[lo] = err
			return
		}
		defer release()
		for i := lo; i < hi; i++ {
			results[i], errs[i] = mineAnchorTraced(ctx, s, &req, rl, &anchors[i], inBatch, scoreOf(scores, i-lo))
		}
	}
	// At most par workers, each taking the next group until none is left: a worker's
	// stack grows to what a search needs once per request, not once per anchor.
	var next atomic.Int64
	work := func() {
		for {
			g := int(next.Add(1) - 1)
			if g >= groups {
				return
			}
			lo, hi := groupBounds(g, groups, len(anchors))
			mineGroup(lo, hi)
		}
	}
	var wg sync.WaitGroup
	for range min(par, groups) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if req.Exposure != nil {
		req.Exposure.record(results)
	}
	annotateHardness(&req.Policy, anchors, results)
	synthesize(s, &req.Policy, anchors, results)
	return results, nil
}
