package vec

import (
	"math/rand/v2"
	"testing"
)

// TestDotManyQExactEqualsDot checks every score bit for bit against Dot, for query
// counts that fill and leave partial groups of four and lengths that exercise each
// block size and the masked tail, for the exported function and every kernel behind it.
func TestDotManyQExactEqualsDot(t *testing.T) {
	ks := append([]manyQKernel{{"exported", DotManyQExact}, {"generic", dotManyQGeneric}}, archManyQExactKernels()...)
	r := rand.New(rand.NewPCG(21, 22))
	for _, k := range ks {
		markTested("manyq-exact", k.name)
		for _, dim := range []int{1, 15, 16, 17, 63, 64, 65, 100, 383, 384} {
			for _, nq := range []int{1, 2, 3, 4, 5, 9, 16} {
				rows := randMatrix(r, 7, dim)
				qs := make([][]float32, nq)
				out := make([][]float32, nq)
				for j := range qs {
					qs[j] = randMatrix(r, 1, dim)
					out[j] = make([]float32, 8)
					out[j][7] = -1
				}
				k.fn(qs, rows, dim, out)
				for j, q := range qs {
					for i := 0; i < 7; i++ {
						if want := Dot(q, rows[i*dim:(i+1)*dim]); out[j][i] != want {
							t.Fatalf("%s: dim %d, %d queries: out[%d][%d] = %v, want %v", k.name, dim, nq, j, i, out[j][i], want)
						}
					}
					if out[j][7] != -1 {
						t.Fatalf("%s: dim %d: wrote past the rows", k.name, dim)
					}
				}
			}
		}
	}
}
