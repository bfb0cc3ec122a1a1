package mining

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sort"

	"github.com/hardneg/hardneg/internal/engine"
)

// maxDerivedEf caps the first-pass ef that mining derives from the rank window.
const maxDerivedEf = 65536

// candidate is a window candidate kept for sampling or diversity.
type candidate struct {
	Negative
	vec []float32 // stored vector copy, when diversity or the response needs it
	ex  int       // position in the anchor's explained list, or -1
}

// anchorMiner mines one prepared anchor: Skip applies the id and group rules inside
// the search, yield the score rules, the rank window and (for top sampling) diversity;
// after the search, sampling and diversity choose among the window's candidates.
type anchorMiner struct {
	s       Searcher
	pol     *Policy
	a       *prepared
	inBatch batchIDs
	keepVec bool // keep candidate vectors (diversity or IncludeVectors)
	// copyChosen: a chosen negative's vector is read after the search (the response's
	// vectors, or fillShifted's diversity checks), so it is copied; otherwise the
	// diversity checks read the store's vector, valid until the search returns.
	copyChosen bool
	end        int // the rank window's end, exclusive
	rules      rules
	guide      Searcher  // the guide collection when a guide rule is set, else nil
	exp        *Exposure // the exposure tracker when Policy.MaxExposures is set, else nil
	// posDup is the near-duplicate threshold against the positives (the rule's, or
	// s⁺ + DuplicateMargin when lower), valid when hasPosDup.
	posDup    float32
	hasPosDup bool
	obs       *anchorObservations // what the calibration records, or nil
	res       Result
	ex        explainer // the explained candidates, when the request asks

	// The false-negative budget (Policy.PFNBudget) judges the first wantK + budget
	// candidates that pass every other rule and reach the rank window's start together:
	// they wait in held until that many were read (or the search ended), then the budget
	// many with the highest p_fn ≥ the threshold go and the rest go on, in rank order,
	// to the rank window (budgetDecide). budgetDone: decided; the rule is spent.
	held       []heldCandidate
	heldVecs   []float32 // copies of the held candidates' vectors
	budgetDone bool
	// ringDrop and ringPFN: what the budget decided for the closed loop's ring of
	// candidates above the moved window (shifted), in the order fillShifted takes them,
	// when the moved window held fewer than the budget judges (budgetAtEnd).
	ringDrop []bool
	ringPFN  []float32

	selfSeen  bool   // the anchor item went through Skip
	selfSlot  uint32 // its slot, valid when selfSeen
	surviving int    // candidates that passed every rule before the rank window
	chosen    []candidate
	window    []candidate // window candidates awaiting sampling
	// shifted is a ring of the deepest candidates that only the closed-loop shift kept
	// out of the window (at most shiftedKeep); shiftedN counts those written to it.
	shifted   []shiftedCandidate
	shiftedN  int
	shiftBack int // ranks fillShifted moved the closed-loop window back up
}

