package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// referencePrepare is PrepareVector as it was written first, value by value in several
// passes: the one-pass version must give the same message and the same bits.
func referencePrepare(v []float32, dim int, m Metric) string {
	if len(v) != dim {
		return fmt.Sprintf("has %d floats; the collection's dimension is %d", len(v), dim)
	}
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Sprintf("value %d is %v; vectors must be finite", j, x)
		}
	}
	norm := func(a []float32) float64 {
		var s float64
		for _, x := range a {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	n := norm(v)
	switch {
	case m == Cosine && n == 0:
		return "is a zero vector, which has no direction under cosine"
	case m != Cosine && n > MaxNorm:
		return fmt.Sprintf("has norm %s, above the limit: under %s the norm must be at most %.0e so that scores stay finite", strconv.FormatFloat(n, 'g', 7, 64), m, float64(MaxNorm))
	}
	if m != Cosine {
		return ""
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return "cannot be normalised to a finite unit vector"
		}
	}
	if math.Abs(norm(v)-1) > 1e-5 {
		return "cannot be normalised to a finite unit vector"
	}
	return ""
}

func TestPrepareVectorMatchesTheReference(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	scales := []float64{1, 1e-30, 1e-42, 1e-45, 1e19, 1e30, 3e38}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, math.MaxFloat32, math.SmallestNonzeroFloat32}
	for i := range 20000 {
		dim := 1 + r.IntN(64)
		v := make([]float32, dim)
		scale := scales[r.IntN(len(scales))]
		for j := range v {
			v[j] = float32(r.NormFloat64() * scale)
		}
		switch r.IntN(6) {
		case 0:
			v[r.IntN(dim)] = special[r.IntN(len(special))]
		case 1:
			clear(v)
		}
		for _, m := range []Metric{Cosine, Dot, L2} {
			got, want := slices.Clone(v), slices.Clone(v)
			gotMsg, wantMsg := PrepareVector(got, dim, m), referencePrepare(want, dim, m)
			if gotMsg != wantMsg || (wantMsg == "" && !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })) {
				t.Fatalf("case %d, %v, %v: got %q %v, want %q %v", i, m, v, gotMsg, got, wantMsg, want)
			}
		}
	}
	// A norm just past the limit reads as past it.
	if msg := PrepareVector([]float32{1.0001e9, 0, 0, 0}, 4, Dot); !strings.Contains(msg, "has norm 1.0001e+09, above the limit: under dot the norm must be at most 1e+09") {
		t.Errorf("norm past the limit: %q", msg)
	}
	if msg := PrepareVector(make([]float32, 3), 4, Cosine); msg != referencePrepare(make([]float32, 3), 4, Cosine) {
		t.Errorf("wrong dimension: %q", msg)
	}
}
