package mining

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

func TestScoreScaleIsTheIdentityUpToTheReference(t *testing.T) {
	for _, b := range []float64{-0.1, 0, 0.1, BackgroundReference, math.NaN()} {
		sc := newScoreScale(b)
		if !sc.identity() {
			t.Fatalf("background %v: scale %+v, want the identity", b, sc)
		}
		for _, s := range []float32{-0.3, 0, 0.42, 0.8, 1} {
			if sc.score(s) != s || sc.raw(s) != s || sc.diff(s) != s {
				t.Fatalf("background %v: %v maps to %v / %v / %v", b, s, sc.score(s), sc.raw(s), sc.diff(s))
			}
		}
		if got, want := sc.pfn(0.5, 0.6, 0.7), falseNegativeProbability(0.5, 0.6, 0.7); got != want {
			t.Fatalf("background %v: p_fn %v, want %v", b, got, want)
		}
	}
}

func TestScoreScaleMapsTheBackgroundToTheReference(t *testing.T) {
	sc := newScoreScale(0.75)
	if got := sc.score(0.75); math.Abs(float64(got)-BackgroundReference) > 1e-6 {
		t.Fatalf("the background maps to %v, want %v", got, BackgroundReference)
	}
	if got := sc.score(1); math.Abs(float64(got)-1) > 1e-6 {
		t.Fatalf("1 maps to %v", got)
	}
	// 0.80 on the reference scale is 0.75 + 0.55·0.25/0.75 raw.
	if got, want := sc.raw(0.80), float32(0.75+0.55/3); math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("raw(0.80) = %v, want %v", got, want)
	}
	for _, s := range []float32{0.7, 0.8, 0.9, 0.95} {
		if back := sc.raw(sc.score(s)); math.Abs(float64(back-s)) > 1e-6 {
			t.Fatalf("raw(score(%v)) = %v", s, back)
		}
	}
	// Differences stretch by 0.75 / 0.25.
	if got := sc.diff(-0.02); math.Abs(float64(got)+0.06) > 1e-6 {
		t.Fatalf("diff(-0.02) = %v, want -0.06", got)
	}
	if got, want := sc.pfn(0.9, 0.88, 0.9), falseNegativeProbability(sc.score(0.9), -0.06, 0); math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("p_fn %v, want %v", got, want)
	}
	// A collection whose items all point one way is capped.
	if sc := newScoreScale(1); sc.b != maxBackground {
		t.Fatalf("background 1: %+v", sc)
	}
}

// liftedWorld is a cosine corpus with a structure of known near-duplicates: n random
// unit vectors orthogonal to the first axis, and for the first 20 of them a copy at
// cosine 0.9 under another id; anchors are the first 20 items with their copy as the
// positive. With lift > 0 every vector v becomes (v + lift·e₁)/√(1 + lift²): cosines
// become (s + lift²)/(1 + lift²) exactly, the same order at a higher background.
func liftedWorld(n, dim int, lift float64) (*engine.Batch, []Anchor) {
	r := rand.New(rand.NewPCG(5, 9))
	vecs := make([][]float64, 0, n+20)
	unit := func(v []float64) []float64 {
		var s float64
		for _, x := range v {
			s += x * x
		}
		for i := range v {
			v[i] /= math.Sqrt(s)
		}
		return v
	}
	for range n {
		v := make([]float64, dim)
		for i := 1; i < dim; i++ {
			v[i] = r.NormFloat64()
		}
		vecs = append(vecs, unit(v))
	}
	for i := range 20 {
		// cos 0.9 to item i: 0.9·v + √(1−0.81)·w with w ⟂ v (and ⟂ e₁)
		w := make([]float64, dim)
		for j := 1; j < dim; j++ {
			w[j] = r.NormFloat64()
		}
		var d float64
		for j := range w {
			d += w[j] * vecs[i][j]
		}
		for j := range w {
			w[j] -= d * vecs[i][j]
		}
		w = unit(w)
		c := make([]float64, dim)
		for j := range c {
			c[j] = 0.9*vecs[i][j] + math.Sqrt(0.19)*w[j]
		}
		vecs = append(vecs, c)
	}
	b := &engine.Batch{}
	for i, v := range vecs {
		id := "i" + strconv.Itoa(i)
		if i >= n {
			id = "copy" + strconv.Itoa(i-n)
		}
		b.IDs = append(b.IDs, id)
		for j, x := range v {
			if j == 0 {
				x += lift
			}
			b.Vectors = append(b.Vectors, float32(x/math.Sqrt(1+lift*lift)))
		}
	}
	var anchors []Anchor
	for i := range 20 {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(i), PositiveIDs: []string{"copy" + strconv.Itoa(i)}})
	}
	return b, anchors
}