// mineAnchor mines one anchor. scores, when not nil, are the query's precomputed exact
// scores (see engine.SearchOptions.Scores).
func mineAnchor(ctx context.Context, s Searcher, req *Request, rl rules, a *prepared, inBatch batchIDs, scores *engine.ExactScores) (Result, error) {
	pol := &req.Policy
	m := &anchorMiner{
		s:          s,
		pol:        pol,
		a:          a,
		inBatch:    inBatch,
		keepVec:    pol.DiversityThreshold != nil || req.IncludeVectors,
		copyChosen: req.IncludeVectors || pol.ClosedLoop,
		end:        pol.EffectiveRangeMax(a.numPositives) + a.shift,
		ex:         explainer{limit: req.Explain},
	}
	m.rules = rl
	if pol.Sampling == SampleTop {
		m.chosen = make([]candidate, 0, a.wantK(pol)) // one allocation, not one per doubling
	}
	if pol.MaxExposures > 0 {
		m.exp = req.Exposure
	}
	if pol.guideOn() {
		m.guide = req.Guide
	}
	m.res.DuplicateThreshold, m.res.HasDuplicateThreshold = rl.dup, rl.hasDup
	m.posDup, m.hasPosDup = rl.dup, rl.hasDup
	if rl.hasMargin && len(a.posVecs) > 0 {
		t := a.posScore + rl.margin
		if !m.hasPosDup || t < m.posDup {
			m.posDup = t
		}
		m.hasPosDup = true
		m.res.DuplicateThreshold, m.res.HasDuplicateThreshold = m.posDup, true
	}
	if pol.guideOn() && a.guideQuery != nil && len(a.guidePos) > 0 {
		m.res.GuidePositiveScore, m.res.HasGuidePositiveScore = a.guidePosScore, true
	}
	m.res.MaxRank = pol.EffectiveMaxRank(m.end)
	if req.Calibration != nil {
		m.obs = &anchorObservations{hasPos: len(a.posVecs) > 0, posScore: a.posScore}
	}
	m.res.UnknownPositiveIDs = a.unknown
	if len(a.posVecs) > 0 {
		m.res.PositiveScore, m.res.HasPositiveScore = a.posScore, true
	}
	opts := engine.SearchOptions{
		MaxCandidates: m.maxCandidates(),
		Depth:         m.depth(),
		Skip:          m.skip,
		NoWiden:       !pol.Widen,
		Scores:        scores,
	}
	opts.Ef, opts.EfStart, opts.Lead = m.firstPass()
	opts.SkipIDs, opts.SkipGroups = m.skipLists()
	st, err := s.Search(ctx, a.query, opts, m.yield)
	if err != nil {
		return Result{}, err
	}
	// The search ended before the budget's candidates were all read (the floor, the
	// score band's end or the collection's end): it judges those it has.
	m.budgetAtEnd()
	m.res.Widenings, m.res.ExactScan, m.res.ExactFallback = st.Widenings, st.Exact, st.Fallback
	if m.obs != nil {
		req.Calibration.record(m.obs)
	}
	if pol.Sampling != SampleTop {
		m.sample()
	}
	m.fillShifted()
	if pol.ClosedLoop {
		m.res.BandShift = a.shift - m.shiftBack
	}
	slices.SortFunc(m.chosen, func(x, y candidate) int { return x.Rank - y.Rank })
	m.res.Negatives = make([]Negative, len(m.chosen))
	for i, c := range m.chosen {
		m.res.Negatives[i] = c.Negative
		if req.IncludeVectors {
			m.res.Negatives[i].Vector = c.vec
		}
	}
	m.res.Shortfall = a.wantK(pol) - len(m.chosen)
	if m.ex.limit > 0 {
		m.ex.finish()
		m.res.Explained, m.res.ExplainTruncated = m.ex.list, m.ex.truncated
	}
	return m.res, nil
}

