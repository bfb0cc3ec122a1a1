package conformance

import (
	"math"
	"slices"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// item is one stored item as the reference sees it: its vector prepared the way the
// metric stores it (unit length under cosine).
type item struct {
	id      string
	vec     []float32
	groups  []string
	version int64
}

// corpus is what the reference knows about a collection.
type corpus struct {
	metric hardnegv1.Metric
	items  []item
	byID   map[string]int
	// feedback holds reported false negatives per anchor key.
	feedback map[string]map[string]bool
}

func newCorpus(metric hardnegv1.Metric, items []item) *corpus {
	c := &corpus{metric: metric, byID: map[string]int{}, feedback: map[string]map[string]bool{}}
	for _, it := range items {
		it.vec = c.prepare(it.vec)
		c.byID[it.id] = len(c.items)
		c.items = append(c.items, it)
	}
	return c
}

// prepare returns v as the collection stores it: a unit-length copy under cosine.
func (c *corpus) prepare(v []float32) []float32 {
	out := slices.Clone(v)
	if c.metric != hardnegv1.Metric_METRIC_COSINE {
		return out
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	for i := range out {
		out[i] = float32(float64(out[i]) / n)
	}
	return out
}

// sim scores two prepared vectors: the dot product (cosine on unit vectors), or the
// negated squared Euclidean distance under L2.
func (c *corpus) sim(a, b []float32) float32 {
	var s float64
	if c.metric == hardnegv1.Metric_METRIC_L2 {
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			s += d * d
		}
		return float32(-s)
	}
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

// refNegative is one negative the reference expects.
type refNegative struct {
	id    string
	score float32
	rank  int // exact raw rank, the anchor item not counted
}

// refResult is the reference's answer for one anchor.
type refResult struct {
	negatives     []refNegative
	positiveScore float32
	hasPositive   bool
	shortfall     int
}

// mine answers req the slow, obvious way: every item scored exactly, ordered, and the
// rules applied one after the other. It supports the rules the conformance tests set
// explicitly: exclusions of the anchor, its positives and exclusions, in-batch
// exclusion, same group, a near-duplicate threshold against the positives (and against
// stored exclusions and reported false negatives), the absolute
// and relative margins, the score band, feedback (not the false-negative budget), and the rank window counted on
// surviving candidates (RANK_MODE_SURVIVING) or on raw ranks (RANK_MODE_RAW, the anchor
// item not counted), with top
// sampling and no hardness floor.
func (c *corpus) mine(req *hardnegv1.MineRequest) []refResult {
	out := make([]refResult, len(req.Anchors))
	for i := range req.Anchors {
		out[i] = c.mineAnchor(req, i)
	}
	return out
}

func (c *corpus) mineAnchor(req *hardnegv1.MineRequest, ai int) refResult {
	p := req.Policy
	a := req.Anchors[ai]
	var res refResult
	var query []float32
	groups := map[string]bool{}
	for _, g := range a.Groups {
		groups[g] = true
	}
	if a.Vector != nil {
		query = c.prepare(fromBytes(a.Vector))
	} else {
		self := c.items[c.byID[a.Id]]
		query = self.vec
		for _, g := range self.groups {
			groups[g] = true
		}
	}
	drop := map[string]bool{}
	if a.Id != "" {
		drop[a.Id] = true
	}
	var posVecs [][]float32
	for _, id := range a.PositiveIds {
		drop[id] = true
		if j, ok := c.byID[id]; ok {
			posVecs = append(posVecs, c.items[j].vec)
			for _, g := range c.items[j].groups {
				groups[g] = true
			}
		}
	}
	for _, id := range a.ExcludeIds {
		drop[id] = true
	}
	if p.GetInBatchExclusion() {
		for j, b := range req.Anchors {
			if j == ai {
				continue
			}
			if b.Id != "" {
				drop[b.Id] = true
			}
			for _, id := range b.PositiveIds {
				drop[id] = true
			}
			for _, id := range b.ExcludeIds {
				drop[id] = true
			}
		}
	}
	key := a.Key
	if key == "" {
		key = a.Id
	}
	// Stored exclusions and reported false negatives that are not positives: their
	// near-duplicates go too.
	var exclVecs [][]float32
	addExcl := func(id string) {
		if j, ok := c.byID[id]; ok && !slices.Contains(a.PositiveIds, id) {
			exclVecs = append(exclVecs, c.items[j].vec)
		}
	}
	for _, id := range a.ExcludeIds {
		addExcl(id)
	}
	if p.GetUseFeedback() {
		for id := range c.feedback[key] {
			drop[id] = true
			addExcl(id)
		}
	}
	if len(posVecs) > 0 {
		res.hasPositive = true
		res.positiveScore = float32(math.Inf(1))
		for _, pv := range posVecs {
			res.positiveScore = min(res.positiveScore, c.sim(query, pv))
		}
	}
	sPlus := res.positiveScore

	type scored struct {
		i int
		s float32
	}
	order := make([]scored, len(c.items))
	for i, it := range c.items {
		order[i] = scored{i, c.sim(query, it.vec)}
	}
	slices.SortStableFunc(order, func(x, y scored) int {
		switch {
		case x.s > y.s:
			return -1
		case x.s < y.s:
			return 1
		}
		return 0
	})
	k := int(p.NumNegatives)
	lo, hi := int(p.RangeMin), int(p.RangeMax)
	raw := p.RankMode == hardnegv1.RankMode_RANK_MODE_RAW
	survived, rank := 0, -1
	for _, o := range order {
		if len(res.negatives) == k {
			break
		}
		it := c.items[o.i]
		if it.id == a.Id {
			continue // the anchor item has no rank
		}
		rank++
		if raw && (rank < lo || rank >= hi) {
			continue
		}
		if !c.keep(p, it, o.s, sPlus, res.hasPositive, drop, groups, posVecs, exclVecs) {
			continue
		}
		survived++
		if !raw && (survived-1 < lo || survived-1 >= hi) {
			continue
		}
		res.negatives = append(res.negatives, refNegative{it.id, o.s, rank})
	}
	res.shortfall = k - len(res.negatives)
	return res
}

// keep applies the filters to one candidate with score s.
func (c *corpus) keep(p *hardnegv1.MiningPolicy, it item, s, sPlus float32, hasPos bool, drop, groups map[string]bool, posVecs, exclVecs [][]float32) bool {
	if drop[it.id] {
		return false
	}
	if p.GetExcludeSameGroup() {
		for _, g := range it.groups {
			if groups[g] {
				return false
			}
		}
	}
	if p.GetExcludeNearDuplicates() && p.DuplicateThreshold != nil {
		for _, v := range slices.Concat(posVecs, exclVecs) {
			if c.sim(it.vec, v) >= p.GetDuplicateThreshold() {
				return false
			}
		}
	}
	if hasPos && p.AbsoluteMargin != nil && !(s < sPlus-p.GetAbsoluteMargin()) {
		return false
	}
	if hasPos && p.RelativeMargin != nil && !(s < sPlus-float32(math.Abs(float64(sPlus)))*p.GetRelativeMargin()) {
		return false
	}
	if p.MinScore != nil && s < p.GetMinScore() {
		return false
	}
	if p.MaxScore != nil && s > p.GetMaxScore() {
		return false
	}
	return true
}
