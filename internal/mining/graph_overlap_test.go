package mining

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// graphOverlap is what mining through an approximate graph returned of the reference's
// negatives: hit of total negatives over anchors anchors, of which exact ended in an
// exact scan (none should: the graph must do the work).
type graphOverlap struct {
	hit, total, anchors, exact int
}

func (o graphOverlap) value() float64 { return float64(o.hit) / float64(o.total) }

// measureGraphOverlap builds a random world of n items of dimension dim (seed picks
// the corpus and the metric) in a collection searched through its HNSW graph with
// params, mines requests random top-k requests with widening through it and through
// the reference, and counts the reference's negatives that mining returned.
func measureGraphOverlap(t *testing.T, seed uint64, n, dim, requests int, params engine.Params) graphOverlap {
	r := rand.New(rand.NewPCG(seed, 13))
	w := randomWorld(r, n, dim, overlapMetrics[seed%3])
	params.ExactThreshold = 1
	w.cfg.Params = params
	for range 20 {
		k := "i" + strconv.Itoa(r.IntN(n))
		if r.IntN(2) == 0 {
			k = "q" + strconv.Itoa(r.IntN(8))
		}
		for range 1 + r.IntN(4) {
			w.feedback[k] = append(w.feedback[k], "i"+strconv.Itoa(r.IntN(n)))
		}
	}
	// The collection keeps the fixed first-pass lead (LeadRecall -1): measuring it, the
	// dot worlds' graphs, which find less, would be scanned exactly instead, and this
	// test measures the graph.
	s := newCollectionWith(t, index.Options{LeadRecall: -1}, w.cfg, w.batchCopy(), w.feedback)
	rc := w.corpus(t, s)
	var o graphOverlap
	for q := range requests {
		req := w.randomRequest(r, s, rc)
		req.Policy.Sampling, req.Policy.Widen = SampleTop, true
		want := reference(rc, req)
		got, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatalf("seed %d request %d: %v", seed, q, err)
		}
		if err := checkInvariants(req, got); err != nil {
			t.Fatalf("seed %d request %d: %v", seed, q, err)
		}
		for i := range want {
			o.anchors++
			if got[i].ExactScan {
				o.exact++
				continue // an exact scan would match the reference whatever the graph
			}
			ids := negIDs(got[i].Negatives)
			for _, neg := range want[i].Negatives {
				o.total++
				if slices.Contains(ids, neg.ID) {
					o.hit++
				}
			}
		}
	}
	return o
}

// overlapMetrics is the metric of the world of each seed, by seed modulo 3.
var overlapMetrics = []engine.Metric{engine.Cosine, engine.Dot, engine.L2}

// overlapByMetric measures the overlap over the worlds of seeds, pooled by metric.
func overlapByMetric(t *testing.T, seeds []uint64, n, requests int, params engine.Params) map[engine.Metric]graphOverlap {
	out := map[engine.Metric]graphOverlap{}
	for _, seed := range seeds {
		o := measureGraphOverlap(t, seed, n, 32, requests, params)
		m := overlapMetrics[seed%3]
		p := out[m]
		p.hit, p.total, p.anchors, p.exact = p.hit+o.hit, p.total+o.total, p.anchors+o.anchors, p.exact+o.exact
		out[m] = p
	}
	return out
}

// TestGraphMiningOverlapsTheReference checks the graph's quality through mining: on
// 5,000-item corpora of dimension 32 (two per metric) searched through their HNSW
// graphs with default parameters, random top-k requests with widening (every rule in
// play) must return at least a bound share of the reference's negatives. Only anchors
// whose search stayed in the graph count (an exact scan matches the reference whatever
// the graph), and at least 90% of them must. Measured over six disjoint sets of seeds
// (120 requests per world): cosine 0.9976 ± 0.0029 (lowest 0.9924), dot 0.892 ± 0.013
// (lowest 0.868), L2 0.9985 ± 0.0013 (lowest 0.9967); these seeds: 1.000, 0.895, 0.997.
// A degraded graph falls under the bounds: M 2 (0.30, 0.63, 0.43), EfSearch 8 (cosine
// 0.98, L2 0.986), EfConstruction 16 (cosine 0.93, L2 0.97). Under the race detector
// it measures one 2,000-item world per metric with 120 requests (with 40, one anchor's
// two misses deep in the widening passes put L2 at 141/143, under the bound, while the
// full run measured 0.9988); make test-go runs it in full without.
func TestGraphMiningOverlapsTheReference(t *testing.T) {
	seeds, n, requests := []uint64{0, 1, 2, 3, 4, 5}, 5000, 120
	bounds := map[engine.Metric]float64{engine.Cosine: 0.99, engine.Dot: 0.86, engine.L2: 0.99}
	if raceEnabled {
		seeds, n, requests = []uint64{0, 1, 2}, 2000, 120
	}
	res := overlapByMetric(t, seeds, n, requests, engine.Params{})
	for _, m := range overlapMetrics {
		o := res[m]
		t.Logf("%s: overlap %.4f (%d/%d negatives), %d of %d anchors ended in an exact scan", m, o.value(), o.hit, o.total, o.exact, o.anchors)
		if o.total == 0 || o.exact*10 > o.anchors {
			t.Errorf("%s: %d of %d anchors ended in an exact scan, %d negatives compared: the graph was not exercised", m, o.exact, o.anchors, o.total)
			continue
		}
		if o.value() < bounds[m] {
			t.Errorf("%s: overlap with the reference %.4f (%d/%d), want ≥ %.2f", m, o.value(), o.hit, o.total, bounds[m])
		}
	}
}
