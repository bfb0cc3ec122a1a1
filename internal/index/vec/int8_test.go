package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// u8i8Kernel is one path of dotU8I8 (Int8Codes.Dot's sum).
type u8i8Kernel struct {
	name string
	fn   func(r []byte, q []int8) int32
}

// TestDotU8I8KernelsGiveExactSums checks every path of Int8Codes.Dot's integer sum
// (portable, AVX2, VNNI where the CPU has them) against Σ offset row code · query code
// computed directly, for dimensions around the vector widths and adversarial codes
// (all ±127, the offset extremes 0 and 255).
func TestDotU8I8KernelsGiveExactSums(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	ks := append([]u8i8Kernel{{"generic", dotU8I8Generic}}, archU8I8Kernels()...)
	ks = append(ks, u8i8Kernel{"dispatch", dotU8I8})
	for _, k := range ks {
		markTested("u8i8", k.name)
		for _, dim := range []int{1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 383, 384, 385, 1000} {
			for _, pat := range []string{"random", "max", "min", "mixed"} {
				t.Run(fmt.Sprintf("%s/dim=%d/%s", k.name, dim, pat), func(t *testing.T) {
					row := make([]byte, dim+7) // longer than the query: only dim bytes count
					q := make([]int8, dim)
					for i := range q {
						switch pat {
						case "random":
							row[i], q[i] = byte(r.IntN(256)), int8(r.IntN(255)-127)
						case "max":
							row[i], q[i] = 255, 127
						case "min":
							row[i], q[i] = 255, -127
						case "mixed":
							row[i], q[i] = byte(255*(i%2)), int8(127-254*((i/2)%2))
						}
					}
					for i := dim; i < len(row); i++ {
						row[i] = 255
					}
					var want int32
					for i := range q {
						want += int32(row[i]) * int32(q[i])
					}
					if got := k.fn(row, q); got != want {
						t.Fatalf("sum %d, want %d", got, want)
					}
				})
			}
		}
	}
}

// TestInt8CodesMatchDotRows checks that Int8Codes keeps the codes and scales that
// QuantizeRows computes for the same vectors, and that Int8Codes.Dot gives, bit for bit,
// DotRows' score of the same pair (so ErrorBound holds for it too), on random and
// adversarial vectors; an id set again gets the new vector's code.
func TestInt8CodesMatchDotRows(t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	for _, in := range int8Inputs {
		for _, dim := range []int{1, 5, 17, 100, 384} {
			t.Run(fmt.Sprintf("%s/dim=%d", in.name, dim), func(t *testing.T) {
				const n, nq = 70, 3
				rm, qm := in.gen(r, n, dim), in.gen(r, nq, dim)
				tab := NewInt8Codes(dim)
				// Ids across two chunks, set in reverse order.
				ids := make([]uint32, n)
				for i := n - 1; i >= 0; i-- {
					ids[i] = uint32(i * 37)
					tab.Set(ids[i], rm[i*dim:(i+1)*dim])
				}
				rows := QuantizeRows(rm, dim)
				qs := make([][]float32, nq)
				out := make([][]float32, nq)
				for j := range qs {
					qs[j] = qm[j*dim : (j+1)*dim]
					out[j] = make([]float32, n)
				}
				PackInt8Queries(qs, dim).DotRows(rows, out)
				want := make([]int8, dim)
				var q Int8Query
				for j := range qs {
					tab.Quantize(qs[j], &q)
					for i, id := range ids {
						ws, _, _, _ := quantize(rm[i*dim:(i+1)*dim], want)
						codes, s := tab.Code(id)
						if s != ws || !slices.Equal(codes, want) {
							t.Fatalf("row %d: code differs from quantize's", i)
						}
						if got := tab.Dot(&q, id); math.Float32bits(got) != math.Float32bits(out[j][i]) {
							t.Fatalf("query %d row %d: Dot %v, DotRows %v", j, i, got, out[j][i])
						}
					}
					// DotMany over every id (more than one kernel batch, repeats, any order)
					// gives Dot's scores.
					many := append(append([]uint32{}, ids...), ids[3], ids[0])
					slices.Reverse(many[:40])
					got := make([]float32, len(many))
					tab.DotMany(&q, many, got)
					for i, id := range many {
						if w := tab.Dot(&q, id); math.Float32bits(got[i]) != math.Float32bits(w) {
							t.Fatalf("query %d: DotMany[%d] = %v, Dot %v", j, i, got[i], w)
						}
					}
				}
				// A rewritten id gets the new vector's code.
				nv := make([]float32, dim)
				for k := range nv {
					nv[k] = float32(r.NormFloat64())
				}
				nv[0] = 3
				tab.Set(ids[5], nv)
				ws, _, _, _ := quantize(nv, want)
				if codes, s := tab.Code(ids[5]); s != ws || !slices.Equal(codes, want) {
					t.Fatalf("rewritten id keeps a stale code")
				}
			})
		}
	}
}

