package sortkey

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBitsRoundTrip(t *testing.T) {
	prev := uint32(0)
	for i, f := range []float32{float32(math.Inf(-1)), -math.MaxFloat32, -2, -1, -math.SmallestNonzeroFloat32, 0,
		math.SmallestNonzeroFloat32, 1, 2, math.MaxFloat32, float32(math.Inf(1))} {
		u := Bits(f)
		if i > 0 && u <= prev {
			t.Fatalf("Bits(%v) = %#x, not above the previous %#x", f, u, prev)
		}
		prev = u
		if back := FromBits(u); math.Float32bits(back) != math.Float32bits(f) {
			t.Fatalf("FromBits(Bits(%v)) = %v", f, back)
		}
	}
}

// SelectSmallest puts the m smallest keys first and keeps the others after them, for
// every m, on keys with many ties.
func TestSelectSmallest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 400 {
		n := 2 + rng.IntN(300)
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = uint64(rng.IntN(1 + trial%40)) // from all equal to few ties
			if rng.IntN(2) == 0 {
				keys[i] = rng.Uint64()
			}
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		for _, m := range []int{1, rng.IntN(n-1) + 1, n / 2, n - 1} {
			if m < 1 {
				continue
			}
			got := slices.Clone(keys)
			SelectSmallest(got, m)
			first := slices.Clone(got[:m])
			slices.Sort(first)
			if !slices.Equal(first, want[:m]) {
				t.Fatalf("trial %d, n %d, m %d: first %v, want %v", trial, n, m, first, want[:m])
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d, n %d, m %d: the keys changed", trial, n, m)
			}
		}
	}
}
