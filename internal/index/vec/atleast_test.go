package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAtLeastMatchesGeneric checks AtLeast against the portable loop on lengths that
// are and are not multiples of the vector width, with ties at the threshold, NaNs,
// infinities, negative zero, and a dst that already holds entries.
func TestAtLeastMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 33, 100, 1000} {
		for _, thr := range []float32{0, 0.5, -1, float32(math.Inf(1)), float32(math.Inf(-1))} {
			t.Run(fmt.Sprintf("n=%d/thr=%v", n, thr), func(t *testing.T) {
				x := make([]float32, n)
				for i := range x {
					switch r.IntN(8) {
					case 0:
						x[i] = thr
					case 1:
						x[i] = float32(math.NaN())
					case 2:
						x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
					case 3:
						x[i] = float32(math.Copysign(0, -1))
					default:
						x[i] = float32(r.NormFloat64())
					}
				}
				prefix := []uint32{7, 9}
				got := AtLeast(x, thr, slices.Clone(prefix))
				want := atLeastGeneric(x, thr, slices.Clone(prefix), 0)
				if !slices.Equal(got, want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				var sel []uint32
				for i, v := range x {
					if v >= thr {
						sel = append(sel, uint32(i))
					}
				}
				if !slices.Equal(want[2:], sel) {
					t.Fatalf("portable loop %v, want %v", want[2:], sel)
				}
			})
		}
	}
}