// Int8Codes.ErrorBound bounds |Dot(q, id) − Dot(x, vector of id)| for every code Set,
// whatever the inputs (the adversarial ones of int8Inputs included), and is below 0.05
// for 384-d unit vectors, so that a lazy re-scoring stays local.
func TestInt8CodesErrorBoundHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	for _, in := range int8Inputs {
		for _, unit := range []bool{false, true} {
			for _, dim := range []int{1, 3, 17, 384} {
				t.Run(fmt.Sprintf("%s/unit=%v/dim=%d", in.name, unit, dim), func(t *testing.T) {
					const n, nq = 40, 6
					qm, rm := in.gen(r, nq, dim), in.gen(r, n, dim)
					if unit {
						normalizeRows(qm, dim)
						normalizeRows(rm, dim)
					}
					codes := NewInt8Codes(dim)
					var q Int8Query
					for i := range n {
						codes.Set(uint32(i), rm[i*dim:(i+1)*dim])
						for j := range nq {
							x := qm[j*dim : (j+1)*dim]
							codes.Quantize(x, &q)
							eb := codes.ErrorBound(&q)
							for id := 0; id <= i; id++ { // the bound covers every code Set so far
								d := math.Abs(float64(codes.Dot(&q, uint32(id))) - float64(Dot(x, rm[id*dim:(id+1)*dim])))
								if !(d <= eb) {
									t.Fatalf("query %d, id %d after %d Set: %g from Dot, bound %g", j, id, i+1, d, eb)
								}
							}
							if unit && dim == 384 && in.name == "gaussian" && !(eb > 0 && eb < 0.05) {
								t.Fatalf("bound %g for unit vectors of dim %d", eb, dim)
							}
						}
					}
				})
			}
		}
	}
}

// quantizeReference is quantize's definition, one value at a time in slice order.
func quantizeReference(x []float32) (codes []int8, scale float32, sum int32, norm, errNorm float64) {
	codes = make([]int8, len(x))
	var mb uint32
	for _, v := range x {
		mb = max(mb, math.Float32bits(v)&^(1<<31))
	}
	scale = math.Float32frombits(mb) / 127
	var nn, ee float64
	inv := 1 / scale
	for k, v := range x {
		var c int32
		switch {
		case scale == 0:
		case math.IsInf(float64(inv), 0):
			c = int32(max(-127, min(127, math.RoundToEven(float64(v)/float64(scale)))))
		default:
			c = int32(float32(v*inv)+128.5) - 128
		}
		codes[k] = int8(c)
		sum += c
		e := float64(v) - float64(scale)*float64(c)
		nn += float64(v) * float64(v)
		ee += e * e
	}
	return codes, scale, sum, math.Sqrt(nn), math.Sqrt(ee)
}

// quantize (with this CPU's kernel, where it has one) gives the reference's codes,
// scale and sum exactly, and its norms to float64 rounding (the sums' order differs):
// lengths with and without a tail past a multiple of 16, values on the rounding ties,
// a zero vector, and scales near the bottom of the float32 range.
func TestQuantizeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	type input struct {
		name string
		x    []float32
	}
	var inputs []input
	for _, n := range []int{1, 15, 16, 17, 31, 48, 100, 384, 385, 768, 1031} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		inputs = append(inputs, input{fmt.Sprintf("normal %d", n), x})
		ties := make([]float32, n)
		for i := range ties {
			// Multiples of half a code step: every other value sits on a tie.
			ties[i] = float32(r.IntN(255)-127) * 0.5
		}
		ties[0] = 63.5
		inputs = append(inputs, input{fmt.Sprintf("ties %d", n), ties})
		small := make([]float32, n)
		for i := range small {
			small[i] = float32(r.NormFloat64()) * 1e-38
		}
		inputs = append(inputs, input{fmt.Sprintf("subnormal scale %d", n), small})
	}
	inputs = append(inputs, input{"zeros", make([]float32, 64)})
	for _, in := range inputs {
		codes := make([]int8, len(in.x))
		s, sum, nrm, e := quantize(in.x, codes)
		wc, ws, wsum, wn, we := quantizeReference(in.x)
		if s != ws || sum != wsum || !slices.Equal(codes, wc) {
			t.Fatalf("%s: scale %v sum %d, want %v and %d; codes equal: %v", in.name, s, sum, ws, wsum, slices.Equal(codes, wc))
		}
		for _, p := range [][2]float64{{nrm, wn}, {e, we}} {
			if math.Abs(p[0]-p[1]) > 1e-12*max(p[1], 1e-300) {
				t.Fatalf("%s: norm %v, want %v", in.name, p[0], p[1])
			}
		}
	}
}

