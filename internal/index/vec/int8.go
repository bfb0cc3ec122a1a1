package vec

import (
	"fmt"
	"math"
)

// int8Offset is added to every query code so that the codes fit the unsigned operand
// of the integer kernels (VPDPBUSD multiplies unsigned by signed bytes); each kernel
// subtracts int8Offset·Σ row codes (Int8Rows.corr) again, so the sums are exact.
const int8Offset = 128

// int8Kernel is one integer micro-kernel: it scores rows rows of codes (row i starts at
// codes[i*stride]) against a panel of width queries, packed in groups of four codes
// (panel[(g*width+j)*4+t] is query j's code 4g+t plus int8Offset), over groups groups,
// and writes itile[i*tileCols+j] = Σ_k query_j[k]·row_i[k] (exact, in int32; the
// unsigned × signed sum wraps modulo 2³² like VPDPBUSD before corr[i] is subtracted,
// which leaves the exact value since it fits int32) and ftile[i*tileCols+j] =
// float32(itile)·qscale[j]·rscale[i], each operation rounded to float32 in that order.
type int8Kernel struct {
	name        string
	rows, width int
	fn          func(p *int8Call)
}

// int8Call holds the operands of one int8Kernel call.
type int8Call struct {
	panel  []byte
	codes  []int8
	stride int // bytes between rows; a multiple of 4
	groups int // groups of four codes per row
	corr   []int32
	rscale []float32
	qscale []float32
	itile  [tileRows * tileCols]int32
	ftile  [tileRows * tileCols]float32
}

// Int8Rows holds rows quantized to int8 codes for Int8Queries.DotRows: row i is
// approximated by scale[i]·codes[i], with scale[i] = max|row i|/127 (symmetric, one
// scale per row). Its zero value holds no rows.
type Int8Rows struct {
	dim    int
	stride int     // codes per row: dim rounded up to a multiple of 4, padded with zeros
	n      int     // rows
	codes  []int8  // n·stride codes
	corr   []int32 // int8Offset·Σ codes of each row
	scale  []float32
	// maxNorm bounds the Euclidean norm of every row; maxErr bounds ‖row − scale·codes‖.
	maxNorm, maxErr float64
}

// Len returns the number of rows.
func (r *Int8Rows) Len() int { return r.n }

// MaxNorm returns an upper bound on the Euclidean norm of every row.
func (r *Int8Rows) MaxNorm() float64 { return r.maxNorm }

// MaxErr returns an upper bound on the Euclidean norm of every row's quantization error
// (the row minus its scale times its codes).
func (r *Int8Rows) MaxErr() float64 { return r.maxErr }

// Bytes returns the memory the quantized rows hold.
func (r *Int8Rows) Bytes() int64 { return int64(len(r.codes)) + 8*int64(r.n) }

