package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// int8Kernels lists every integer micro-kernel this CPU runs, the portable one first.
func int8Kernels() []int8Kernel {
	return append([]int8Kernel{genericInt8}, archInt8Kernels()...)
}

// int8Inputs are the matrices the integer tests run on: name → generator of n vectors
// of dim floats.
var int8Inputs = []struct {
	name string
	gen  func(r *rand.Rand, n, dim int) []float32
}{
	{"gaussian", randMatrix},
	{"all+1", func(r *rand.Rand, n, dim int) []float32 { return fill(n*dim, func(int) float32 { return 1 }) }},
	{"all-1", func(r *rand.Rand, n, dim int) []float32 { return fill(n*dim, func(int) float32 { return -1 }) }},
	{"signs", func(r *rand.Rand, n, dim int) []float32 {
		return fill(n*dim, func(int) float32 { return float32(1 - 2*r.IntN(2)) })
	}},
	{"zeros", func(r *rand.Rand, n, dim int) []float32 { return make([]float32, n*dim) }},
	{"mixed", func(r *rand.Rand, n, dim int) []float32 {
		// Zero rows, one large component among tiny ones, half steps (x.5 codes),
		// subnormals and huge values.
		m := make([]float32, n*dim)
		for i := 0; i < n; i++ {
			row := m[i*dim : (i+1)*dim]
			switch i % 5 {
			case 1:
				for k := range row {
					row[k] = float32(r.NormFloat64()) * 1e-3
				}
				row[r.IntN(dim)] = 50
			case 2:
				for k := range row {
					row[k] = float32(r.IntN(255)-127) + 0.5
				}
				row[0] = 127
			case 3:
				for k := range row {
					row[k] = float32(r.NormFloat64()) * 1e-40
				}
			case 4:
				for k := range row {
					row[k] = float32(r.NormFloat64()) * 1e15
				}
			}
		}
		return m
	}},
}

func fill(n int, f func(int) float32) []float32 {
	m := make([]float32, n)
	for i := range m {
		m[i] = f(i)
	}
	return m
}

// TestInt8KernelsGiveExactSums runs every integer kernel on the same codes, tile by
// tile, and checks the int32 sums against Σ q_code·r_code computed directly, and the
// scores against float32(sum)·qscale·rscale rounded in that order: every kernel gives
// identical results, for dimensions that are and are not multiples of the vector width,
// full and partial tiles, random and adversarial codes (all ±127, zeros).
func TestInt8KernelsGiveExactSums(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, k := range int8Kernels() {
		markTested("int8", k.name)
		for _, in := range int8Inputs {
			for _, dim := range []int{1, 2, 3, 4, 5, 17, 64, 383, 384, 385, 8192} {
				t.Run(fmt.Sprintf("%s/%s/dim=%d", k.name, in.name, dim), func(t *testing.T) {
					const blocks = 3
					nq, n := 2*k.width-1, blocks*int8BlockRows
					qm, rm := in.gen(r, nq, dim), in.gen(r, n, dim)
					qs := make([][]float32, nq)
					for j := range qs {
						qs[j] = qm[j*dim : (j+1)*dim]
					}
					p := packInt8Queries(qs, dim, k)
					rows := QuantizeRows(rm, dim)
					rcodes := make([]int8, n*dim)
					for i := 0; i < n; i++ {
						quantize(rm[i*dim:(i+1)*dim], rcodes[i*dim:(i+1)*dim])
					}
					G := p.groups
					for j0 := 0; j0 < nq; j0 += k.width {
						call := &int8Call{blocks: blocks, codes: rows.codes, groups: G, qcodes: p.codes[j0*G*4:], qstride: G * 4,
							corr: p.corr[j0:], qscale: p.scale[j0:], rscale: rows.scale}
						for j := 0; j < k.width; j++ {
							call.dst[j] = make([]float32, n+1)
							call.dst[j][n] = -7
						}
						call.itile[0] = -9
						k.fn(call)
						for j := 0; j < k.width && j0+j < nq; j++ {
							q := p.codes[(j0+j)*G*4:]
							for i := 0; i < n; i++ {
								var want int32
								for d := 0; d < dim; d++ {
									want += int32(q[d]) * int32(rcodes[i*dim+d])
								}
								if i >= n-int8BlockRows {
									if got := call.itile[j*int8BlockRows+i%int8BlockRows]; got != want {
										t.Fatalf("row %d query %d: sum %d, want %d", i, j0+j, got, want)
									}
								}
								fw := float32(float32(want)*p.scale[j0+j]) * rows.scale[i]
								if got := call.dst[j][i]; math.Float32bits(got) != math.Float32bits(fw) {
									t.Fatalf("row %d query %d: score %v, want %v", i, j0+j, got, fw)
								}
							}
							if call.dst[j][n] != -7 {
								t.Fatalf("query %d: wrote past the rows", j0+j)
							}
						}
					}
				})
			}
		}
	}
}

