package mining

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/hardneg/hardneg/internal/engine"
)

// refItem is one stored item as the reference sees it.
type refItem struct {
	id      string
	vec     []float32 // prepared (as stored)
	groups  []string
	version int64
}

// refCorpus is everything the reference implementation knows: the items in insertion
// order (which is slot order when nothing was deleted), the feedback verdicts and the
// similarity of the collection.
type refCorpus struct {
	items    []refItem
	feedback map[string]map[string]bool
	sim      func(a, b []float32) float32
	prepare  func(v []float32) []float32
	metric   engine.Metric
	// guide is the guide space (same ids, other vectors), or nil.
	guide *refCorpus
	// measuresBackground: the searcher reports its background similarity, so the
	// cosine defaults are read on the collection's scale (refScale).
	measuresBackground bool
}

// refScale returns the documented mapping of a cosine collection's scores to the
// defaults' reference scale: with b the mean cosine of two distinct items, above 0.25,
// s' = 0.25 + (s − b)·k with k = 0.75 / (1 − b) (b capped at 0.99); on is false when the
// scores stay as they are. The items are few enough here for every one to be in the
// searcher's sample.
func (rc *refCorpus) refScale() (b, k float64, on bool) {
	if !rc.measuresBackground || rc.metric != engine.Cosine || len(rc.items) < 64 {
		return 0, 0, false
	}
	sum := make([]float64, len(rc.items[0].vec))
	for _, it := range rc.items {
		for i, x := range it.vec {
			sum[i] += float64(x)
		}
	}
	var sq float64
	for _, x := range sum {
		sq += x * x
	}
	n := float64(len(rc.items))
	b = (sq - n) / (n * (n - 1))
	if !(b > 0.25) {
		return 0, 0, false
	}
	b = min(b, 0.99)
	return b, (1 - 0.25) / (1 - b), true
}

func (rc *refCorpus) find(id string) (refItem, bool) {
	for _, it := range rc.items {
		if it.id == id {
			return it, true
		}
	}
	return refItem{}, false
}

// reference mines req the slow, obvious way: score every item exactly, order them,
// and walk the order applying the documented rules one after the other. It shares no
// code with Mine.
func reference(rc *refCorpus, req Request) []Result {
	pol := req.Policy
	out := make([]Result, len(req.Anchors))
	for i, a := range req.Anchors {
		out[i] = referenceAnchor(rc, req, i, a, pol)
	}
	return out
}

