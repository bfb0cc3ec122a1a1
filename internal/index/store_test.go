package index

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/hugepage"
)

// TestVectorStoreChunksInSlabs writes vectors into three chunks of one slab (the store
// grows to them in one step, past the chunks it allocates one at a time,
// hugepage.Slab) and checks each reads back as written, and its graph code with it:
// each chunk is its own part of the slab.
func TestVectorStoreChunksInSlabs(t *testing.T) {
	const dim = 384
	first := 6
	if hugepage.Slab(first-1, storeChunkRows*dim*4) <= 1 {
		t.Fatalf("chunk %d is not allocated in a slab: the test does not reach the slabs", first)
	}
	s := newVectorStore(dim, true)
	rng := rand.New(rand.NewPCG(6, 7))
	want := map[uint32][]float32{}
	for c := first; c < first+3; c++ {
		for _, off := range []int{0, 1, storeChunkRows - 1} {
			x := make([]float32, dim)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			slot := uint32(c*storeChunkRows + off)
			s.set(slot, x)
			want[slot] = x
		}
	}
	for slot, x := range want {
		if got := s.Vector(slot); !slices.Equal(got, x) || cap(got) != dim {
			t.Fatalf("slot %d: vector differs from the one written (cap %d)", slot, cap(got))
		}
	}
	for i, c := range *s.chunks.Load() {
		if len(c) != storeChunkRows*dim || cap(c) != len(c) {
			t.Fatalf("chunk %d: len %d cap %d, want both %d", i, len(c), cap(c), storeChunkRows*dim)
		}
	}
}