// TestInt8ErrorBoundHolds checks that every DotRows score lies within ErrorBound of
// Dot's score of the same pair, and that scores past the rows stay untouched, on random
// and adversarial data, unit and unnormalised vectors, with every kernel.
func TestInt8ErrorBoundHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, k := range int8Kernels() {
		for _, in := range int8Inputs {
			for _, unit := range []bool{false, true} {
				for _, dim := range []int{1, 3, 16, 17, 100, 384} {
					for _, shape := range [][2]int{{1, 1}, {9, 5}, {13, 32}, {33, 33}, {70, 75}} {
						nq, n := shape[0], shape[1]
						t.Run(fmt.Sprintf("%s/%s/unit=%v/dim=%d/q=%d/rows=%d", k.name, in.name, unit, dim, nq, n), func(t *testing.T) {
							qm, rm := in.gen(r, nq, dim), in.gen(r, n, dim)
							if unit {
								normalizeRows(qm, dim)
								normalizeRows(rm, dim)
							}
							qs := make([][]float32, nq)
							out := make([][]float32, nq)
							for j := range qs {
								qs[j] = qm[j*dim : (j+1)*dim]
								out[j] = make([]float32, n+1)
								out[j][n] = -7
							}
							p := packInt8Queries(qs, dim, k)
							rows := QuantizeRows(rm, dim)
							p.DotRows(rows, out)
							for j, q := range qs {
								eb := p.ErrorBound(j, rows.MaxNorm(), rows.MaxErr())
								for i := 0; i < n; i++ {
									d := math.Abs(float64(out[j][i]) - float64(Dot(q, rm[i*dim:(i+1)*dim])))
									if !(d <= eb) {
										t.Fatalf("out[%d][%d] = %v is %g from Dot %v, bound %g", j, i, out[j][i], d, Dot(q, rm[i*dim:(i+1)*dim]), eb)
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
}

// TestInt8ErrorBoundIsTight checks that the bound is not vacuous on unit vectors: for
// 384-d gaussian directions it stays below 0.05, so that re-scoring stays local.
func TestInt8ErrorBoundIsTight(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	const dim = 384
	qm, rm := randMatrix(r, 4, dim), randMatrix(r, 100, dim)
	normalizeRows(qm, dim)
	normalizeRows(rm, dim)
	p := PackInt8Queries([][]float32{qm[:dim]}, dim)
	rows := QuantizeRows(rm, dim)
	if eb := p.ErrorBound(0, rows.MaxNorm(), rows.MaxErr()); !(eb > 0 && eb < 0.05) {
		t.Fatalf("bound %g for unit vectors of dim %d", eb, dim)
	}
}

func normalizeRows(m []float32, dim int) {
	for i := 0; i < len(m); i += dim {
		row := m[i : i+dim]
		var s float64
		for _, x := range row {
			s += float64(x) * float64(x)
		}
		if s == 0 {
			continue
		}
		inv := 1 / math.Sqrt(s)
		for k := range row {
			row[k] = float32(float64(row[k]) * inv)
		}
	}
}