// firstPass returns the first search pass's width ef, when its beam may start
// narrower and widen as the anchor reads, where it starts (engine.SearchOptions.EfStart;
// else 0), and how far ahead of what the anchor has read the widening beam stays
// (engine.SearchOptions.Lead; 0: the engine's default).
//
// ef is the policy's, or the rank window's end plus a lead of twice the collection's
// default ef (engine.Params.FixedLead) or the lead the collection measured its graph to
// need (leadMeasurer), whichever is larger, at most maxDerivedEf. The graph's best items are
// found reliably only some way short of the beam's width, so the beam reaches that far
// past the window. How far depends on the data, not on the window: on the 20,000 × 128
// clusters of TestDefaultEfRecallOfTheTopWindow a lead of 64 gave ≥ 0.99 recall of the
// exact window for windows of 8 to 128 ranks, but on make bench's sets (100k × 384
// clustered and 15k real 384-d embeddings, graphs built on 2 threads, 1,000 anchors of
// 32 per request, `hardneg-bench` mine_recall) the negatives of a lead of 64 held 0.975
// and 0.989 of the exact top 8 (the default policy's 0.959 and 0.980), and those of 128
// held 0.997 and 0.997 (default policy 0.994 and 0.994), at about a quarter more CPU
// for a 32-anchor request with every rule on. 8 per rank of the window, the rule before
// a fixed lead, spent 648 for a window of 81 ranks.
//
// The start, with ef derived, is the end of the window the anchor would have without a
// score filter (its k negatives, positives and closed-loop shift past range_min), plus
// the lead. A score filter (margins, score band) widens the window to 10·k ranks so
// that the rules can drop the best candidates and still fill k, but most anchors read
// far less of it: on 100k × 384 with every rule on, 22 candidates per anchor on average
// (p90 33, p99 45) of a window of 81. The beam widens, the lead ahead of what was read,
// only as far as the anchor reads, so each candidate read still comes from a beam the
// lead wider than the ranks read.
func (m *anchorMiner) firstPass() (ef, start, lead int) {
	if m.pol.Ef > 0 {
		return m.pol.Ef, 0, 0
	}
	ps, ok := m.s.(paramSearcher)
	if !ok {
		return 0, 0, 0
	}
	lead = ps.Params().FixedLead()
	if lm, ok := m.s.(leadMeasurer); ok {
		measured, _ := lm.FirstPassLead()
		lead = max(lead, measured)
	}
	k := max(m.pol.NumNegatives, m.a.wantK(m.pol))
	if m.rules.hasPFN && len(m.a.posVecs) > 0 {
		k += m.rules.pfnBudget // the budget reads that many more before it judges
	}
	need := min(m.end, m.pol.RangeMin+k+m.a.numPositives+m.a.shift)
	// A beam finds its best items reliably up to some way short of its width, and that
	// share, not a fixed distance, is what holds for deep reads: at least as wide a lead
	// as the ranks the anchor needs (k = 500: 0.94–0.97 of the exact window with a lead
	// of 128 on 50k 64-d clusters).
	lead = max(lead, need)
	ef = min(m.end+lead, maxDerivedEf)
	if start = need + lead; start >= ef {
		start = 0
	}
	return ef, start, lead
}

// maxCandidates bounds the items the search orders: MaxExamined, and under raw ranks
// the window's end (plus the anchor item), beyond which nothing can be chosen.
func (m *anchorMiner) maxCandidates() int {
	n := m.pol.MaxExamined
	if n <= 0 {
		n = DefaultMaxExamined
	}
	if m.pol.RankMode == RankRaw {
		n = min(n, m.end+1)
	}
	return n
}

// depth is how many items the search is expected to order at most: the hardness floor
// plus the anchor item and the candidate that reaches the floor; 0 when the floor is
// off. The index sizes its wider passes by it (see index.SearchOptions.Depth), so a
// heavily filtered anchor widens only as deep as the floor, not to an exact scan.
func (m *anchorMiner) depth() int {
	if f := m.res.MaxRank; f < math.MaxInt-2 {
		return f + 2
	}
	return 0
}

// skip applies the rules that need only an item's id and groups, in counting order. It
// sees every candidate of the search, so it counts them. An item at or past the hardness
// floor goes on to yield, which ends the search there, so that rules removing most of
// the best candidates cannot drag the search past the floor.
func (m *anchorMiner) skip(slot uint32, id string, groups []string) bool {
	a, r := m.a, &m.res.Removed
	m.res.Examined++
	var f Fate
	switch {
	case id == a.self:
		r.Self++
		m.selfSeen, m.selfSlot = true, slot
		f = FateSelf
	case m.pastFloor():
		// yield stops the search at the floor, whichever rule would remove the item.
		return false
	case has(a.positives, id):
		r.Positive++
		f = FatePositive
	case has(a.excluded, id):
		r.Excluded++
		f = FateExcluded
	case m.inBatch.fromOtherAnchor(id, a.index):
		r.InBatch++
		f = FateInBatch
	case has(a.feedback, id):
		r.Feedback++
		f = FateFeedback
	case m.pol.ExcludeSameGroup && sharesGroup(a.groups, groups):
		r.SameGroup++
		f = FateSameGroup
	case has(a.rotated, id):
		r.Rotation++
		f = FateRotation
	case m.overExposed(id):
		r.Exposure++
		f = FateExposure
	default:
		return false
	}
	m.ex.add(Explained{ID: id, Fate: f})
	return true
}

func sharesGroup(set map[string]struct{}, groups []string) bool {
	for _, g := range groups {
		if has(set, g) {
			return true
		}
	}
	return false
}

