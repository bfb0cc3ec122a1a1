package vec

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
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

// TestDotRowsEqualsDot checks DotRows bit for bit against Dot, on rows that start off
// 64-byte boundaries and are followed by NaNs (a kernel that reads past a row returns
// NaN), for row counts of 0 to 9 and lengths that exercise each block size and the
// masked tail; out keeps what lies past the rows.
func TestDotRowsEqualsDot(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, dim := range testLengths {
		for n := 0; n <= 9; n++ {
			q := offsetVec(r, dim, n%5)
			rows := make([]unsafe.Pointer, n)
			vs := make([][]float32, n)
			for i := range rows {
				vs[i] = offsetVec(r, dim, (i+n)%7)
				rows[i] = unsafe.Pointer(unsafe.SliceData(vs[i]))
				if dim == 0 {
					rows[i] = unsafe.Pointer(new(float32))
				}
			}
			out := make([]float32, n+1)
			out[n] = -1
			DotRows(rows, q, out)
			for i := range vs {
				if want := Dot(q, vs[i]); math.Float32bits(out[i]) != math.Float32bits(want) {
					t.Fatalf("dim %d, %d rows: out[%d] = %v, want %v", dim, n, i, out[i], want)
				}
			}
			if out[n] != -1 {
				t.Fatalf("dim %d, %d rows: wrote past the rows", dim, n)
			}
		}
	}
}
