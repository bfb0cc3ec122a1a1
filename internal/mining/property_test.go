package mining

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

var _ Searcher = engine.Collection(nil)

// searcherFactory builds a Searcher holding items (cfg names the collection, its
// metric and dimension) with the given false-negative verdicts. The property tests
// run against every factory in searcherFactories.
type searcherFactory func(t *testing.T, cfg engine.Config, items *engine.Batch, feedback map[string][]string) Searcher

// newCollection is the factory for a real collection of an index.DB with cfg.Params.
func newCollection(t *testing.T, cfg engine.Config, items *engine.Batch, feedback map[string][]string) Searcher {
	t.Helper()
	return newCollectionWith(t, index.Options{}, cfg, items, feedback)
}

// newCollectionWith is newCollection in a DB opened with opts (Dir is set here).
func newCollectionWith(t *testing.T, opts index.Options, cfg engine.Config, items *engine.Batch, feedback map[string][]string) Searcher {
	t.Helper()
	opts.Dir = t.TempDir()
	db, err := index.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.CreateCollection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if items.Len() > 0 {
		if _, err := db.Upsert(cfg.Name, items, "items"); err != nil {
			t.Fatal(err)
		}
	}
	for k, ids := range feedback {
		if _, err := db.ReportFalseNegatives(cfg.Name, []engine.FalseNegativeReport{{Key: k, IDs: ids}}, "reports"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// searcherCase is a searcher under test and what it must achieve against the
// reference: identical results (exact search), or the invariants every searcher keeps
// (approximate search; its overlap with the reference is checked on corpora where the
// graph matters, TestGraphMiningOverlapsTheReference).
type searcherCase struct {
	name      string
	params    engine.Params
	factory   searcherFactory
	identical bool
}

// searcherCases lists the searchers the property tests check: the exact scan must match
// the reference exactly, the HNSW graph (forced by ExactThreshold 1) must keep the
// invariants.
var searcherCases = []searcherCase{
	{name: "exact", factory: newCollection, identical: true},
	{name: "hnsw", params: engine.Params{ExactThreshold: 1}, factory: newCollection},
}

// world is a random corpus with groups, near-duplicates and feedback.
type world struct {
	cfg      engine.Config
	batch    *engine.Batch // as sent (raw vectors)
	raw      [][]float32
	groups   [][]string
	feedback map[string][]string
}

func randVec(r *rand.Rand, dim int, scale float64) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func jitter(r *rand.Rand, v []float32, eps float64) []float32 {
	out := slices.Clone(v)
	for i := range out {
		out[i] += float32(r.NormFloat64() * eps)
	}
	return out
}

// randomWorld makes n clustered items of dimension dim, about a tenth of them
// near-duplicates of another item, with up to two groups each from a small pool.
func randomWorld(r *rand.Rand, n, dim int, metric engine.Metric) *world {
	w := &world{cfg: engine.Config{Name: "w", Dim: dim, Metric: metric}, feedback: map[string][]string{}}
	centers := make([][]float32, 6)
	for i := range centers {
		centers[i] = randVec(r, dim, 1)
	}
	b := &engine.Batch{Groups: make([][]string, n)}
	for i := range n {
		var v []float32
		if i > 0 && r.IntN(10) == 0 {
			v = jitter(r, w.raw[r.IntN(i)], 0.02)
		} else {
			v = jitter(r, centers[r.IntN(len(centers))], 0.6)
		}
		w.raw = append(w.raw, v)
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, v...)
		var gs []string
		for range r.IntN(3) {
			g := "g" + strconv.Itoa(r.IntN(25))
			if !slices.Contains(gs, g) {
				gs = append(gs, g)
			}
		}
		b.Groups[i] = gs
		b.Versions = append(b.Versions, int64(r.IntN(20)))
	}
	w.batch = b
	w.groups = b.Groups
	return w
}

// batchCopy returns a copy of the world's batch (upserts normalise vectors in place).
func (w *world) batchCopy() *engine.Batch {
	return &engine.Batch{IDs: slices.Clone(w.batch.IDs), Vectors: slices.Clone(w.batch.Vectors), Groups: w.batch.Groups, Versions: w.batch.Versions}
}

// corpus returns what the reference knows about w, scoring with s's similarity.
func (w *world) corpus(t *testing.T, s Searcher) *refCorpus {
	rc := &refCorpus{feedback: map[string]map[string]bool{}, sim: s.Similarity, metric: s.Metric()}
	_, rc.measuresBackground = s.(backgroundMeasurer)
	rc.prepare = func(v []float32) []float32 {
		q, err := s.PrepareQuery(v, "v")
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for i, id := range w.batch.IDs {
		rc.items = append(rc.items, refItem{id: id, vec: rc.prepare(w.raw[i]), groups: w.groups[i], version: w.batch.Versions[i]})
	}
	for k, ids := range w.feedback {
		if rc.feedback[k] == nil {
			rc.feedback[k] = map[string]bool{}
		}
		for _, id := range ids {
			rc.feedback[k][id] = true
		}
	}
	return rc
}

// scoreQuantile returns the similarity of a random item to the item at the given
// quantile of its neighbours (0: nearest), a threshold on the scale of the metric.
func (w *world) scoreQuantile(r *rand.Rand, s Searcher, rc *refCorpus, q float64) float32 {
	a := rc.items[r.IntN(len(rc.items))].vec
	scores := make([]float32, 0, len(rc.items))
	for _, it := range rc.items {
		scores = append(scores, s.Similarity(a, it.vec))
	}
	sort.Slice(scores, func(i, j int) bool { return scores[i] > scores[j] })
	return scores[min(len(scores)-1, int(q*float64(len(scores))))]
}

func ptr(v float32) *float32 { return &v }

// randomRequest draws anchors (id, vector, or both; positives of varying counts,
// stored, unknown and raw; exclusions; groups) and a random policy.
func (w *world) randomRequest(r *rand.Rand, s Searcher, rc *refCorpus) Request {
	n := len(w.batch.IDs)
	item := func() string { return w.batch.IDs[r.IntN(n)] }
	var req Request
	for range 1 + r.IntN(5) {
		var a Anchor
		switch r.IntN(3) {
		case 0:
			a.ID = item()
		case 1:
			a.Vector = jitter(r, w.raw[r.IntN(n)], 0.3)
			a.Key = "q" + strconv.Itoa(r.IntN(8))
		default:
			a.ID = item()
			a.Vector = jitter(r, w.raw[r.IntN(n)], 0.1)
		}
		for range r.IntN(5) {
			if r.IntN(6) == 0 {
				a.PositiveIDs = append(a.PositiveIDs, "ghost"+strconv.Itoa(r.IntN(3)))
			} else {
				a.PositiveIDs = append(a.PositiveIDs, item())
			}
		}
		for range r.IntN(3) {
			a.PositiveVectors = append(a.PositiveVectors, jitter(r, w.raw[r.IntN(n)], 0.05))
		}
		nx := r.IntN(4)
		if r.IntN(4) == 0 { // many: the near-duplicate rule then reads a sorted prefix of them
			nx = 20 + r.IntN(40)
		}
		for range nx {
			a.ExcludeIDs = append(a.ExcludeIDs, item())
		}
		for range r.IntN(3) {
			a.Groups = append(a.Groups, "g"+strconv.Itoa(r.IntN(25)))
		}
		req.Anchors = append(req.Anchors, a)
	}
	p := DefaultPolicy()
	p.NumNegatives = 1 + r.IntN(8)
	p.ExcludeSameGroup = r.IntN(2) == 0
	p.InBatchExclusion = r.IntN(3) > 0
	p.UseFeedback = r.IntN(3) > 0
	maybe := func(f func() float32) *float32 {
		if r.IntN(3) == 0 {
			return ptr(f())
		}
		return nil
	}
	p.NearDuplicates = r.IntN(4) > 0
	p.DuplicateThreshold = maybe(func() float32 { return w.scoreQuantile(r, s, rc, 0.02*r.Float64()) })
	p.DuplicateMargin = maybe(func() float32 {
		return float32(r.Float64()-0.3) * abs32(w.scoreQuantile(r, s, rc, 0)-w.scoreQuantile(r, s, rc, 0.5))
	})
	p.PFNThreshold = maybe(func() float32 { return float32(r.Float64() * r.Float64()) })
	if r.IntN(3) == 0 {
		b := r.IntN(6)
		p.PFNBudget = &b
	}
	spread := w.scoreQuantile(r, s, rc, 0) - w.scoreQuantile(r, s, rc, 0.5)
	p.AbsoluteMargin = maybe(func() float32 { return float32(r.Float64()) * abs32(spread) * 0.3 })
	p.RelativeMargin = maybe(func() float32 { return float32(r.Float64() * 0.3) })
	p.MaxScore = maybe(func() float32 { return w.scoreQuantile(r, s, rc, 0.1*r.Float64()) })
	if r.IntN(4) == 0 {
		lo := w.scoreQuantile(r, s, rc, 0.3+0.6*r.Float64())
		if p.MaxScore == nil || lo <= *p.MaxScore {
			p.MinScore = &lo
		}
	}
	p.RangeMin = r.IntN(3) * r.IntN(4)
	if r.IntN(2) == 0 {
		p.RangeMax = p.RangeMin + p.NumNegatives + r.IntN(30)
	}
	p.RankMode = RankMode(r.IntN(2))
	p.Sampling = Sampling(r.IntN(5))
	p.Temperature = float32(0.01 + r.Float64())
	p.SimANSA = float32(0.5 + 5*r.Float64())
	p.SimANSB = float32(0.4*r.Float64() - 0.2)
	p.Seed = r.Uint64()
	p.DiversityThreshold = maybe(func() float32 { return w.scoreQuantile(r, s, rc, 0.05*r.Float64()) })
	p.Widen = r.IntN(4) > 0
	if r.IntN(4) == 0 {
		p.MaxExamined = 10 + r.IntN(200)
	}
	switch r.IntN(4) {
	case 0:
		p.MaxRank = p.RangeMin + 1 + r.IntN(60) // above range_min: a floor at or below it is refused
	case 1:
		p.MaxRank = NoMaxRank
	}
	if r.IntN(3) == 0 {
		v := int64(r.IntN(22))
		p.MinVersion = &v
	}
	if r.IntN(3) == 0 {
		v := int64(r.IntN(22))
		p.MaxStaleness = &v
	}
	p.StaleRule = StaleRule(r.IntN(2))
	req.Policy = p
	req.IncludeVectors = r.IntN(4) == 0
	return req
}

// compareResults reports the first difference between got and want.
func compareResults(got, want []Result) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		gi, wi := negIDs(g.Negatives), negIDs(w.Negatives)
		if !slices.Equal(gi, wi) {
			return fmt.Errorf("anchor %d: negatives %v, want %v", i, gi, wi)
		}
		for j := range w.Negatives {
			gn, wn := g.Negatives[j], w.Negatives[j]
			if gn.Rank != wn.Rank || math.Abs(float64(gn.Score-wn.Score)) > 1e-5 || len(gn.Vector) != len(wn.Vector) ||
				gn.HasPFN != wn.HasPFN || math.Abs(float64(gn.PFN-wn.PFN)) > 1e-5 || gn.Version != wn.Version || gn.Stale != wn.Stale {
				return fmt.Errorf("anchor %d negative %d: %+v, want %+v", i, j, gn, wn)
			}
		}
		if g.Removed != w.Removed || g.Examined != w.Examined || g.Unsampled != w.Unsampled || g.Shortfall != w.Shortfall {
			return fmt.Errorf("anchor %d: removed %+v examined %d unsampled %d shortfall %d; want %+v, %d, %d, %d",
				i, g.Removed, g.Examined, g.Unsampled, g.Shortfall, w.Removed, w.Examined, w.Unsampled, w.Shortfall)
		}
		if g.HasPositiveScore != w.HasPositiveScore || math.Abs(float64(g.PositiveScore-w.PositiveScore)) > 1e-5 {
			return fmt.Errorf("anchor %d: s⁺ %v/%v, want %v/%v", i, g.PositiveScore, g.HasPositiveScore, w.PositiveScore, w.HasPositiveScore)
		}
		if g.HasDuplicateThreshold != w.HasDuplicateThreshold || g.DuplicateThreshold != w.DuplicateThreshold {
			return fmt.Errorf("anchor %d: duplicate threshold %v/%v, want %v/%v", i, g.DuplicateThreshold, g.HasDuplicateThreshold, w.DuplicateThreshold, w.HasDuplicateThreshold)
		}
		if g.MaxRank != w.MaxRank || g.FloorReached != w.FloorReached {
			return fmt.Errorf("anchor %d: floor %d reached %v, want %d, %v", i, g.MaxRank, g.FloorReached, w.MaxRank, w.FloorReached)
		}
		if !slices.Equal(g.UnknownPositiveIDs, w.UnknownPositiveIDs) {
			return fmt.Errorf("anchor %d: unknown positives %v, want %v", i, g.UnknownPositiveIDs, w.UnknownPositiveIDs)
		}
		if g.Examined != g.Removed.Total()+len(g.Negatives)+g.Unsampled {
			return fmt.Errorf("anchor %d: examined %d ≠ removed %d + negatives %d + unsampled %d", i, g.Examined, g.Removed.Total(), len(g.Negatives), g.Unsampled)
		}
	}
	return nil
}

// checkInvariants checks what must hold for any searcher: the counts add up, nothing
// forbidden is returned, k is never exceeded and negatives come in rank order.
func checkInvariants(req Request, got []Result) error {
	for i, g := range got {
		a := req.Anchors[i]
		if g.Examined != g.Removed.Total()+len(g.Negatives)+g.Unsampled {
			return fmt.Errorf("anchor %d: examined %d ≠ removed %d + negatives %d + unsampled %d", i, g.Examined, g.Removed.Total(), len(g.Negatives), g.Unsampled)
		}
		if len(g.Negatives) > req.Policy.NumNegatives || g.Shortfall != req.Policy.NumNegatives-len(g.Negatives) {
			return fmt.Errorf("anchor %d: %d negatives, shortfall %d", i, len(g.Negatives), g.Shortfall)
		}
		for j, n := range g.Negatives {
			if n.ID == a.ID || slices.Contains(a.PositiveIDs, n.ID) || slices.Contains(a.ExcludeIDs, n.ID) {
				return fmt.Errorf("anchor %d: returned its own id, positive or exclusion %s", i, n.ID)
			}
			if j > 0 && n.Rank < g.Negatives[j-1].Rank {
				return fmt.Errorf("anchor %d: negatives out of rank order", i)
			}
		}
	}
	return nil
}

func negIDs(ns []Negative) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// TestMineMatchesReferenceOnRandomData draws random corpora (three metrics, groups,
// near-duplicates, feedback) and random requests, and checks Mine against the
// reference implementation: identical results through the exact index, the invariants
// through an approximate one (on corpora this small its graph search is close to
// exhaustive; TestGraphMiningOverlapsTheReference measures the overlap at size).
func TestMineMatchesReferenceOnRandomData(t *testing.T) {
	for _, sc := range searcherCases {
		t.Run(sc.name, func(t *testing.T) {
			var graphSearches int
			for seed := range uint64(40) {
				r := rand.New(rand.NewPCG(seed, 7))
				metric := []engine.Metric{engine.Cosine, engine.Dot, engine.L2}[seed%3]
				w := randomWorld(r, 120+r.IntN(200), 4+r.IntN(12), metric)
				w.cfg.Params = sc.params
				for range 6 {
					k := "i" + strconv.Itoa(r.IntN(len(w.raw)))
					if r.IntN(2) == 0 {
						k = "q" + strconv.Itoa(r.IntN(8))
					}
					for range 1 + r.IntN(4) {
						w.feedback[k] = append(w.feedback[k], "i"+strconv.Itoa(r.IntN(len(w.raw))))
					}
				}
				s := sc.factory(t, w.cfg, w.batchCopy(), w.feedback)
				rc := w.corpus(t, s)
				for q := range 12 {
					req := w.randomRequest(r, s, rc)
					want := reference(rc, req)
					got, err := Mine(context.Background(), s, req)
					if err != nil {
						t.Fatalf("seed %d request %d: %v", seed, q, err)
					}
					for i := range got {
						if !got[i].ExactScan {
							graphSearches++
						}
					}
					if sc.identical {
						if err := compareResults(got, want); err != nil {
							t.Fatalf("seed %d request %d (%s, policy %+v): %v", seed, q, metric, req.Policy, err)
						}
						continue
					}
					if err := checkInvariants(req, got); err != nil {
						t.Fatalf("seed %d request %d: %v", seed, q, err)
					}
				}
			}
			if !sc.identical && graphSearches == 0 {
				t.Fatal("every search was an exact scan; the approximate index was not exercised")
			}
		})
	}
}
