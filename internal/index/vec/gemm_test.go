package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmKernels lists every GEMM micro-kernel this CPU runs, the portable one first.
func gemmKernels() []gemmKernel {
	return append([]gemmKernel{genericGEMM}, archGEMMKernels()...)
}

// TestGEMMMatchesFloat64Reference checks every kernel's scores against a float64
// reference within the worst-case rounding bound of a dim-term sum, and against Dot
// within GEMMErrorBound, for shapes that fill and leave partial row tiles and query
// panels (wide and narrow), on rows that are not 64-byte aligned; scores past the
// rows must stay untouched.
func TestGEMMMatchesFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, k := range gemmKernels() {
		markTested("gemm", k.name)
		for _, dim := range []int{1, 3, 16, 17, 100, 384} {
			for _, nq := range []int{1, 5, 8, 9, 16, 17, 31, 32, 33, 70} {
				for _, n := range []int{0, 1, 5, 12, 13, 25} {
					t.Run(fmt.Sprintf("%s/dim=%d/q=%d/rows=%d", k.name, dim, nq, n), func(t *testing.T) {
						back := randMatrix(r, n*dim+3, 1)
						rows := back[3:]
						qs := make([][]float32, nq)
						out := make([][]float32, nq)
						for j := range qs {
							qs[j] = randMatrix(r, 1, dim)
							out[j] = make([]float32, n+1)
							out[j][n] = -7
						}
						packQueries(qs, dim, k).DotRows(rows, out)
						rmax := MaxNorm(rows, dim)
						for j, q := range qs {
							qn := Norm(q)
							for i := 0; i < n; i++ {
								row := rows[i*dim : (i+1)*dim]
								got := float64(out[j][i])
								want, abs := refDot(q, row)
								bound := float64(dim+1) * unitRoundoff * abs
								if math.IsNaN(got) || math.Abs(got-want) > bound {
									t.Fatalf("out[%d][%d] = %v, float64 reference %v, |err| %g > %g", j, i, got, want, math.Abs(got-want), bound)
								}
								if d, eb := math.Abs(got-float64(Dot(q, row))), GEMMErrorBound(dim, qn, rmax); d > eb {
									t.Fatalf("out[%d][%d] = %v is %g from Dot, bound %g", j, i, got, d, eb)
								}
							}
							if out[j][n] != -7 {
								t.Fatalf("query %d: wrote past the rows", j)
							}
						}
					})
				}
			}
		}
	}
}

// TestGEMMExactOnSmallIntegers checks that every kernel gets exact sums exactly: small
// integers add without rounding in any order.
func TestGEMMExactOnSmallIntegers(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	const dim, nq, n = 77, 40, 30
	qs := make([][]float32, nq)
	out := make([][]float32, nq)
	for j := range qs {
		qs[j] = make([]float32, dim)
		for d := range qs[j] {
			qs[j][d] = float32(r.IntN(17) - 8)
		}
		out[j] = make([]float32, n)
	}
	rows := make([]float32, n*dim)
	for i := range rows {
		rows[i] = float32(r.IntN(17) - 8)
	}
	for _, k := range gemmKernels() {
		packQueries(qs, dim, k).DotRows(rows, out)
		for j := range qs {
			for i := 0; i < n; i++ {
				var want float32
				for d := 0; d < dim; d++ {
					want += qs[j][d] * rows[i*dim+d]
				}
				if out[j][i] != want {
					t.Fatalf("%s: out[%d][%d] = %v, want %v", k.name, j, i, out[j][i], want)
				}
			}
		}
	}
}

// TestGEMMDiffersFromDotWithinBound shows why GEMMErrorBound exists: on vectors with
// a wide range of magnitudes the matrix product's order of additions gives other last
// bits than Dot for some pairs, never further apart than the bound.
func TestGEMMDiffersFromDotWithinBound(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	const dim, nq, n = 384, 16, 200
	wide := func(m int) []float32 {
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(r.NormFloat64() * math.Exp(4*r.NormFloat64()))
		}
		return v
	}
	qs := make([][]float32, nq)
	out := make([][]float32, nq)
	for j := range qs {
		qs[j] = wide(dim)
		out[j] = make([]float32, n)
	}
	rows := wide(n * dim)
	rmax := MaxNorm(rows, dim)
	for _, k := range gemmKernels() {
		packQueries(qs, dim, k).DotRows(rows, out)
		differ := 0
		for j, q := range qs {
			for i := 0; i < n; i++ {
				d := Dot(q, rows[i*dim:(i+1)*dim])
				if out[j][i] != d {
					differ++
				}
				if math.Abs(float64(out[j][i])-float64(d)) > GEMMErrorBound(dim, Norm(q), rmax) {
					t.Fatalf("%s: out[%d][%d] = %v, Dot %v: beyond the bound", k.name, j, i, out[j][i], d)
				}
			}
		}
		if differ == 0 {
			t.Fatalf("%s: all %d scores equal Dot's bit for bit; the test no longer shows the difference", k.name, nq*n)
		}
		t.Logf("%s: %d of %d scores differ from Dot in the last bits", k.name, differ, nq*n)
	}
}

func TestMaxNormBoundsEveryRow(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	for _, dim := range []int{1, 5, 384} {
		rows := randMatrix(r, 50, dim)
		m := MaxNorm(rows, dim)
		worst := 0.0
		for i := 0; i < 50; i++ {
			worst = max(worst, Norm(rows[i*dim:(i+1)*dim]))
		}
		if m < worst || m > worst*(1+1e-4) {
			t.Fatalf("dim %d: MaxNorm %v, largest norm %v", dim, m, worst)
		}
	}
}

func TestDotGEMMPanicsOnBadShapes(t *testing.T) {
	q := make([]float32, 4)
	for name, f := range map[string]func(){
		"short out":    func() { DotGEMM([][]float32{q}, make([]float32, 8), 4, make([][]float32, 0)) },
		"short scores": func() { DotGEMM([][]float32{q}, make([]float32, 8), 4, [][]float32{make([]float32, 1)}) },
		"ragged rows":  func() { DotGEMM([][]float32{q}, make([]float32, 7), 4, [][]float32{make([]float32, 2)}) },
		"query length": func() { DotGEMM([][]float32{q[:3]}, make([]float32, 8), 4, [][]float32{make([]float32, 2)}) },
		"dimension":    func() { DotGEMM([][]float32{q}, make([]float32, 8), 0, [][]float32{make([]float32, 2)}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}
