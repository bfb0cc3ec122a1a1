package hnsw

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// BenchmarkSortBeam sorts a search beam (efConstruction 200, a first pass of 145) of
// negated inner products: the comparison sort the graph used before and the key sort.
func BenchmarkSortBeam(b *testing.B) {
	for _, n := range []int{145, 200} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		beam := make([]Neighbor, n)
		for i := range beam {
			beam[i] = Neighbor{ID: rng.Uint32N(100_000), Dist: -float32(rng.Float64())}
		}
		work := make([]Neighbor, n)
		b.Run("compare/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				copy(work, beam)
				slices.SortFunc(work, byDistID)
			}
		})
		var keys []uint64
		b.Run("keys/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				copy(work, beam)
				keys = sortNeighbors(work, keys)
			}
		})
	}
}