func referenceAnchor(rc *refCorpus, req Request, ai int, a Anchor, pol Policy) Result {
	var res Result
	self, selfFound := refItem{}, false
	if a.ID != "" {
		self, selfFound = rc.find(a.ID)
	}
	var query []float32
	if a.Vector != nil {
		query = rc.prepare(a.Vector)
	} else {
		query = self.vec
	}

	// Positives: every id is excluded; known ones give vectors and groups.
	posIDs := map[string]bool{}
	var posVecs [][]float32
	groups := map[string]bool{}
	for _, g := range a.Groups {
		groups[g] = true
	}
	if selfFound {
		for _, g := range self.groups {
			groups[g] = true
		}
	}
	for _, id := range a.PositiveIDs {
		if posIDs[id] {
			continue
		}
		posIDs[id] = true
		it, ok := rc.find(id)
		if !ok {
			res.UnknownPositiveIDs = append(res.UnknownPositiveIDs, id)
			continue
		}
		posVecs = append(posVecs, it.vec)
		for _, g := range it.groups {
			groups[g] = true
		}
	}
	for _, v := range a.PositiveVectors {
		posVecs = append(posVecs, rc.prepare(v))
	}
	numPositives := len(posIDs) + len(a.PositiveVectors)
	var sPlus float32
	if len(posVecs) > 0 {
		res.HasPositiveScore = true
		sPlus = float32(math.Inf(1))
		for _, pv := range posVecs {
			if s := rc.sim(query, pv); s < sPlus {
				sPlus = s
			}
		}
		res.PositiveScore = sPlus
	}
	excluded := map[string]bool{}
	for _, id := range a.ExcludeIDs {
		excluded[id] = true
	}
	others := map[string]bool{}
	if pol.InBatchExclusion {
		for j, b := range req.Anchors {
			if j == ai {
				continue
			}
			if b.ID != "" {
				others[b.ID] = true
			}
			for _, id := range b.PositiveIDs {
				others[id] = true
			}
			for _, id := range b.ExcludeIDs {
				others[id] = true
			}
		}
	}
	key := a.Key
	if key == "" {
		key = a.ID
	}
	var fb map[string]bool
	if pol.UseFeedback && key != "" {
		fb = rc.feedback[key]
	}
	// The near-duplicate threshold: the policy's, 0.80 under cosine by default, none
	// under dot and L2 by default, none when the rule is off.
	dupOn := pol.NearDuplicates && (pol.DuplicateThreshold != nil || rc.metric == engine.Cosine)
	var dupT float32 = 0.80
	if b, k, on := rc.refScale(); on {
		// the raw score that maps to 0.80
		dupT = min(float32(b+(float64(float32(0.80))-0.25)/k), 1)
	}
	if pol.DuplicateThreshold != nil {
		dupT = *pol.DuplicateThreshold
	}
	if dupOn {
		res.DuplicateThreshold, res.HasDuplicateThreshold = dupT, true
	}
	// Against the positives the threshold is min(dupT, s⁺ + duplicate_margin).
	posOn, posT := dupOn, dupT
	// The relative margin: the policy's; off by default.
	marginOn := pol.NearDuplicates && pol.DuplicateMargin != nil
	var margin float32
	if pol.DuplicateMargin != nil {
		margin = *pol.DuplicateMargin
	}
	if marginOn && len(posVecs) > 0 {
		t := sPlus + margin
		if !posOn || t < posT {
			posT = t
		}
		posOn = true
		res.DuplicateThreshold, res.HasDuplicateThreshold = posT, true
	}
	// Guide space: the anchor's guide query (given, or its item's guide vector), the
	// guide vectors of its positive ids and its raw guide positives; g⁺ = min guide(a, p).
	// The false-negative budget: of the first k + pfnB candidates that pass every other
	// rule from the rank window's start on, the pfnB with the highest p_fn ≥ pfnT are
	// dropped. Default (0.01, ⌈k/2⌉) under cosine while the near-duplicate rule is on;
	// under dot and L2 only with both values set; off with a budget of 0.
	var pfnT float32 = 0.01
	pfnB := (max(pol.NumNegatives, 1) + 1) / 2
	if pol.PFNThreshold != nil {
		pfnT = *pol.PFNThreshold
	}
	if pol.PFNBudget != nil {
		pfnB = *pol.PFNBudget
	}
	pfnOn := pfnB > 0 && ((pol.PFNThreshold != nil && pol.PFNBudget != nil) ||
		(rc.metric == engine.Cosine && (pol.NearDuplicates || pol.PFNThreshold != nil || pol.PFNBudget != nil)))
	guideOn := pol.GuideMargin != nil || pol.GuideDuplicateThreshold != nil
	var gq []float32
	var gPos [][]float32
	var gPlus float32
	if guideOn {
		g := rc.guide
		if a.GuideVector != nil {
			gq = g.prepare(a.GuideVector)
		} else if it, ok := g.find(a.ID); ok && a.ID != "" {
			gq = it.vec
		}
		seen := map[string]bool{}
		for _, id := range a.PositiveIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			if it, ok := g.find(id); ok {
				gPos = append(gPos, it.vec)
			}
		}
		for _, v := range a.GuidePositiveVectors {
			gPos = append(gPos, g.prepare(v))
		}
		if gq != nil && len(gPos) > 0 {
			gPlus = float32(math.Inf(1))
			for _, gp := range gPos {
				gPlus = min(gPlus, g.sim(gq, gp))
			}
			res.GuidePositiveScore, res.HasGuidePositiveScore = gPlus, true
		}
	}
	// Vectors of stored excluded items and reported false negatives that are not
	// positives: their near-duplicates are excluded too.
	var exclVecs [][]float32
	for _, it := range rc.items {
		if (excluded[it.id] || fb[it.id]) && !posIDs[it.id] {
			exclVecs = append(exclVecs, it.vec)
		}
	}

	// Exact scores, best first, ties by insertion order.
	type scoredItem struct {
		it    refItem
		pos   int
		score float32
	}
	all := make([]scoredItem, len(rc.items))
	for j, it := range rc.items {
		all[j] = scoredItem{it, j, rc.sim(query, it.vec)}
	}
	slices.SortFunc(all, func(x, y scoredItem) int {
		if c := cmp.Compare(y.score, x.score); c != 0 {
			return c
		}
		return x.pos - y.pos
	})

	end := pol.RangeMax
	if end == 0 {
		if pol.AbsoluteMargin != nil || pol.RelativeMargin != nil || pol.MaxScore != nil {
			end = pol.RangeMin + 10*pol.NumNegatives + numPositives
		} else {
			end = pol.RangeMin + pol.NumNegatives + numPositives
		}
	}
	floor := pol.MaxRank
	switch {
	case floor >= math.MaxUint32:
		floor = math.MaxInt
	case floor == 0:
		floor = max(200, 2*end)
	}
	res.MaxRank = floor
	limit := pol.MaxExamined
	if limit == 0 {
		limit = DefaultMaxExamined
	}
	if pol.RankMode == RankRaw && end+1 < limit {
		limit = end + 1
	}
	tooSimilar := func(v []float32, chosen []candidate) bool {
		if pol.DiversityThreshold == nil {
			return false
		}
		for _, c := range chosen {
			if rc.sim(v, c.vec) > *pol.DiversityThreshold {
				return true
			}
		}
		return false
	}
	var chosen, window []candidate
	selfPassed := false
	surviving := 0
	r := &res.Removed
	// admit applies the rank window, the sampling window and diversity to a candidate
	// that passed every other rule; false: nothing later can be chosen.
	admit := func(c candidate) bool {
		rank := surviving
		if pol.RankMode == RankRaw {
			rank = c.Rank
		}
		surviving++
		if rank < pol.RangeMin {
			r.RankWindow++
			return true
		}
		if rank >= end {
			r.RankWindow++
			return false
		}
		if pol.Sampling != SampleTop {
			window = append(window, c)
			return true
		}
		if tooSimilar(c.vec, chosen) {
			r.Diversity++
			return true
		}
		chosen = append(chosen, c)
		return len(chosen) < pol.NumNegatives
	}
	// The budget holds its candidates until it has k + pfnB of them or the walk ends,
	// then drops the pfnB likeliest and passes the rest on in rank order; held
	// candidates after the window stopped taking any are unsampled when k were chosen,
	// else past the window's end.
	var held []candidate
	decided := false
	decide := func() bool {
		if decided || len(held) == 0 {
			return true
		}
		decided = true
		drop := make([]bool, len(held))
		for n := 0; n < pfnB; n++ {
			best := -1
			for j, h := range held {
				if !drop[j] && h.PFN >= pfnT && (best < 0 || h.PFN > held[best].PFN) {
					best = j
				}
			}
			if best < 0 {
				break
			}
			drop[best] = true
		}
		more := true
		for j, h := range held {
			switch {
			case !more && len(chosen) >= pol.NumNegatives:
				res.Unsampled++
			case !more:
				r.RankWindow++ // past the window's end
			case drop[j]:
				r.LikelyFalseNegative++
			default:
				more = admit(h)
			}
		}
		return more
	}
