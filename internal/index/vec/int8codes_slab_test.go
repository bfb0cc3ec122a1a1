package vec

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/hugepage"
)

// TestInt8CodesChunksInSlabs writes codes into three chunks of one slab (the table grows
// to them in one step, past the chunks it allocates one at a time, hugepage.Slab) and
// checks each code reads back as written: each chunk is its own part of the slab.
func TestInt8CodesChunksInSlabs(t *testing.T) {
	const dim = 384
	first := 16
	if hugepage.Slab(first-1, int8CodeRows*(dim+4)) <= 1 {
		t.Fatalf("chunk %d is not allocated in a slab: the test does not reach the slabs", first)
	}
	big, one := NewInt8Codes(dim), NewInt8Codes(dim)
	rng := rand.New(rand.NewPCG(4, 5))
	type row struct {
		id uint32
		x  []float32
	}
	var rows []row
	for c := first; c < first+3; c++ {
		for _, off := range []int{0, 1, int8CodeRows - 1} {
			x := make([]float32, dim)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			rows = append(rows, row{uint32(c*int8CodeRows + off), x})
		}
	}
	for _, r := range rows {
		big.Set(r.id, r.x)
	}
	for _, r := range rows {
		one.Set(0, r.x)
		want, ws := one.Code(0)
		got, gs := big.Code(r.id)
		if !slices.Equal(got, want) || gs != ws {
			t.Fatalf("id %d: code differs from the same vector's code alone", r.id)
		}
	}
}