// pastFloor reports whether the item Skip is seeing (the Examined-th ordered item) is at
// a raw rank at or past the hardness floor.
func (m *anchorMiner) pastFloor() bool {
	raw := m.res.Examined - 1
	if m.selfSeen {
		raw--
	}
	return raw >= m.res.MaxRank
}

// rawRank is c's rank among all items with the anchor item left out.
func (m *anchorMiner) rawRank(c *engine.Candidate) int {
	if m.a.selfStored && m.selfSeen &&
		(m.a.selfScore > c.Score || (m.a.selfScore == c.Score && m.selfSlot < c.Slot)) {
		return c.Rank - 1
	}
	return c.Rank
}

// yield applies the score rules, the rank window and, for top sampling, diversity to
// one candidate. It returns false when no later candidate can be chosen.
func (m *anchorMiner) yield(c engine.Candidate) bool {
	a, pol, r := m.a, m.pol, &m.res.Removed
	raw := m.rawRank(&c)
	removed := func(f Fate) { m.ex.add(Explained{ID: c.ID, Score: c.Score, HasScore: true, Rank: raw, Fate: f}) }
	if raw >= m.res.MaxRank {
		// The hardness floor: candidates come best-first, so no later one is above it.
		r.RankWindow++
		removed(FateRankWindow)
		m.res.FloorReached = true
		return false
	}
	stale := m.rules.fresh.on && c.Version < m.rules.fresh.min
	if stale && !(pol.StaleRule == StaleRescore && a.freshQuery) {
		r.Stale++
		removed(FateStale)
		return true
	}
	observe := m.obs != nil && len(m.obs.cand) < calibrationPerAnchor
	if observe {
		m.obs.cand = append(m.obs.cand, c.Score)
	}
	// best is the candidate's highest similarity to a known positive: the near-duplicate
	// rule, the calibration and p_fn use it. Computed here when the first two need it,
	// else only for candidates that reach the rank window.
	best, hasBest := float32(math.Inf(-1)), false
	bestOf := func() {
		best, hasBest = m.bestPositive(c.Vector), true
	}
	if len(a.posVecs) > 0 && (m.hasPosDup || observe) {
		bestOf()
		if observe {
			m.obs.posSim = append(m.obs.posSim, best)
		}
		if m.hasPosDup && best >= m.posDup {
			r.Duplicate++
			removed(FateDuplicate)
			return true
		}
	}
	if m.rules.hasDup && m.excludedDuplicate(c) {
		r.ExcludedDuplicate++
		removed(FateExcludedDuplicate)
		return true
	}
	if m.guideRemoves(c.ID) {
		r.Guide++
		removed(FateGuide)
		return true
	}
	if m.res.HasPositiveScore {
		if mg := pol.AbsoluteMargin; mg != nil && !(c.Score < a.posScore-*mg) {
			r.Margin++
			removed(FateMargin)
			return true
		}
		if rm := pol.RelativeMargin; rm != nil && !(c.Score < a.posScore-abs32(a.posScore)**rm) {
			r.Margin++
			removed(FateMargin)
			return true
		}
	}
	if pol.MaxScore != nil && c.Score > *pol.MaxScore {
		r.ScoreBand++
		removed(FateScoreBand)
		return true
	}
	if pol.MinScore != nil && c.Score < *pol.MinScore {
		// Candidates come best-first: every later one is below min_score too.
		r.ScoreBand++
		removed(FateScoreBand)
		return false
	}
	if m.budgetJudges(raw) {
		if !hasBest {
			bestOf()
		}
		return m.hold(&c, raw, stale, m.rules.scale.pfn(best, c.Score, a.posScore))
	}
	pfn, hasPFN := float32(0), false
	if hasBest {
		pfn, hasPFN = m.rules.scale.pfn(best, c.Score, a.posScore), true
	}
	return m.admit(&c, raw, stale, pfn, hasPFN, -1, false)
}

// heldCandidate is a candidate the false-negative budget holds until it decides: what
// admit needs, its vector copied (the store's is valid only while the search runs).
type heldCandidate struct {
	c     engine.Candidate
	raw   int
	stale bool
	pfn   float32
	ex    int
	drop  bool
}