walk:
	for p, sc := range all {
		if p >= limit {
			break
		}
		id := sc.it.id
		res.Examined++
		if id == a.ID {
			r.Self++
			selfPassed = true
			continue
		}
		raw := p
		if selfPassed {
			raw--
		}
		// The hardness floor comes before every other rule: nothing past it is examined.
		if raw >= floor {
			r.RankWindow++
			res.FloorReached = true
			break walk
		}
		if posIDs[id] {
			r.Positive++
			continue
		}
		if excluded[id] {
			r.Excluded++
			continue
		}
		if others[id] {
			r.InBatch++
			continue
		}
		if fb[id] {
			r.Feedback++
			continue
		}
		if pol.ExcludeSameGroup {
			shared := false
			for _, g := range sc.it.groups {
				shared = shared || groups[g]
			}
			if shared {
				r.SameGroup++
				continue
			}
		}
		// Freshness: stale when the version is below max(min_version, newest −
		// max_staleness); kept only under StaleRescore for an anchor that sent a vector.
		stale := false
		if pol.MinVersion != nil || pol.MaxStaleness != nil {
			minV := int64(math.MinInt64)
			if pol.MinVersion != nil {
				minV = *pol.MinVersion
			}
			if pol.MaxStaleness != nil {
				var newest int64
				for j, it := range rc.items {
					if j == 0 || it.version > newest {
						newest = it.version
					}
				}
				minV = max(minV, newest-*pol.MaxStaleness)
			}
			stale = sc.it.version < minV
		}
		if stale && (pol.StaleRule != StaleRescore || a.Vector == nil) {
			r.Stale++
			continue
		}
		if posOn {
			dup := false
			for _, pv := range posVecs {
				dup = dup || rc.sim(sc.it.vec, pv) >= posT
			}
			if dup {
				r.Duplicate++
				continue
			}
		}
		if dupOn {
			dup := false
			for _, xv := range exclVecs {
				dup = dup || rc.sim(sc.it.vec, xv) >= dupT
			}
			if dup {
				r.ExcludedDuplicate++
				continue
			}
		}
		if guideOn && len(gPos) > 0 {
			if gv, ok := rc.guide.find(id); ok {
				drop := false
				if pol.GuideDuplicateThreshold != nil {
					for _, gp := range gPos {
						drop = drop || rc.guide.sim(gv.vec, gp) >= *pol.GuideDuplicateThreshold
					}
				}
				if pol.GuideMargin != nil && gq != nil && rc.guide.sim(gq, gv.vec) >= gPlus-*pol.GuideMargin {
					drop = true
				}
				if drop {
					r.Guide++
					continue
				}
			}
		}
		s := sc.score
		if res.HasPositiveScore {
			if pol.AbsoluteMargin != nil && s >= sPlus-*pol.AbsoluteMargin {
				r.Margin++
				continue
			}
			if pol.RelativeMargin != nil && s >= sPlus-float32(math.Abs(float64(sPlus)))**pol.RelativeMargin {
				r.Margin++
				continue
			}
		}
		if pol.MaxScore != nil && s > *pol.MaxScore {
			r.ScoreBand++
			continue
		}
		if pol.MinScore != nil && s < *pol.MinScore {
			r.ScoreBand++
			break walk
		}
		c := candidate{Negative: Negative{ID: id, Score: s, Rank: raw, Version: sc.it.version, Stale: stale}, vec: sc.it.vec}
		if len(posVecs) > 0 {
			c.PFN, c.HasPFN = refPFN(rc, posVecs, sc.it.vec, s, sPlus), true
		}
		beforeStart := surviving < pol.RangeMin
		if pol.RankMode == RankRaw {
			beforeStart = raw < pol.RangeMin
		}
		if pfnOn && !decided && len(posVecs) > 0 && (len(held) > 0 || !beforeStart) {
			held = append(held, c)
			if len(held) == pol.NumNegatives+pfnB && !decide() {
				break walk
			}
			continue
		}
		if !admit(c) {
			break walk
		}
	}
	decide()

	if pol.Sampling != SampleTop && len(window) > 0 {
		// Sequential draws without replacement: every candidate gets a Gumbel-perturbed
		// log-weight, drawn in hardness order; the largest remaining key is drawn next.
		rng := newRand(pol.Seed, uint64(ai))
		center := float64(sPlus)
		if !res.HasPositiveScore {
			center = float64(window[0].Score)
		}
		center += float64(pol.SimANSB)
		keys := make([]float64, len(window))
		taken := make([]bool, len(window))
		start := 0
		if pol.Sampling == SampleTop1Sampled {
			start = 1
		}
		for j := start; j < len(window); j++ {
			s := float64(window[j].Score)
			lw := 0.0
			switch pol.Sampling {
			case SampleSoftmax:
				lw = s / float64(pol.Temperature)
			case SampleSimANS:
				lw = -float64(pol.SimANSA) * (s - center) * (s - center)
			}
			u := (float64(rng.Uint64()>>11) + 0.5) / (1 << 53)
			keys[j] = lw - math.Log(-math.Log(u))
		}
		draw := func() int {
			if start == 1 && !taken[0] {
				return 0
			}
			best := -1
			for j := range window {
				if !taken[j] && (best < 0 || keys[j] > keys[best]) {
					best = j
				}
			}
			return best
		}
		for n := 0; n < len(window); n++ {
			if len(chosen) == pol.NumNegatives {
				res.Unsampled += len(window) - n
				break
			}
			j := draw()
			taken[j] = true
			if tooSimilar(window[j].vec, chosen) {
				r.Diversity++
				continue
			}
			chosen = append(chosen, window[j])
		}
	}
	sort.Slice(chosen, func(x, y int) bool { return chosen[x].Rank < chosen[y].Rank })
	for _, c := range chosen {
		n := c.Negative
		if req.IncludeVectors {
			n.Vector = c.vec
		}
		res.Negatives = append(res.Negatives, n)
	}
	res.Shortfall = pol.NumNegatives - len(chosen)
	return res
}

// refPFN is p_fn = σ(b₀ + b₁·max_p s(c, p) + b₂·(s − s⁺)) with the pooled four-set fit.
func refPFN(rc *refCorpus, posVecs [][]float32, vec []float32, s, sPlus float32) float32 {
	maxSim := math.Inf(-1)
	for _, pv := range posVecs {
		maxSim = math.Max(maxSim, float64(rc.sim(vec, pv)))
	}
	d := s - sPlus
	if b, k, on := rc.refScale(); on {
		// both read on the reference scale
		maxSim = float64(float32(0.25 + (float64(float32(maxSim))-b)*k))
		d = float32(float64(d) * k)
	}
	z := -6.83 + 6.87*maxSim + 4.56*float64(d)
	return float32(1 / (1 + math.Exp(-z)))
}
