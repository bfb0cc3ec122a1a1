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
