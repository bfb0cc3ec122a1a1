package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type manyQKernel struct {
	name string
	fn   func(qs [][]float32, rows []float32, dim int, out [][]float32)
}

func manyQKernels() []manyQKernel {
	ks := []manyQKernel{{"exported", DotManyQ}, {"generic", dotManyQGeneric}}
	return append(ks, archManyQKernels()...)
}

func randMatrix(r *rand.Rand, n, dim int) []float32 {
	m := make([]float32, n*dim)
	for i := range m {
		m[i] = float32(r.NormFloat64())
	}
	return m
}

func TestDotManyAndL2SqManyScoreEveryRow(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, dim := range []int{1, 7, 17, 384} {
		for _, n := range []int{0, 1, 5} {
			t.Run(fmt.Sprintf("dim=%d/rows=%d", dim, n), func(t *testing.T) {
				q, rows := randMatrix(r, 1, dim), randMatrix(r, n, dim)
				dots := make([]float32, n+1)
				l2s := make([]float32, n+1)
				dots[n], l2s[n] = -1, -1
				DotMany(q, rows, dim, dots)
				L2SqMany(q, rows, dim, l2s)
				for i := 0; i < n; i++ {
					row := rows[i*dim : (i+1)*dim]
					if want := Dot(q, row); dots[i] != want {
						t.Errorf("DotMany[%d] = %v, Dot = %v", i, dots[i], want)
					}
					if want := L2Sq(q, row); l2s[i] != want {
						t.Errorf("L2SqMany[%d] = %v, L2Sq = %v", i, l2s[i], want)
					}
				}
				if dots[n] != -1 || l2s[n] != -1 {
					t.Errorf("scores written past the last row: %v, %v", dots[n], l2s[n])
				}
			})
		}
	}
}

func TestDotManyQMatchesFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, k := range manyQKernels() {
		markTested("manyq", k.name)
		for _, dim := range []int{1, 3, 16, 17, 383, 384} {
			for _, nq := range []int{1, 3, 4, 5, 9, 16} {
				for _, n := range []int{1, 2, 7} {
					name := fmt.Sprintf("%s/dim=%d/queries=%d/rows=%d", k.name, dim, nq, n)
					t.Run(name, func(t *testing.T) {
						rows := randMatrix(r, n, dim)
						qs := make([][]float32, nq)
						out := make([][]float32, nq)
						for j := range qs {
							// Queries live at odd offsets of their own arrays.
							qs[j] = randMatrix(r, 1, dim+j%4)[j%4:]
							out[j] = make([]float32, n+1)
							out[j][n] = -1
						}
						k.fn(qs, rows, dim, out)
						for j, q := range qs {
							if out[j][n] != -1 {
								t.Fatalf("query %d: score written past the last row", j)
							}
							for i := 0; i < n; i++ {
								want, abs := refDot(q, rows[i*dim:(i+1)*dim])
								got := float64(out[j][i])
								if bound := float64(dim+1) * unitRoundoff * abs; math.Abs(got-want) > bound {
									t.Fatalf("query %d row %d = %v, float64 reference %v (bound %g)", j, i, got, want, bound)
								}
							}
						}
					})
				}
			}
		}
	}
}

func TestBatchedKernelsPanicOnBadShapes(t *testing.T) {
	q := make([]float32, 4)
	rows := make([]float32, 8)
	out := make([]float32, 2)
	tests := []struct {
		name string
		call func()
	}{
		{"zero dimension", func() { DotMany(q[:0], rows, 0, out) }},
		{"query of the wrong length", func() { DotMany(q[:3], rows, 4, out) }},
		{"rows not a multiple of dim", func() { L2SqMany(q, rows[:7], 4, out) }},
		{"output shorter than rows", func() { L2SqMany(q, rows, 4, out[:1]) }},
		{"fewer outputs than queries", func() { DotManyQ([][]float32{q, q}, rows, 4, [][]float32{out}) }},
		{"one output too short", func() { DotManyQ([][]float32{q, q}, rows, 4, [][]float32{out, out[:1]}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.call()
		})
	}
}
