package hnsw

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortNeighborsIsByDistID checks the key sort against slices.SortFunc with
// byDistID on lists with negative, positive and zero distances (−0 and +0 among
// them), many ties and repeated distances, and checks every distance comes back bit
// for bit (−0 as +0).
func TestSortNeighborsIsByDistID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []uint64
	special := []float32{0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32,
		-math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30, 0.5, -0.5,
		float32(math.Copysign(0, -1))}
	for trial := range 300 {
		n := rng.IntN(260)
		ns := make([]Neighbor, n)
		for i := range ns {
			var d float32
			switch rng.IntN(3) {
			case 0:
				d = special[rng.IntN(len(special))]
			case 1:
				d = float32(rng.NormFloat64())
			default:
				d = float32(rng.IntN(5)) - 2 // ties
			}
			ns[i] = Neighbor{ID: uint32(rng.IntN(1 << 20)), Dist: d}
		}
		want := slices.Clone(ns)
		slices.SortFunc(want, byDistID)
		keys = sortNeighbors(ns, keys)
		for i := range ns {
			same := math.Float32bits(ns[i].Dist) == math.Float32bits(want[i].Dist) || ns[i].Dist == 0 && want[i].Dist == 0
			if ns[i].ID != want[i].ID || !same {
				t.Fatalf("trial %d, position %d: got %+v, want %+v", trial, i, ns[i], want[i])
			}
		}
	}
}

func TestOrderedBitsRoundTrip(t *testing.T) {
	prev := uint32(0)
	for i, f := range []float32{float32(math.Inf(-1)), -math.MaxFloat32, -2, -1, -math.SmallestNonzeroFloat32, 0,
		math.SmallestNonzeroFloat32, 1, 2, math.MaxFloat32, float32(math.Inf(1))} {
		u := orderedBits(f)
		if i > 0 && u <= prev {
			t.Fatalf("orderedBits(%v) = %#x, not above the previous %#x", f, u, prev)
		}
		prev = u
		if back := fromOrderedBits(u); math.Float32bits(back) != math.Float32bits(f) {
			t.Fatalf("fromOrderedBits(orderedBits(%v)) = %v", f, back)
		}
	}
}

// selectSmallest puts the m smallest keys first and keeps the others after them, for
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
			selectSmallest(got, m)
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