// TestTheDefaultsReadAHighBackgroundOnItsScale mines the same corpus as embedded and
// lifted to a background of about 0.8 (every cosine (s + 4)/5): with the default policy
// the lifted collection's near-duplicate threshold moves up with its scale, it returns
// k negatives for every anchor, and they are about the ones of the corpus as embedded;
// a fixed 0.80 on the lifted scores would remove nearly every candidate.
func TestTheDefaultsReadAHighBackgroundOnItsScale(t *testing.T) {
	const n, dim, k = 600, 16, 8
	base, anchors := liftedWorld(n, dim, 0)
	lifted, _ := liftedWorld(n, dim, 2)
	cfg := engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}
	s0 := newCollection(t, cfg, base, nil)
	s1 := newCollection(t, cfg, lifted, nil)
	b1, ok := s1.(backgroundMeasurer).Background()
	if !ok || b1 < 0.75 || b1 > 0.85 {
		t.Fatalf("lifted background %v/%v, want about 0.8", b1, ok)
	}
	if b0, ok := s0.(backgroundMeasurer).Background(); !ok || b0 > 0.05 {
		t.Fatalf("background as embedded %v/%v, want about 0", b0, ok)
	}
	mine := func(s Searcher, edit func(*Policy)) []Result {
		t.Helper()
		res, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: policy(k, edit)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	r0, r1 := mine(s0, nil), mine(s1, nil)
	want := newScoreScale(b1).raw(DefaultCosineDuplicateThreshold)
	same, total := 0, 0
	for i := range anchors {
		if r0[i].DuplicateThreshold != DefaultCosineDuplicateThreshold {
			t.Fatalf("anchor %d as embedded: threshold %v, want the default", i, r0[i].DuplicateThreshold)
		}
		if got := r1[i].DuplicateThreshold; got != want || got < 0.9 {
			t.Fatalf("anchor %d lifted: threshold %v, want %v", i, got, want)
		}
		if r0[i].Shortfall != 0 || r1[i].Shortfall != 0 {
			t.Fatalf("anchor %d: shortfall %d as embedded, %d lifted", i, r0[i].Shortfall, r1[i].Shortfall)
		}
		in0 := map[string]bool{}
		for _, id := range ids(r0[i]) {
			in0[id] = true
		}
		for _, id := range ids(r1[i]) {
			total++
			if in0[id] {
				same++
			}
		}
	}
	if same < total*3/4 {
		t.Fatalf("lifted: %d of %d negatives are those of the corpus as embedded", same, total)
	}
	// The scale is what keeps the lifted collection's negatives: read raw, 0.80 is below
	// its background, and nearly every candidate is a "near-duplicate" of the positive.
	fixed := mine(s1, func(p *Policy) { p.DuplicateThreshold = ptr(DefaultCosineDuplicateThreshold) })
	short := 0
	for _, r := range fixed {
		if r.Removed.Duplicate > 0 {
			short++
		}
	}
	if short < len(anchors)/2 {
		t.Fatalf("a raw 0.80 on the lifted scores removed near-duplicates for only %d of %d anchors", short, len(anchors))
	}
}
