package mining

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// TestSyntheticNegativesAreMixesOfTheHardest mines with random synthetic settings and
// checks each synthetic negative: unit norm, coefficient in its range, sources among
// the pool of hardest returned negatives (and the anchor's key for query mixes), the
// vector equal to norm(c·a + (1−c)·b) recomputed from the stored vectors, the counts
// asked for, and the same vectors for the same seed.
func TestSyntheticNegativesAreMixesOfTheHardest(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 21))
		w := randomWorld(r, 200, 8, engine.Cosine)
		s := newCollection(t, w.cfg, w.batchCopy(), nil)
		p := DefaultPolicy()
		p.NumNegatives = 2 + r.IntN(10)
		p.Seed = seed
		sy := &p.Synthetic
		sy.NumMixed, sy.NumQueryMixed, sy.Pool = r.IntN(6), r.IntN(6), r.IntN(6)
		if seed%2 == 1 {
			sy.AlphaMin, sy.AlphaMax, sy.BetaMin, sy.BetaMax = ptr(0.3), ptr(0.6), ptr(0.1), ptr(0.2)
		}
		aLo, aHi, bLo, bHi := sy.bounds()
		req := Request{Policy: p}
		for range 3 {
			req.Anchors = append(req.Anchors, Anchor{ID: w.batch.IDs[r.IntN(200)], PositiveIDs: []string{w.batch.IDs[r.IntN(200)]}})
		}
		got, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("seed %d: the same request gave different synthetic negatives", seed)
		}
		vec := func(id string) []float32 {
			var out []float32
			s.Resolve(func(lookup engine.LookupFunc) {
				v, _, _ := lookup(id)
				out = slices.Clone(v)
			})
			return out
		}
		for i, res := range got {
			pool := sy.Pool
			if pool == 0 {
				pool = DefaultSyntheticPool
			}
			var poolIDs []string
			for _, n := range res.Negatives[:min(pool, len(res.Negatives))] {
				poolIDs = append(poolIDs, n.ID)
			}
			if len(res.Synthetic)+res.SyntheticShortfall != sy.NumMixed+sy.NumQueryMixed {
				t.Fatalf("seed %d: %d synthetic + %d short, asked %d", seed, len(res.Synthetic), res.SyntheticShortfall, sy.NumMixed+sy.NumQueryMixed)
			}
			if len(poolIDs) >= 2 && res.SyntheticShortfall != 0 {
				t.Fatalf("seed %d: shortfall %d with a pool of %d", seed, res.SyntheticShortfall, len(poolIDs))
			}
			q := vec(req.Anchors[i].ID)
			for _, sn := range res.Synthetic {
				var norm float64
				for _, x := range sn.Vector {
					norm += float64(x) * float64(x)
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Fatalf("seed %d: |v|² = %v", seed, norm)
				}
				if !slices.Contains(poolIDs, sn.BID) {
					t.Fatalf("seed %d: source %s not among the hardest %v", seed, sn.BID, poolIDs)
				}
				a := q
				lo, hi := bLo, bHi
				if sn.Kind == SyntheticMixed {
					if !slices.Contains(poolIDs, sn.AID) || sn.AID == sn.BID {
						t.Fatalf("seed %d: mixed sources %s, %s (pool %v)", seed, sn.AID, sn.BID, poolIDs)
					}
					a, lo, hi = vec(sn.AID), aLo, aHi
				} else if sn.AID != req.Anchors[i].ID {
					t.Fatalf("seed %d: query mix names %q, want the anchor key", seed, sn.AID)
				}
				if sn.Coefficient < lo || sn.Coefficient > hi {
					t.Fatalf("seed %d: coefficient %v outside [%v, %v]", seed, sn.Coefficient, lo, hi)
				}
				want, _ := normMix(sn.Coefficient, a, vec(sn.BID))
				for d := range want {
					if math.Abs(float64(want[d]-sn.Vector[d])) > 1e-6 {
						t.Fatalf("seed %d: vector differs from norm(c·a + (1−c)·b) at %d", seed, d)
					}
				}
			}
		}
	}
}

// TestSyntheticNegativesLeaveNegativesAlone checks that turning synthetic negatives on
// changes nothing else of a result, and that another seed draws other mixes.
func TestSyntheticNegativesLeaveNegativesAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	w := randomWorld(r, 150, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	req := Request{Policy: DefaultPolicy(), Anchors: []Anchor{{ID: "i3"}, {Vector: w.raw[9], Key: "q"}}}
	req.Policy.NumNegatives = 8
	plain, err := Mine(context.Background(), s, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Policy.Synthetic = Synthetic{NumMixed: 4, NumQueryMixed: 4}
	mixed, err := Mine(context.Background(), s, req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range mixed {
		if len(mixed[i].Synthetic) != 8 {
			t.Fatalf("anchor %d: %d synthetic negatives, want 8", i, len(mixed[i].Synthetic))
		}
		m := mixed[i]
		m.Synthetic = nil
		if !reflect.DeepEqual(m, plain[i]) {
			t.Fatalf("anchor %d: synthetic negatives changed the result", i)
		}
	}
	req.Policy.Seed = 1
	other, err := Mine(context.Background(), s, req)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(other[0].Synthetic, mixed[0].Synthetic) {
		t.Fatal("seeds 0 and 1 drew the same synthetic negatives")
	}
}

// TestSyntheticValidation checks the synthetic fields' checks, by field name.
func TestSyntheticValidation(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	cos := randomWorld(r, 20, 4, engine.Cosine)
	dot := randomWorld(r, 20, 4, engine.Dot)
	sc := newCollection(t, cos.cfg, cos.batchCopy(), nil)
	sd := newCollection(t, dot.cfg, dot.batchCopy(), nil)
	for _, c := range []struct {
		field string
		s     Searcher
		sy    Synthetic
	}{
		{"policy.synthetic.num_mixed", sc, Synthetic{NumMixed: -1}},
		{"policy.synthetic.num_query_mixed", sc, Synthetic{NumQueryMixed: MaxSynthetic + 1}},
		{"policy.synthetic.alpha_max", sc, Synthetic{NumMixed: 1, AlphaMax: ptr(1.5)}},
		{"policy.synthetic.beta_min", sc, Synthetic{NumMixed: 1, BetaMin: ptr(0.6)}},
		{"policy.synthetic.beta_max", sc, Synthetic{NumQueryMixed: 1, BetaMin: ptr(1), BetaMax: ptr(1)}}, // the query itself
		{"policy.synthetic.pool", sc, Synthetic{NumMixed: 1, Pool: -2}},
		{"policy.synthetic", sd, Synthetic{NumMixed: 1}},
	} {
		req := Request{Policy: DefaultPolicy(), Anchors: []Anchor{{ID: "i1"}}}
		req.Policy.Synthetic = c.sy
		_, err := Mine(context.Background(), c.s, req)
		var v *validate.Error
		if !errors.As(err, &v) || !slices.ContainsFunc(v.Violations, func(f validate.Violation) bool { return f.Field == c.field }) {
			t.Fatalf("%s: got %v", c.field, err)
		}
	}
}