// TestInt8DotRowsAcrossChunks checks DotRows where the rows span several of its
// chunks (int8ChunkBytes) and the queries several kernel calls with a partial last
// one: every score equals, bit for bit, the kernel's formula on exact integer sums
// (and so does not depend on the order DotRows calls the kernel in), with every kernel.
func TestInt8DotRowsAcrossChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	const dim = 64
	bsize := (dim / 4) * int8BlockRows * 4
	n := 2*(int8ChunkBytes/bsize)*int8BlockRows + 45 // two chunks and more, a partial block
	rm := randMatrix(r, n, dim)
	rows := QuantizeRows(rm, dim)
	rcodes := make([]int8, n*dim)
	for i := 0; i < n; i++ {
		quantize(rm[i*dim:(i+1)*dim], rcodes[i*dim:(i+1)*dim])
	}
	for _, k := range int8Kernels() {
		nq := k.width + 3
		qs := make([][]float32, nq)
		out := make([][]float32, nq)
		for j := range qs {
			qs[j] = randMatrix(r, 1, dim)
			out[j] = make([]float32, n+1)
			out[j][n] = -7
		}
		p := packInt8Queries(qs, dim, k)
		p.DotRows(rows, out)
		for j := range qs {
			q := p.codes[j*p.groups*4:]
			for i := 0; i < n; i++ {
				var sum int32
				for d := 0; d < dim; d++ {
					sum += int32(q[d]) * int32(rcodes[i*dim+d])
				}
				want := float32(float32(sum)*p.scale[j]) * rows.scale[i]
				if got := out[j][i]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s: out[%d][%d] = %v, want %v", k.name, j, i, got, want)
				}
			}
			if out[j][n] != -7 {
				t.Fatalf("%s: query %d: wrote past the rows", k.name, j)
			}
		}
	}
}

// TestInt8DotRowsAboveKeepsWhatReachesTheThreshold checks DotRowsAbove against DotRows
// with every kernel: for row counts within one block, across chunks and with a partial
// last block, and thresholds that keep nothing, a few, most, and every row (and NaN,
// nothing), it must keep exactly the rows whose DotRows score reaches the query's
// threshold, in row order, with those scores bit for bit, after what idx and sc held.
func TestInt8DotRowsAboveKeepsWhatReachesTheThreshold(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	for _, k := range int8Kernels() {
		for _, dim := range []int{5, 64, 384} {
			bsize := (dim + 3) / 4 * int8BlockRows * 4
			for _, n := range []int{1, 31, 32, 100, (int8ChunkBytes/bsize+1)*int8BlockRows + 7} {
				nq := k.width + 3
				rm := randMatrix(r, n, dim)
				rows := QuantizeRows(rm, dim)
				qs := make([][]float32, nq)
				out := make([][]float32, nq)
				for j := range qs {
					qs[j] = randMatrix(r, 1, dim)
					out[j] = make([]float32, n)
				}
				p := packInt8Queries(qs, dim, k)
				p.DotRows(rows, out)
				thr := make([]float32, nq)
				for j := range thr {
					switch j % 5 {
					case 0:
						thr[j] = float32(math.Inf(1))
					case 1:
						thr[j] = float32(math.Inf(-1))
					case 2:
						thr[j] = float32(math.NaN())
					default: // a score of the query's own, so ties are kept
						thr[j] = out[j][r.IntN(n)]
					}
				}
				idx := make([][]uint32, nq)
				sc := make([][]float32, nq)
				for j := range idx {
					idx[j], sc[j] = []uint32{7}, []float32{-9}
				}
				idx, sc = p.DotRowsAbove(rows, thr, idx, sc)
				for j := range qs {
					wi, ws := []uint32{7}, []float32{-9}
					for i, x := range out[j] {
						if x >= thr[j] {
							wi, ws = append(wi, uint32(i)), append(ws, x)
						}
					}
					if !slices.Equal(idx[j], wi) {
						t.Fatalf("%s dim %d, %d rows, query %d (threshold %v): kept rows %v, want %v", k.name, dim, n, j, thr[j], head(idx[j]), head(wi))
					}
					for i := range ws {
						if math.Float32bits(sc[j][i]) != math.Float32bits(ws[i]) {
							t.Fatalf("%s dim %d, %d rows, query %d: score %d = %v, want %v", k.name, dim, n, j, i, sc[j][i], ws[i])
						}
					}
				}
			}
		}
	}
}

func head[T any](s []T) []T { return s[:min(len(s), 8)] }
