package mining

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// stParams are the arguments of sentence-transformers' mine_hard_negatives that the
// equivalence covers (sampling_strategy "top").
type stParams struct {
	numNegatives, rangeMin, rangeMax int
	absoluteMargin, relativeMargin   *float32
	maxScore, minScore               *float32
}

// stMine is sentence-transformers' mine_hard_negatives (6.3) for one query, written
// from its source: the raw top range_max + maxPositives + 1 items form the pool; the
// query's own item (self, −1 for none), positives, margin failures and items outside the
// score band get −∞; the top range_max of the pool by
// that score are kept, the first range_min of them dropped, the first num_negatives
// taken, and −∞ entries discarded (a shortfall).
func stMine(sim func(a, b []float32) float32, q []float32, corpus [][]float32, self int, positives []int, maxPositives int, p stParams) []int {
	type cand struct {
		i int
		s float64
	}
	all := make([]cand, len(corpus))
	for i, v := range corpus {
		all[i] = cand{i, float64(sim(q, v))}
	}
	sort.SliceStable(all, func(x, y int) bool { return all[x].s > all[y].s })
	pool := slices.Clone(all[:min(p.rangeMax+maxPositives+1, len(all))])
	sPlus := math.Inf(1)
	for _, pi := range positives {
		sPlus = min(sPlus, float64(sim(q, corpus[pi])))
	}
	for j := range pool {
		c := &pool[j]
		s := c.s
		switch {
		case c.i == self, slices.Contains(positives, c.i),
			p.absoluteMargin != nil && s+float64(*p.absoluteMargin) > sPlus,
			p.relativeMargin != nil && s > sPlus*(1-float64(*p.relativeMargin)),
			p.maxScore != nil && s > float64(*p.maxScore),
			p.minScore != nil && s < float64(*p.minScore):
			c.s = math.Inf(-1)
		}
	}
	sort.SliceStable(pool, func(x, y int) bool { return pool[x].s > pool[y].s })
	pool = pool[:min(p.rangeMax, len(pool))]
	pool = pool[min(p.rangeMin, len(pool)):]
	pool = pool[:min(p.numNegatives, len(pool))]
	var out []int
	for _, c := range pool {
		if !math.IsInf(c.s, -1) {
			out = append(out, c.i)
		}
	}
	return out
}

// stEquivalentPolicy is the hardneg policy that mines what mine_hard_negatives does:
// surviving ranks [range_min, range_max), the hardness floor at the raw pool's end
// range_max + maxPositives + 1, and none of the rules sentence-transformers lacks (the
// query's own item, when it has one, goes in the anchor's ExcludeIDs).
func stEquivalentPolicy(p stParams, maxPositives int) Policy {
	pol := DefaultPolicy()
	pol.NumNegatives = p.numNegatives
	pol.RangeMin, pol.RangeMax = p.rangeMin, p.rangeMax
	pol.RankMode = RankSurviving
	pol.MaxRank = p.rangeMax + maxPositives + 1
	pol.AbsoluteMargin, pol.RelativeMargin = p.absoluteMargin, p.relativeMargin
	pol.MaxScore, pol.MinScore = p.maxScore, p.minScore
	pol.ExcludeSameGroup, pol.InBatchExclusion, pol.UseFeedback, pol.NearDuplicates = false, false, false, false
	return pol
}

// TestSentenceTransformersEquivalentPolicy checks, on random clustered data, that the
// policy documented in docs/MINING.md as sentence-transformers' equivalent returns
// exactly the negatives of mine_hard_negatives (top sampling), shortfalls included.
func TestSentenceTransformersEquivalentPolicy(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 4))
	short := 0
	for trial := range 300 {
		w := randomWorld(r, 80+r.IntN(150), 4+r.IntN(8), engine.Cosine)
		s := newCollection(t, w.cfg, w.batchCopy(), nil)
		rc := w.corpus(t, s)
		corpus := make([][]float32, len(rc.items))
		for i := range rc.items {
			corpus[i] = rc.items[i].vec
		}
		q := jitter(r, w.raw[r.IntN(len(w.raw))], 0.2)
		// A third of the queries are a corpus item's own text (its vector): 6.3 never
		// returns that item.
		self := -1
		var exclude []string
		if r.IntN(3) == 0 {
			self = r.IntN(len(corpus))
			q = slices.Clone(corpus[self])
			exclude = []string{"i" + strconv.Itoa(self)}
		}
		var posIDs []string
		var positives []int
		for range 1 + r.IntN(3) {
			i := r.IntN(len(corpus))
			if !slices.Contains(positives, i) {
				positives = append(positives, i)
				posIDs = append(posIDs, "i"+strconv.Itoa(i))
			}
		}
		maxPositives := len(positives) + r.IntN(2) // the dataset's largest count
		p := stParams{numNegatives: 1 + r.IntN(6), rangeMin: r.IntN(4)}
		p.rangeMax = p.rangeMin + p.numNegatives + r.IntN(20)
		switch r.IntN(4) {
		case 0:
			p.absoluteMargin = ptr(float32(r.Float64() * 0.3))
		case 1:
			p.relativeMargin = ptr(float32(r.Float64() * 0.3))
		case 2:
			p.maxScore = ptr(float32(0.5 + r.Float64()*0.5))
		}
		if r.IntN(4) == 0 {
			p.minScore = ptr(float32(r.Float64() * 0.5))
		}
		want := stMine(s.Similarity, rc.prepare(q), corpus, self, positives, maxPositives, p)
		// Sign-safe and sign-naive relative margins agree only for s⁺ ≥ 0.
		sPlus := float32(math.Inf(1))
		for _, pi := range positives {
			sPlus = min(sPlus, s.Similarity(rc.prepare(q), corpus[pi]))
		}
		if p.relativeMargin != nil && sPlus < 0 {
			continue
		}
		res := mineOK(t, s, Request{Anchors: []Anchor{{Vector: q, PositiveIDs: posIDs, ExcludeIDs: exclude}}, Policy: stEquivalentPolicy(p, maxPositives)})[0]
		var got []int
		for _, n := range res.Negatives {
			i, _ := strconv.Atoi(n.ID[1:])
			got = append(got, i)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (%+v): hardneg %v, sentence-transformers %v", trial, p, got, want)
		}
		if res.Shortfall > 0 {
			short++
		}
	}
	if short == 0 {
		t.Fatal("no trial ran short: the shortfall case was not exercised")
	}
}