// budgetJudges reports whether the false-negative budget holds the candidate of raw rank
// raw that passed every other rule: the rule is on and undecided, the anchor has a
// positive, and the candidate is at or past the rank window's start (what the budget
// removes must be something the window would otherwise take).
func (m *anchorMiner) budgetJudges(raw int) bool {
	return m.budgetOpen() && (len(m.held) > 0 || !m.beforeWindow(raw))
}

// budgetOpen reports whether the false-negative budget applies to the anchor and has
// not decided yet.
func (m *anchorMiner) budgetOpen() bool {
	return m.rules.hasPFN && !m.budgetDone && len(m.a.posVecs) > 0
}

// beforeWindow reports whether a candidate of raw rank raw that passed every rule would
// fall above the rank window's start (its closed-loop shift included).
func (m *anchorMiner) beforeWindow(raw int) bool {
	rank := m.surviving
	if m.pol.RankMode == RankRaw {
		rank = raw
	}
	return rank < m.pol.RangeMin+m.a.shift
}

// hold keeps a candidate for the false-negative budget and decides once it holds
// wantK + budget; it returns whether the search should go on.
func (m *anchorMiner) hold(c *engine.Candidate, raw int, stale bool, pfn float32) bool {
	n := m.a.wantK(m.pol) + m.rules.pfnBudget
	if m.held == nil {
		// Grown as candidates arrive: most anchors need their k + budget, but a large k
		// with a large budget would otherwise reserve it all for every anchor.
		m.held = make([]heldCandidate, 0, min(n, 32))
		m.heldVecs = make([]float32, 0, min(n, 32)*len(c.Vector))
	}
	h := heldCandidate{c: *c, raw: raw, stale: stale, pfn: pfn}
	off := len(m.heldVecs)
	m.heldVecs = append(m.heldVecs, c.Vector...)
	h.c.Vector = m.heldVecs[off:len(m.heldVecs):len(m.heldVecs)]
	h.ex = m.ex.add(Explained{ID: c.ID, Score: c.Score, HasScore: true, Rank: raw, Fate: fateWindow})
	m.held = append(m.held, h)
	if len(m.held) < n {
		return true
	}
	return m.budgetDecide()
}

// budgetDecide applies the false-negative budget to the held candidates: of those with
// p_fn ≥ the threshold, the budget many with the highest p_fn (the better ranked first
// among equals) go; the others go on to the rank window in rank order. Once the window
// stops taking candidates, the held ones not yet reached count as unsampled when the
// anchor has its k negatives, else as past the window's end. It returns whether the
// search should go on.
func (m *anchorMiner) budgetDecide() bool {
	if m.budgetDone || len(m.held) == 0 {
		return true
	}
	markLikeliest(len(m.held), m.rules.pfnBudget, m.rules.pfnThreshold,
		func(i int) float32 { return m.held[i].pfn }, func(i int) { m.held[i].drop = true })
	return m.release()
}

// budgetAtEnd decides the budget once the search has ended, when it was not decided
// during it. Under the closed loop, a moved window that held fewer than k + budget
// candidates is filled from above it (fillShifted, deepest first): those candidates
// follow the held ones in the budget's judgement, up to k + budget in all.
func (m *anchorMiner) budgetAtEnd() {
	if !m.budgetOpen() {
		return
	}
	h := len(m.held)
	ring := min(m.a.wantK(m.pol)+m.rules.pfnBudget-h, m.shiftedN, len(m.shifted))
	if ring <= 0 {
		m.budgetDecide()
		return
	}
	m.ringDrop, m.ringPFN = make([]bool, ring), make([]float32, ring)
	for j := range ring {
		e := m.ringEntry(j)
		m.ringPFN[j] = m.rules.scale.pfn(m.bestPositive(e.vec), e.neg.Score, m.a.posScore)
	}
	markLikeliest(h+ring, m.rules.pfnBudget, m.rules.pfnThreshold,
		func(i int) float32 {
			if i < h {
				return m.held[i].pfn
			}
			return m.ringPFN[i-h]
		},
		func(i int) {
			if i < h {
				m.held[i].drop = true
			} else {
				m.ringDrop[i-h] = true
			}
		})
	m.release()
}

