package mining

import (
	"math"
	"math/rand/v2"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// Limits of the synthetic negatives (Policy.Synthetic).
const (
	// MaxSynthetic bounds NumMixed and NumQueryMixed, each.
	MaxSynthetic = 1024
	// DefaultSyntheticPool is the number of hardest returned negatives mixed from when
	// Synthetic.Pool is 0 (MoCHi mixes among the hardest 32 negatives of a query).
	DefaultSyntheticPool = 32
)

// SyntheticKind says how a synthetic negative was mixed.
type SyntheticKind int

// Synthetic kinds.
const (
	// SyntheticMixed is norm(α·nᵢ + (1−α)·nⱼ) of two returned negatives.
	SyntheticMixed SyntheticKind = iota + 1
	// SyntheticQuery is norm(β·q + (1−β)·nⱼ) of the anchor's query and a returned
	// negative.
	SyntheticQuery
)

// Synthetic configures MoCHi-style synthetic negatives (Kalantidis et al. 2020): vectors
// mixed from the hardest negatives returned for an anchor, and from the anchor's query
// with one of them. They are returned beside the negatives (Result.Synthetic), never
// among them. The zero value is off. They need a cosine collection (the mixes are
// normalised) and are drawn reproducibly from Policy.Seed and the anchor's position.
type Synthetic struct {
	// NumMixed is the number of norm(α·nᵢ + (1−α)·nⱼ) mixes per anchor, i ≠ j drawn
	// uniformly among the pool, α uniform in [AlphaMin, AlphaMax]. 0: none.
	NumMixed int
	// AlphaMin and AlphaMax bound α; nil: 0 and 1 (MoCHi's α ~ U(0, 1)).
	AlphaMin, AlphaMax *float32
	// NumQueryMixed is the number of norm(β·q + (1−β)·nⱼ) mixes per anchor, j drawn
	// uniformly among the pool, β uniform in [BetaMin, BetaMax]. 0: none.
	NumQueryMixed int
	// BetaMin and BetaMax bound β; nil: 0 and 0.5 (MoCHi's β ~ U(0, 0.5), so that the
	// query's share stays below the negative's).
	BetaMin, BetaMax *float32
	// Pool is the number of hardest returned negatives (by raw rank) mixed from; 0:
	// DefaultSyntheticPool. Mixing pairs needs at least two negatives in the pool,
	// query mixing one; an anchor with fewer gets fewer synthetic negatives
	// (Result.SyntheticShortfall).
	Pool int
}

// on reports whether any synthetic negative is asked for.
func (s *Synthetic) on() bool { return s.NumMixed > 0 || s.NumQueryMixed > 0 }

// bounds returns the effective ranges of α and β.
func (s *Synthetic) bounds() (aLo, aHi, bLo, bHi float32) {
	aLo, aHi, bLo, bHi = 0, 1, 0, 0.5
	if s.AlphaMin != nil {
		aLo = *s.AlphaMin
	}
	if s.AlphaMax != nil {
		aHi = *s.AlphaMax
	}
	if s.BetaMin != nil {
		bLo = *s.BetaMin
	}
	if s.BetaMax != nil {
		bHi = *s.BetaMax
	}
	return
}

// validate checks the synthetic fields of a policy for metric m.
func (s *Synthetic) validate(e *validate.Error, field string, m engine.Metric) {
	if s.NumMixed < 0 || s.NumMixed > MaxSynthetic {
		e.Add(field+".num_mixed", "must be 0–%d, got %d", MaxSynthetic, s.NumMixed)
	}
	if s.NumQueryMixed < 0 || s.NumQueryMixed > MaxSynthetic {
		e.Add(field+".num_query_mixed", "must be 0–%d, got %d", MaxSynthetic, s.NumQueryMixed)
	}
	if s.Pool < 0 || s.Pool > MaxNumNegatives {
		e.Add(field+".pool", "must be 0–%d, got %d", MaxNumNegatives, s.Pool)
	}
	outside := map[byte]bool{} // 'a', 'b': a bound of alpha, beta outside [0, 1]
	for _, f := range []struct {
		name string
		v    *float32
	}{{"alpha_min", s.AlphaMin}, {"alpha_max", s.AlphaMax}, {"beta_min", s.BetaMin}, {"beta_max", s.BetaMax}} {
		if f.v != nil && !(*f.v >= 0 && *f.v <= 1) {
			e.Add(field+"."+f.name, "must be in [0, 1], got %v", *f.v)
			outside[f.name[0]] = true
		} else if f.v != nil && f.name[0] == 'b' && *f.v == 1 {
			e.Add(field+"."+f.name, "must be below 1 (β = 1 mixes in nothing of the negative: the result is the anchor's own query), got %v", *f.v)
			outside['b'] = true
		}
	}
	aLo, aHi, bLo, bHi := s.bounds()
	if aLo > aHi && !outside['a'] { // a bound outside [0, 1] is reported once, above
		e.Add(field+".alpha_min", "%v is above alpha_max %v", aLo, aHi)
	}
	if bLo > bHi && !outside['b'] {
		e.Add(field+".beta_min", "%v is above beta_max %v", bLo, bHi)
	}
	if s.on() && m != engine.Cosine {
		e.Add(field, "synthetic negatives are normalised mixes and need a cosine collection, not %s", m)
	}
}

// SyntheticNegative is one mixed vector: Vector = norm(Coefficient·A + (1 − Coefficient)·B)
// where A is the negative AID (SyntheticMixed) or the anchor's query (SyntheticQuery:
// AID is the anchor's key, or "" for a vector anchor without one) and B the negative
// BID.
type SyntheticNegative struct {
	Kind        SyntheticKind
	AID, BID    string
	Coefficient float32
	Vector      []float32
}

// syntheticSeedTweak separates the synthetic draws from the sampler's (both are seeded
// by Policy.Seed and the anchor's position).
const syntheticSeedTweak = 0x6d6f636869 // "mochi"

// synthesize adds the synthetic negatives of every anchor to results, from the
// returned negatives' stored vectors.
func synthesize(s Searcher, pol *Policy, anchors []prepared, results []Result) {
	sy := &pol.Synthetic
	if !sy.on() {
		return
	}
	pool := sy.Pool
	if pool == 0 {
		pool = DefaultSyntheticPool
	}
	s.Resolve(func(lookup engine.LookupFunc) {
		for i := range results {
			r := &results[i]
			ns := r.Negatives // hardness order
			if len(ns) > pool {
				ns = ns[:pool]
			}
			vecs := make([][]float32, 0, len(ns))
			ids := make([]string, 0, len(ns))
			for _, n := range ns {
				if v, _, ok := lookup(n.ID); ok {
					vecs = append(vecs, v)
					ids = append(ids, n.ID)
				}
			}
			rng := rand.New(rand.NewPCG(pol.Seed^syntheticSeedTweak, anchors[i].draw))
			r.Synthetic, r.SyntheticShortfall = mix(rng, sy, anchors[i].query, anchors[i].key, ids, vecs)
		}
	})
}

// mix draws the synthetic negatives of one anchor from the pool (ids, vecs: prepared,
// hardness order) and its query q.
func mix(rng *rand.Rand, sy *Synthetic, q []float32, key string, ids []string, vecs [][]float32) ([]SyntheticNegative, int) {
	aLo, aHi, bLo, bHi := sy.bounds()
	var out []SyntheticNegative
	short := 0
	// A draw whose mix has (near) zero norm, i.e. two (near) opposite vectors mixed
	// half and half, is drawn again, a bounded number of times.
	const tries = 8
	for range sy.NumMixed {
		if len(vecs) < 2 {
			short++
			continue
		}
		ok := false
		for range tries {
			i := rng.IntN(len(vecs))
			j := rng.IntN(len(vecs) - 1)
			if j >= i {
				j++
			}
			a := aLo + (aHi-aLo)*rng.Float32()
			if v, good := normMix(a, vecs[i], vecs[j]); good {
				out = append(out, SyntheticNegative{Kind: SyntheticMixed, AID: ids[i], BID: ids[j], Coefficient: a, Vector: v})
				ok = true
				break
			}
		}
		if !ok {
			short++
		}
	}
	for range sy.NumQueryMixed {
		if len(vecs) < 1 {
			short++
			continue
		}
		ok := false
		for range tries {
			j := rng.IntN(len(vecs))
			b := bLo + (bHi-bLo)*rng.Float32()
			if v, good := normMix(b, q, vecs[j]); good {
				out = append(out, SyntheticNegative{Kind: SyntheticQuery, AID: key, BID: ids[j], Coefficient: b, Vector: v})
				ok = true
				break
			}
		}
		if !ok {
			short++
		}
	}
	return out, short
}

// normMix returns c·a + (1−c)·b scaled to unit norm (computed in float64), and false
// when its norm is too small to normalise reliably.
func normMix(c float32, a, b []float32) ([]float32, bool) {
	out := make([]float32, len(a))
	cf := float64(c)
	var ss float64
	for i := range a {
		x := cf*float64(a[i]) + (1-cf)*float64(b[i])
		ss += x * x
	}
	n := math.Sqrt(ss)
	if !(n > 1e-6) {
		return nil, false
	}
	for i := range a {
		out[i] = float32((cf*float64(a[i]) + (1-cf)*float64(b[i])) / n)
	}
	return out, true
}
