package mining

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// guideWorld adds to w a guide space: for most items (some are missing) a vector of
// dimension gdim that is a fixed random projection of the item's vector plus noise, so
// that guide and training similarities agree only roughly.
func guideWorld(t *testing.T, r *rand.Rand, w *world, gdim int, metric engine.Metric) (Searcher, *refCorpus, [][]float32) {
	dim := w.cfg.Dim
	proj := make([][]float32, gdim)
	for i := range proj {
		proj[i] = randVec(r, dim, 1)
	}
	project := func(v []float32) []float32 {
		out := make([]float32, gdim)
		for i := range out {
			for j, x := range v {
				out[i] += proj[i][j] * x
			}
			out[i] += float32(r.NormFloat64() * 0.3)
		}
		return out
	}
	b := &engine.Batch{}
	var raw [][]float32
	for i, v := range w.raw {
		if r.IntN(8) == 0 {
			continue
		}
		gv := project(v)
		raw = append(raw, gv)
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, gv...)
	}
	keep := slices.Clone(b.Vectors)
	g := newCollection(t, engine.Config{Name: "g", Dim: gdim, Metric: metric}, b, nil)
	rc := &refCorpus{sim: g.Similarity, metric: metric}
	rc.prepare = func(v []float32) []float32 {
		q, err := g.PrepareQuery(v, "v")
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for i, id := range b.IDs {
		rc.items = append(rc.items, refItem{id: id, vec: rc.prepare(keep[i*gdim : (i+1)*gdim])})
	}
	return g, rc, raw
}

// TestGuideRulesMatchReference checks the guide margin and guide near-duplicate rules
// against the reference on random corpora with a correlated guide space, exactly.
func TestGuideRulesMatchReference(t *testing.T) {
	removedByGuide := 0
	for seed := range uint64(24) {
		r := rand.New(rand.NewPCG(seed, 31))
		metric := []engine.Metric{engine.Cosine, engine.Dot, engine.L2}[seed%3]
		w := randomWorld(r, 120+r.IntN(150), 4+r.IntN(8), metric)
		s := newCollection(t, w.cfg, w.batchCopy(), nil)
		rc := w.corpus(t, s)
		g, grc, graw := guideWorld(t, r, w, 3+r.IntN(6), metric)
		rc.guide = grc
		for q := range 8 {
			req := w.randomRequest(r, s, rc)
			req.Guide = g
			if r.IntN(4) > 0 {
				// GISTEmbed's default margin 0, or a small positive one.
				req.Policy.GuideMargin = ptr(float32(r.IntN(2)) * float32(r.Float64()) * 0.2)
			}
			if r.IntN(2) == 0 || req.Policy.GuideMargin == nil {
				sc := grc.sim(grc.items[0].vec, grc.items[1].vec)
				req.Policy.GuideDuplicateThreshold = ptr(max(sc, grc.sim(grc.items[2].vec, grc.items[3].vec)))
			}
			for i := range req.Anchors {
				a := &req.Anchors[i]
				if r.IntN(2) == 0 {
					a.GuideVector = jitter(r, graw[r.IntN(len(graw))], 0.2)
				}
				if r.IntN(3) == 0 {
					a.GuidePositiveVectors = append(a.GuidePositiveVectors, jitter(r, graw[r.IntN(len(graw))], 0.1))
				}
			}
			want := reference(rc, req)
			got, err := Mine(context.Background(), s, req)
			if err != nil {
				t.Fatalf("seed %d request %d: %v", seed, q, err)
			}
			if err := compareResults(got, want); err != nil {
				t.Fatalf("seed %d request %d (%s, policy %+v): %v", seed, q, metric, req.Policy, err)
			}
			for i := range got {
				removedByGuide += got[i].Removed.Guide
				if got[i].HasGuidePositiveScore != want[i].HasGuidePositiveScore || got[i].GuidePositiveScore != want[i].GuidePositiveScore {
					t.Fatalf("seed %d request %d anchor %d: guide s⁺ %v/%v, want %v/%v", seed, q, i, got[i].GuidePositiveScore, got[i].HasGuidePositiveScore, want[i].GuidePositiveScore, want[i].HasGuidePositiveScore)
				}
			}
		}
	}
	if removedByGuide == 0 {
		t.Fatal("the guide rules removed nothing: not exercised")
	}
}

// TestGuideMarginMasksWhatTheGuideRanksAboveThePositive: in the training space every
// candidate looks like a hard negative; the guide says c1 is closer to the anchor than
// the positive (a likely false negative), so the guide margin drops it, and the guide
// near-duplicate threshold drops c2, the positive's copy in the guide space.
func TestGuideMarginMasksWhatTheGuideRanksAboveThePositive(t *testing.T) {
	s := build(t, engine.Dot, line(6)...)
	g := build(t, engine.Dot,
		it{id: "x0", v: []float32{1, 0}},      // positive: guide(a, p) = 0.5 for a = (0.5, 0.5)
		it{id: "x1", v: []float32{0.6, 0.6}},  // guide(a, x1) = 0.6 ≥ 0.5: masked
		it{id: "x2", v: []float32{0.95, 0.1}}, // guide(p, x2) = 0.95: a guide near-duplicate
		it{id: "x3", v: []float32{0, 0.5}},    // guide(a, x3) = 0.25: kept
		it{id: "x4", v: []float32{0, 0.4}},
	) // x5 has no guide vector: kept
	req := Request{Anchors: []Anchor{{Vector: q10, PositiveIDs: []string{"x0"}, GuideVector: []float32{0.5, 0.5}}},
		Policy: policy(3, func(p *Policy) { p.GuideMargin, p.GuideDuplicateThreshold = ptr(0), ptr(0.9) }), Guide: g}
	res := mineOK(t, s, req)[0]
	if got := ids(res); !slices.Equal(got, []string{"x3", "x4", "x5"}) || res.Removed.Guide != 2 || res.GuidePositiveScore != 0.5 {
		t.Errorf("negatives %v, guide removals %d, guide s⁺ %v; want [x3 x4 x5], 2, 0.5", got, res.Removed.Guide, res.GuidePositiveScore)
	}
	req.Policy.GuideMargin, req.Policy.GuideDuplicateThreshold = nil, nil
	req.Anchors[0].GuideVector = nil
	if got := ids(mineOK(t, s, req)[0]); !slices.Equal(got, []string{"x1", "x2", "x3"}) {
		t.Errorf("without guide rules: %v", got)
	}
	// Guide inputs are checked.
	for _, tc := range []struct {
		req   Request
		field string
	}{
		{Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(1, func(p *Policy) { p.GuideMargin = ptr(0) })}, "policy.guide_collection"},
		{Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(1, func(p *Policy) { p.GuideMargin = ptr(0) }), Guide: s}, "policy.guide_collection"},
		// the searched collection as its own guide is refused without a guide rule too
		{Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(1, nil), Guide: s}, "policy.guide_collection"},
		{Request{Anchors: []Anchor{{Vector: q10, GuideVector: []float32{1}}}, Policy: policy(1, func(p *Policy) { p.GuideMargin = ptr(0) }), Guide: g}, "anchors[0].guide_vector"},
		{Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(1, func(p *Policy) { p.GuideMargin = ptr(-1) }), Guide: g}, "policy.guide_margin"},
	} {
		_, err := Mine(context.Background(), s, tc.req)
		var v *validate.Error
		if !errors.As(err, &v) || !slices.ContainsFunc(v.Violations, func(x validate.Violation) bool { return x.Field == tc.field }) {
			t.Errorf("%+v: %v, want a violation of %s", tc.req.Policy, err, tc.field)
		}
	}
}