// release passes the held candidates the budget kept to the rank window in rank order
// and counts those it dropped; it returns whether the search should go on.
func (m *anchorMiner) release() bool {
	m.budgetDone = true
	more := true
	for i := range m.held {
		h := &m.held[i]
		switch {
		case !more && len(m.chosen) >= m.a.wantK(m.pol):
			m.res.Unsampled++
		case !more:
			m.res.Removed.RankWindow++
			m.ex.settle(h.ex, FateRankWindow)
		case h.drop:
			m.res.Removed.LikelyFalseNegative++
			m.ex.settle(h.ex, FateLikelyFalseNegative)
		default:
			more = m.admit(&h.c, h.raw, h.stale, h.pfn, true, h.ex, true)
		}
	}
	m.held = nil
	return more
}

// markLikeliest marks, of n candidates in rank order, the at most budget whose p_fn
// (pfn(i)) is highest and ≥ threshold, the better ranked first among equals.
func markLikeliest(n, budget int, threshold float32, pfn func(int) float32, mark func(int)) {
	var flagged []int
	for i := range n {
		if pfn(i) >= threshold {
			flagged = append(flagged, i)
		}
	}
	if len(flagged) > budget {
		slices.SortStableFunc(flagged, func(x, y int) int { return cmp.Compare(pfn(y), pfn(x)) })
		flagged = flagged[:budget]
	}
	for _, i := range flagged {
		mark(i)
	}
}

// admit applies the rank window and, for top sampling, diversity and the exposure cap to
// a candidate that passed every other rule. pfn is its p_fn when hasPFN (else computed
// here when the candidate reaches the window and the anchor has a positive); held: it
// was recorded for explaining already, at ex. It returns false when no later candidate
// can be chosen.
func (m *anchorMiner) admit(c *engine.Candidate, raw int, stale bool, pfn float32, hasPFN bool, ex int, held bool) bool {
	a, pol, r := m.a, m.pol, &m.res.Removed
	fate := func(f Fate) int {
		if held {
			m.ex.settle(ex, f)
			return ex
		}
		return m.ex.add(Explained{ID: c.ID, Score: c.Score, HasScore: true, Rank: raw, Fate: f})
	}
	rank := m.surviving
	if pol.RankMode == RankRaw {
		rank = raw
	}
	m.surviving++
	if rank < pol.RangeMin+a.shift {
		r.RankWindow++
		if rank >= pol.RangeMin {
			// Above a window the closed loop moved down: kept, in case the moved window
			// ends short (fillShifted).
			m.keepShifted(c, raw, rank, stale, fate(FateRankWindow))
		} else {
			fate(FateRankWindow)
		}
		return true
	}
	if rank >= m.end {
		r.RankWindow++
		fate(FateRankWindow)
		return false
	}
	cand := candidate{Negative: Negative{ID: c.ID, Score: c.Score, Rank: raw, Version: c.Version, Stale: stale}}
	cand.ex = fate(fateWindow)
	if !hasPFN && len(a.posVecs) > 0 {
		pfn, hasPFN = m.rules.scale.pfn(m.bestPositive(c.Vector), c.Score, a.posScore), true
	}
	cand.PFN, cand.HasPFN = pfn, hasPFN
	if pol.Sampling != SampleTop {
		switch {
		case m.keepVec && held:
			cand.vec = c.Vector // the held copy
		case m.keepVec:
			cand.vec = append([]float32(nil), c.Vector...)
		}
		m.window = append(m.window, cand)
		return true
	}
	// The store's vector, valid while the search runs, serves the diversity checks; a
	// returned candidate keeps it for the checks of later candidates, and a copy when
	// it is read after the search.
	cand.vec = c.Vector
	if m.tooSimilar(&cand) {
		r.Diversity++
		m.ex.settle(cand.ex, FateDiversity)
		return true
	}
	if !m.serve(c.ID) {
		r.Exposure++
		m.ex.settle(cand.ex, FateExposure)
		return true
	}
	m.ex.settle(cand.ex, FateReturned)
	switch {
	case !m.keepVec:
		cand.vec = nil
	case m.copyChosen && !held: // a held candidate's vector is a copy already
		cand.vec = append([]float32(nil), c.Vector...)
	}
	m.chosen = append(m.chosen, cand)
	return len(m.chosen) < a.wantK(pol)
}