// quantize writes x's symmetric int8 codes to codes (len(x) of them) and returns the
// scale s = max|x|/127 (rounded to float32), Σ codes, ‖x‖ and ‖x − s·codes‖. The norms are
// computed in float64 from the exact differences (a float32 minus an integer of at most
// 7 bits times a float32 is exact in float64), so they are within dim·2⁻⁵³ of the truth.
func quantize(x []float32, codes []int8) (scale float32, sum int32, norm, errNorm float64) {
	var m float32
	for _, v := range x {
		m = max(m, abs32(v))
	}
	scale = m / 127
	var nn, ee float64
	if scale == 0 {
		// All zeros (or scale below the smallest float32): codes 0, the error is x.
		for k, v := range x {
			codes[k] = 0
			nn += float64(v) * float64(v)
		}
		return 0, 0, math.Sqrt(nn), math.Sqrt(nn)
	}
	inv := 1 / float64(scale)
	for k, v := range x {
		c := math.RoundToEven(float64(v) * inv)
		c = max(-127, min(127, c))
		codes[k] = int8(c)
		sum += int32(c)
		e := float64(v) - float64(scale)*c
		nn += float64(v) * float64(v)
		ee += e * e
	}
	return scale, sum, math.Sqrt(nn), math.Sqrt(ee)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// normSlack rounds a norm computed in float64 (relative error ≤ (dim+2)·2⁻⁵³, far below
// this) up to an upper bound.
const normSlack = 1 + 1.0/(1<<30)

// QuantizeRows quantizes rows, a row-major matrix of dim-float rows, for
// Int8Queries.DotRows. It panics if dim <= 0 or len(rows) is not a multiple of dim.
func QuantizeRows(rows []float32, dim int) *Int8Rows {
	if dim <= 0 || len(rows)%dim != 0 {
		panic(fmt.Sprintf("vec: %d floats are not whole rows of %d", len(rows), dim))
	}
	n := len(rows) / dim
	stride := (dim + 3) &^ 3
	r := &Int8Rows{dim: dim, stride: stride, n: n, codes: make([]int8, n*stride),
		corr: make([]int32, n), scale: make([]float32, n)}
	for i := 0; i < n; i++ {
		s, sum, nrm, e := quantize(rows[i*dim:(i+1)*dim], r.codes[i*stride:i*stride+dim])
		r.scale[i] = s
		r.corr[i] = int8Offset * sum
		r.maxNorm = max(r.maxNorm, nrm)
		r.maxErr = max(r.maxErr, e)
	}
	r.maxNorm *= normSlack
	r.maxErr *= normSlack
	return r
}

// Int8Queries are queries quantized and packed for Int8Queries.DotRows, reused across
// many calls (one per block of rows). The zero value is not usable; see
// PackInt8Queries.
type Int8Queries struct {
	dim, stride, n int
	k              int8Kernel
	panels         [][]byte    // panel p holds queries [p·k.width, …)
	scales         [][]float32 // each query's scale, k.width per panel (padding 0)
	norm, qnorm    []float64   // bounds on ‖q‖ and ‖scale·codes‖ per query
	err            []float64   // bound on ‖q − scale·codes‖ per query
}

// PackInt8Queries quantizes qs (each dim floats; symmetric, one scale max|q|/127 per
// query) and packs them for DotRows with the fastest integer kernel this CPU runs. It
// panics if dim <= 0 or a query is not dim floats long.
func PackInt8Queries(qs [][]float32, dim int) *Int8Queries {
	return packInt8Queries(qs, dim, bestInt8Kernel())
}

func packInt8Queries(qs [][]float32, dim int, k int8Kernel) *Int8Queries {
	if dim <= 0 {
		panic(fmt.Sprintf("vec: dimension %d", dim))
	}
	stride := (dim + 3) &^ 3
	groups := stride / 4
	p := &Int8Queries{dim: dim, stride: stride, n: len(qs), k: k,
		norm: make([]float64, len(qs)), qnorm: make([]float64, len(qs)), err: make([]float64, len(qs))}
	codes := make([]int8, stride)
	w := k.width
	for lo := 0; lo < len(qs); lo += w {
		panel := make([]byte, groups*w*4)
		for i := range panel {
			panel[i] = int8Offset
		}
		scales := make([]float32, w)
		for j, q := range qs[lo:min(lo+w, len(qs))] {
			if len(q) != dim {
				panic(fmt.Sprintf("vec: query has %d floats, dimension is %d", len(q), dim))
			}
			s, _, nrm, e := quantize(q, codes[:dim])
			scales[j] = s
			var cc float64
			for d, c := range codes[:dim] {
				panel[((d/4)*w+j)*4+d%4] = byte(int(c) + int8Offset)
				cc += float64(c) * float64(c)
			}
			p.norm[lo+j] = nrm * normSlack
			p.qnorm[lo+j] = float64(s) * math.Sqrt(cc) * normSlack
			p.err[lo+j] = e * normSlack
		}
		p.panels = append(p.panels, panel)
		p.scales = append(p.scales, scales)
	}
	return p
}

// Len returns the number of packed queries.
func (p *Int8Queries) Len() int { return p.n }

// DotRows writes out[j][i] ≈ the inner product of query j and row i of rows, computed
// as qscale_j·rscale_i·Σ_k qcode_j[k]·rcode_i[k] with the sum exact in int32. The
// result is within ErrorBound(j, rows.MaxNorm(), rows.MaxErr()) of Dot(query j, row i).
// It panics if rows has another dimension, len(out) < Len() or an out[j] is shorter
// than rows.Len().
func (p *Int8Queries) DotRows(rows *Int8Rows, out [][]float32) {
	if len(out) < p.n {
		panic(fmt.Sprintf("vec: %d output slices for %d queries", len(out), p.n))
	}
	if rows.dim != p.dim {
		panic(fmt.Sprintf("vec: rows of dimension %d, queries of %d", rows.dim, p.dim))
	}
	n := rows.n
	for j := 0; j < p.n; j++ {
		if len(out[j]) < n {
			panic(fmt.Sprintf("vec: output of %d for %d rows", len(out[j]), n))
		}
	}
	if p.n == 0 || n == 0 {
		return
	}
	R, W, stride := p.k.rows, p.k.width, p.stride
	call := &int8Call{stride: stride, groups: stride / 4}
	var pad *Int8Rows
	for i0 := 0; i0 < n; i0 += R {
		m := min(R, n-i0)
		call.codes = rows.codes[i0*stride:]
		call.corr = rows.corr[i0:]
		call.rscale = rows.scale[i0:]
		if m < R {
			// The kernel always reads R rows: copy the last ones into zeroed rows.
			if pad == nil {
				pad = &Int8Rows{codes: make([]int8, R*stride), corr: make([]int32, R), scale: make([]float32, R)}
			}
			clear(pad.codes)
			clear(pad.corr)
			clear(pad.scale)
			copy(pad.codes, rows.codes[i0*stride:])
			copy(pad.corr, rows.corr[i0:])
			copy(pad.scale, rows.scale[i0:])
			call.codes, call.corr, call.rscale = pad.codes, pad.corr, pad.scale
		}
		for pi, panel := range p.panels {
			call.panel = panel
			call.qscale = p.scales[pi]
			p.k.fn(call)
			q0 := pi * W
			cnt := min(W, p.n-q0)
			if m == tileRows && R == tileRows {
				storeFullTile(&call.ftile, out[q0:q0+cnt], i0)
			} else {
				for j := 0; j < cnt; j++ {
					o := out[q0+j][i0 : i0+m]
					for i := range o {
						o[i] = call.ftile[i*tileCols+j]
					}
				}
			}
		}
	}
}

// ErrorBound returns how far a DotRows score of query j and a row can be from Dot's
// score of the same pair, for rows whose norms are at most rnorm and whose quantization
// errors (row − scale·codes) have norms at most rerr (Int8Rows.MaxNorm and MaxErr).
//
// Derivation. Write q = q̃ + e_q and r = r̃ + e_r, where q̃ = s_q·codes_q and
// r̃ = s_r·codes_r are the quantized vectors and e_q, e_r their errors. Then
//
//	q·r − q̃·r̃ = e_q·r + q̃·e_r, so |q·r − q̃·r̃| ≤ ‖e_q‖·‖r‖ + ‖q̃‖·‖e_r‖ (Cauchy–Schwarz).
//
// DotRows computes q̃·r̃ = s_q·s_r·Σ codes_q·codes_r with the integer sum exact, then
// rounds three times in float32 (the conversion of the sum, the product with s_q and
// with s_r), so it is within (1+u)³−1 < 3u+4u² of q̃·r̃ relatively, u = 2⁻²⁴, and
// |q̃·r̃| ≤ ‖q̃‖·‖r̃‖. Dot is within γ_{dim+1}·‖q‖·‖r‖ of q·r (within u for dim 1).
// Both rounding terms together are at most GEMMErrorBound(dim, Q, R) with
// Q ≥ ‖q‖, ‖q̃‖ and R ≥ ‖r‖, ‖r̃‖: that covers 2·γ_{dim+1}·Q·R, and γ_{dim+1} ≥
// 3u/(1−3u) > 3u+4u² for dim ≥ 2, while for dim 1, u + 3u+4u² < 2·γ₂ = 4u/(1−2u); its
// absolute term covers the three roundings of results in the subnormal range. ‖q̃‖ ≤ ‖q‖ + ‖e_q‖ and ‖r̃‖ ≤ ‖r‖ + ‖e_r‖ give Q and R. The norms
// themselves are computed in float64 and rounded up (normSlack), and the sum is rounded
// up by a relative 2⁻²⁰.
func (p *Int8Queries) ErrorBound(j int, rnorm, rerr float64) float64 {
	Q := max(p.norm[j], p.qnorm[j])
	R := rnorm + rerr
	b := p.err[j]*rnorm + p.qnorm[j]*rerr + GEMMErrorBound(p.dim, Q, R)
	return b * (1 + 1.0/(1<<20))
}