// shiftedCandidate is a candidate above a closed-loop window kept for fillShifted: what
// its Negative needs, its rank as the window counts it, and, when p_fn or the chosen
// negatives' vectors will need it, a copy of its vector in a buffer reused as the ring
// turns (p_fn and the response's vector copy are made only for the candidates
// fillShifted takes).
type shiftedCandidate struct {
	neg   Negative
	wrank int
	ex    int
	vec   []float32
}

// shiftedKeep is how many of the candidates above a closed-loop window an anchor keeps
// for fillShifted: room for k plus those diversity or the exposure cap may turn away.
func (m *anchorMiner) shiftedKeep() int { return 2*m.a.wantK(m.pol) + 8 }

// keepShifted keeps c (raw rank raw, window rank wrank), which only the closed-loop
// shift kept out of the window, among the deepest shiftedKeep such candidates: O(dim)
// per candidate, however deep the window moved.
func (m *anchorMiner) keepShifted(c *engine.Candidate, raw, wrank int, stale bool, ex int) {
	n := m.shiftedKeep()
	if m.shifted == nil {
		m.shifted = make([]shiftedCandidate, n)
	}
	e := &m.shifted[m.shiftedN%n]
	m.shiftedN++
	e.neg = Negative{ID: c.ID, Score: c.Score, Rank: raw, Version: c.Version, Stale: stale}
	e.wrank = wrank
	e.ex = ex
	if m.keepVec || len(m.a.posVecs) > 0 {
		e.vec = append(e.vec[:0], c.Vector...)
	}
}

// fillShifted clamps the closed-loop shift to what the window gave: when the moved
// window ended short of k negatives (the search ran out of candidates below it, or
// rules removed them), the window moves back up by as few ranks as fill the shortfall,
// never above the policy's own window. It takes the candidates just above the moved
// window, deepest first, through diversity and the exposure cap, and records in
// shiftBack how far the window moved back. Under rotation, a shortfall that rotation
// caused is left to its restart (mineInOrder), which fills it from a new cycle.
func (m *anchorMiner) fillShifted() {
	want := m.a.wantK(m.pol)
	if len(m.chosen) >= want || m.shiftedN == 0 || (m.pol.Rotate && m.res.Removed.Rotation > 0) {
		return
	}
	a, r := m.a, &m.res.Removed
	for j := 0; j < min(m.shiftedN, len(m.shifted)) && len(m.chosen) < want; j++ {
		e := m.ringEntry(j)
		r.RankWindow--
		m.shiftBack = a.shift - (e.wrank - m.pol.RangeMin)
		if j < len(m.ringDrop) && m.ringDrop[j] {
			r.LikelyFalseNegative++
			m.ex.settle(e.ex, FateLikelyFalseNegative)
			continue
		}
		c := candidate{Negative: e.neg, ex: e.ex}
		if m.keepVec {
			c.vec = append([]float32(nil), e.vec...)
		}
		if m.tooSimilar(&c) {
			r.Diversity++
			m.ex.settle(c.ex, FateDiversity)
			continue
		}
		if !m.serve(c.ID) {
			r.Exposure++
			m.ex.settle(c.ex, FateExposure)
			continue
		}
		switch {
		case j < len(m.ringPFN):
			c.PFN, c.HasPFN = m.ringPFN[j], true
		case len(a.posVecs) > 0:
			c.PFN, c.HasPFN = m.rules.scale.pfn(m.bestPositive(e.vec), c.Score, a.posScore), true
		}
		m.ex.settle(c.ex, FateReturned)
		m.chosen = append(m.chosen, c)
	}
}

// ringEntry returns the j-th candidate fillShifted takes from the ring: the deepest first.
func (m *anchorMiner) ringEntry(j int) *shiftedCandidate {
	return &m.shifted[(m.shiftedN-1-j)%len(m.shifted)]
}

// bestPositive is a vector's highest similarity to the anchor's positives.
func (m *anchorMiner) bestPositive(v []float32) float32 {
	best := float32(math.Inf(-1))
	for _, pv := range m.a.posVecs {
		best = max(best, m.s.Similarity(v, pv))
	}
	return best
}

// guideRemoves applies the guide rules to the candidate id: it looks up its guide vector
// (a candidate missing from the guide collection passes) and reports whether it is a
// near-duplicate of a guide positive or fails the guide margin. It takes the id, not the
// candidate: the lookup's closure escapes, and a candidate it captured would be moved to
// the heap on every call of yield.
func (m *anchorMiner) guideRemoves(id string) bool {
	pol, a, g := m.pol, m.a, m.guide
	if g == nil || len(a.guidePos) == 0 {
		return false
	}
	removed := false
	g.Resolve(func(lookup engine.LookupFunc) {
		v, _, ok := lookup(id)
		if !ok {
			return
		}
		if t := pol.GuideDuplicateThreshold; t != nil {
			for _, gp := range a.guidePos {
				if g.Similarity(v, gp) >= *t {
					removed = true
					return
				}
			}
		}
		if mg := pol.GuideMargin; mg != nil && a.guideQuery != nil && !(g.Similarity(a.guideQuery, v) < a.guidePosScore-*mg) {
			removed = true
		}
	})
	return removed
}

// tooSimilar reports whether c is more similar than the diversity threshold to an
// already chosen negative.
func (m *anchorMiner) tooSimilar(c *candidate) bool {
	t := m.pol.DiversityThreshold
	if t == nil {
		return false
	}
	for i := range m.chosen {
		if m.s.Similarity(c.vec, m.chosen[i].vec) > *t {
			return true
		}
	}
	return false
}

// sample chooses up to k negatives among the window's candidates in sampled order,
// skipping those that break diversity.
func (m *anchorMiner) sample() {
	order := sampleOrder(m.pol, m.a.draw, m.window, m.a.posScore, m.res.HasPositiveScore)
	for n, i := range order {
		if len(m.chosen) == m.a.wantK(m.pol) {
			m.res.Unsampled += len(order) - n
			return
		}
		c := &m.window[i]
		if m.tooSimilar(c) {
			m.res.Removed.Diversity++
			m.ex.settle(c.ex, FateDiversity)
			continue
		}
		if !m.serve(c.ID) {
			m.res.Removed.Exposure++
			m.ex.settle(c.ex, FateExposure)
			continue
		}
		m.ex.settle(c.ex, FateReturned)
		m.chosen = append(m.chosen, *c)
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// excludedDuplicate reports whether candidate c is a near-duplicate (rules.dup) of a
// stored item excluded for the anchor (prepared.exclVecs). Under cosine the excluded
// items are sorted by their similarity to the query, and only those whose angle to the
// query is at most the candidate's angle plus the threshold's are compared: angles
// between unit vectors obey the triangle inequality, so an item further from the query
// cannot reach the threshold with the candidate. With thousands of exclusions per
// anchor that is most of them (each candidate was compared with every one).
func (m *anchorMiner) excludedDuplicate(c engine.Candidate) bool {
	a := m.a
	xs := a.exclVecs
	if a.exclSim != nil {
		lo := lowestSimilar(m.s.Similarity(a.query, c.Vector), m.rules.dup)
		xs = xs[:sort.Search(len(a.exclSim), func(i int) bool { return a.exclSim[i] < lo })]
	}
	for _, xv := range xs {
		if m.s.Similarity(c.Vector, xv) >= m.rules.dup {
			return true
		}
	}
	return false
}

// lowestSimilar returns, for unit vectors, the least similarity to the query that an
// item at similarity ≥ t to a candidate of similarity s to the query can have:
// cos(θs + θt), less exclSlack against rounding; −∞ (every item) when θs + θt ≥ π.
func lowestSimilar(s, t float32) float32 {
	th := math.Acos(max(-1, min(1, float64(s)))) + math.Acos(max(-1, min(1, float64(t))))
	if th >= math.Pi {
		return float32(math.Inf(-1))
	}
	return float32(math.Cos(th)) - exclSlack
}

// exclSlack widens lowestSimilar's bound: scores of unit vectors computed in float32
// are off by far less.
const exclSlack = 1e-3
