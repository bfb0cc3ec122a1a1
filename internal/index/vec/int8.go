package vec

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// int8Offset is added to every row code so that the codes fit the unsigned operand of
// the integer kernels (VPDPBUSD multiplies unsigned by signed bytes); each kernel
// subtracts int8Offset·Σ query codes (Int8Queries.corr) again, so the sums are exact.
const int8Offset = 128

// int8BlockRows is how many rows Int8Rows packs together: the rows of a block lie in
// the lanes of the kernels' registers, so a kernel writes a query's scores of a whole
// block with two vector stores.
const int8BlockRows = 32

// int8Kernel is one integer micro-kernel: it scores blocks consecutive blocks of
// int8BlockRows rows each (Int8Rows' layout: within a block, group g of four codes of
// row i at block[(g*int8BlockRows+i)*4:], each code plus int8Offset) against up to
// width queries of four-code groups (query j's codes at qcodes[j*qstride:]), and writes
// dst[j][b*int8BlockRows+i] = float32(Σ_k q_j[k]·r_i[k])·qscale[j]·rscale[b*int8BlockRows+i],
// each operation rounded to float32 in that order, for row i of block b. The sum is
// exact in int32: the VNNI and portable kernels multiply the offset (unsigned) row
// codes by the query codes, wrapping modulo 2³² like VPDPBUSD, and subtract corr[j],
// which leaves the exact value since it fits int32; the AVX2 kernel multiplies the
// codes themselves. The last block's sums are also written to itile[j*int8BlockRows+i].
type int8Kernel struct {
	name  string
	width int // queries per call
	fn    func(p *int8Call)
	// above, where the kernel has it, computes the same scores but keeps of query j's
	// only those at least thr[j]: it writes them to sc[j] and their rows (b·32 + i) to
	// idx[j] from cnt[j] on, in row order, and advances cnt[j] (each sc[j] and idx[j]
	// has room for blocks·int8BlockRows more). dst is not used.
	above func(p *int8Call)
}

// int8Call holds the operands of one int8Kernel call.
type int8Call struct {
	blocks  int
	codes   []byte // blocks·groups·int8BlockRows·4 row codes
	groups  int    // groups of four codes per row
	qcodes  []int8 // width queries, qstride codes each
	qstride int
	corr    []int32                 // width corrections
	qscale  []float32               // width query scales
	rscale  []float32               // blocks·int8BlockRows row scales
	dst     [int8MaxWidth][]float32 // each at least blocks·int8BlockRows long
	itile   [int8MaxWidth * int8BlockRows]int32
	// For int8Kernel.above: width thresholds, and per query the kept scores, their
	// rows and how many there are.
	thr []float32
	sc  [int8MaxWidth][]float32
	idx [int8MaxWidth][]uint32
	cnt [int8MaxWidth]int
}

// int8MaxWidth bounds every int8Kernel's width.
const int8MaxWidth = 16

// Int8Rows holds rows quantized to int8 codes for Int8Queries.DotRows: row i is
// approximated by scale[i]·codes[i], with scale[i] = max|row i|/127 (symmetric, one
// scale per row). The zero value holds no rows.
type Int8Rows struct {
	dim    int
	groups int    // groups of four codes per row (dim rounded up, padded with zeros)
	n      int    // rows
	codes  []byte // blocks of int8BlockRows rows, see int8Kernel; padding rows are zero
	scale  []float32
	// maxNorm bounds the Euclidean norm of every row; maxErr bounds ‖row − scale·codes‖.
	maxNorm, maxErr float64
}

// Len returns the number of rows.
func (r *Int8Rows) Len() int { return r.n }

// Head returns the first n rows of r (sharing its codes), with r's norm bounds. It
// panics if n is out of range.
func (r *Int8Rows) Head(n int) *Int8Rows {
	if n < 0 || n > r.n {
		panic(fmt.Sprintf("vec: %d of %d rows", n, r.n))
	}
	h := *r
	h.n = n
	return &h
}

// MaxNorm returns an upper bound on the Euclidean norm of every row.
func (r *Int8Rows) MaxNorm() float64 { return r.maxNorm }

// MaxErr returns an upper bound on the Euclidean norm of every row's quantization error
// (the row minus its scale times its codes).
func (r *Int8Rows) MaxErr() float64 { return r.maxErr }

// Bytes returns the memory the quantized rows hold.
func (r *Int8Rows) Bytes() int64 { return int64(len(r.codes)) + 4*int64(len(r.scale)) }

// quantize writes x's symmetric int8 codes to codes (len(x) of them) and returns the
// scale s = max|x|/127 (rounded to float32), Σ codes, ‖x‖ and ‖x − s·codes‖. A code is
// x/s rounded to the nearest integer (either one on a tie or a rounding of x/s itself,
// which only moves the error, and the error is measured). The norms are computed in
// float64 from the exact differences (a float32 minus an integer of at most 7 bits
// times a float32 is exact in float64), so they are within dim·2⁻⁵³ of the truth.
func quantize(x []float32, codes []int8) (scale float32, sum int32, norm, errNorm float64) {
	codes = codes[:len(x)]
	// Absolute values of finite floats order as their bit patterns do.
	mb, m := maxAbsBits(x)
	for _, v := range x[m:] {
		if b := math.Float32bits(v) &^ (1 << 31); b > mb {
			mb = b
		}
	}
	scale = math.Float32frombits(mb) / 127
	var nn, ee float64
	if scale == 0 {
		// All zeros (or scale below the smallest float32): codes 0, the error is x.
		for k, v := range x {
			codes[k] = 0
			nn += float64(v) * float64(v)
		}
		return 0, 0, math.Sqrt(nn), math.Sqrt(nn)
	}
	inv := 1 / scale
	s64 := float64(scale)
	if math.IsInf(float64(inv), 0) {
		// A scale in the subnormal range: divide in float64 instead.
		for k, v := range x {
			codes[k] = int8(max(-127, min(127, math.RoundToEven(float64(v)/s64))))
		}
		inv = 0
	}
	start := 0
	if inv != 0 {
		// The kernel (where this CPU has one) does the loop below over a head of x.
		start, sum, nn, ee = quantizeHead(x, codes, inv, s64)
	}
	for k := start; k < len(x); k++ {
		v := x[k]
		// |v·inv| ≤ 127·(1+3·2⁻²⁴), so the sum lies in (1, 256) and truncating it
		// rounds v·inv half up to a code in [−127, 127]. The product is rounded to
		// float32 on its own (not fused with the sum), as the kernels do.
		c := int32(codes[k])
		if inv != 0 {
			c = int32(float32(v*inv)+128.5) - 128
		}
		codes[k] = int8(c)
		sum += c
		e := float64(v) - s64*float64(c)
		nn += float64(v) * float64(v)
		ee += e * e
	}
	return scale, sum, math.Sqrt(nn), math.Sqrt(ee)
}

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
	groups := (dim + 3) / 4
	nb := (n + int8BlockRows - 1) / int8BlockRows
	r := &Int8Rows{dim: dim, groups: groups, n: n,
		codes: make([]byte, nb*groups*int8BlockRows*4), scale: make([]float32, nb*int8BlockRows)}
	if n%int8BlockRows != 0 {
		// The last block's lanes past row n hold code 0 (every row's lanes are written
		// below, its codes past dim as 0 too).
		last := r.codes[(nb-1)*groups*int8BlockRows*4:]
		last[0] = int8Offset
		for f := 1; f < len(last); f *= 2 {
			copy(last[f:], last[:f])
		}
	}
	codes := make([]int8, groups*4)
	cb := unsafe.Slice((*byte)(unsafe.Pointer(&codes[0])), len(codes))
	for i := 0; i < n; i++ {
		s, _, nrm, e := quantize(rows[i*dim:(i+1)*dim], codes)
		r.scale[i] = s
		// Group g of row i goes to lane i%int8BlockRows of the block's group g, each
		// code offset by int8Offset (the sign bit flipped).
		dst := r.codes[(i/int8BlockRows)*groups*int8BlockRows*4+(i%int8BlockRows)*4:]
		for g := 0; g < groups; g++ {
			o := g * int8BlockRows * 4
			binary.LittleEndian.PutUint32(dst[o:o+4], binary.LittleEndian.Uint32(cb[g*4:g*4+4])^0x80808080)
		}
		r.maxNorm = max(r.maxNorm, nrm)
		r.maxErr = max(r.maxErr, e)
	}
	r.maxNorm *= normSlack
	r.maxErr *= normSlack
	return r
}

// Int8Queries are queries quantized for Int8Queries.DotRows, reused across many calls
// (one per block of rows). The zero value is not usable; see PackInt8Queries.
type Int8Queries struct {
	dim, groups, n int
	k              int8Kernel
	codes          []int8    // query j's codes at [j·groups·4, …), padded to whole kernel calls
	corr           []int32   // int8Offset·Σ codes per query
	scale          []float32 // per query
	norm, qnorm    []float64 // bounds on ‖q‖ and ‖scale·codes‖ per query
	err            []float64 // bound on ‖q − scale·codes‖ per query
}

// PackInt8Queries quantizes qs (each dim floats; symmetric, one scale max|q|/127 per
// query) for DotRows with the fastest integer kernel this CPU runs. It panics if
// dim <= 0 or a query is not dim floats long.
func PackInt8Queries(qs [][]float32, dim int) *Int8Queries {
	return packInt8Queries(qs, dim, bestInt8Kernel())
}

func packInt8Queries(qs [][]float32, dim int, k int8Kernel) *Int8Queries {
	if dim <= 0 {
		panic(fmt.Sprintf("vec: dimension %d", dim))
	}
	groups := (dim + 3) / 4
	padded := (len(qs) + k.width - 1) / k.width * k.width
	p := &Int8Queries{dim: dim, groups: groups, n: len(qs), k: k,
		codes: make([]int8, padded*groups*4), corr: make([]int32, padded), scale: make([]float32, padded),
		norm: make([]float64, len(qs)), qnorm: make([]float64, len(qs)), err: make([]float64, len(qs))}
	for j, q := range qs {
		if len(q) != dim {
			panic(fmt.Sprintf("vec: query has %d floats, dimension is %d", len(q), dim))
		}
		codes := p.codes[j*groups*4 : j*groups*4+dim]
		s, sum, nrm, e := quantize(q, codes)
		var cc float64
		for _, c := range codes {
			cc += float64(c) * float64(c)
		}
		p.scale[j] = s
		p.corr[j] = int8Offset * sum
		p.norm[j] = nrm * normSlack
		p.qnorm[j] = float64(s) * math.Sqrt(cc) * normSlack
		p.err[j] = e * normSlack
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
	W, G := p.k.width, p.groups
	bsize := G * int8BlockRows * 4
	call := &int8Call{groups: G, qstride: G * 4}
	full := n / int8BlockRows
	// The full blocks go in chunks of about int8ChunkBytes of codes, each scored against
	// every group of W queries while it stays in the core's cache, so the rows are read
	// from memory once rather than once per group.
	cb := max(1, int8ChunkBytes/bsize)
	// Scores of padding queries go to scratch, and so do a last block's when it is not
	// full; the latter are then copied out.
	scratch := make([]float32, max(min(cb, full), 1)*int8BlockRows)
	var last [int8MaxWidth][int8BlockRows]float32
	setQueries := func(j0 int) int {
		call.qcodes = p.codes[j0*G*4 : (j0+W)*G*4]
		call.corr = p.corr[j0 : j0+W]
		call.qscale = p.scale[j0 : j0+W]
		return min(W, p.n-j0)
	}
	for b0 := 0; b0 < full; b0 += cb {
		nb := min(cb, full-b0)
		lo, hi := b0*int8BlockRows, (b0+nb)*int8BlockRows
		call.blocks = nb
		call.codes = rows.codes[b0*bsize : (b0+nb)*bsize]
		call.rscale = rows.scale[lo:hi]
		for j0 := 0; j0 < p.n; j0 += W {
			cnt := setQueries(j0)
			for j := 0; j < W; j++ {
				if j < cnt {
					call.dst[j] = out[j0+j][lo:hi]
				} else {
					call.dst[j] = scratch[:hi-lo]
				}
			}
			p.k.fn(call)
		}
	}
	if m := n - full*int8BlockRows; m > 0 {
		i0 := full * int8BlockRows
		call.blocks = 1
		call.codes = rows.codes[full*bsize : (full+1)*bsize]
		call.rscale = rows.scale[i0 : i0+int8BlockRows]
		for j := 0; j < W; j++ {
			call.dst[j] = last[j][:]
		}
		for j0 := 0; j0 < p.n; j0 += W {
			cnt := setQueries(j0)
			p.k.fn(call)
			for j := 0; j < cnt; j++ {
				copy(out[j0+j][i0:i0+m], last[j][:m])
			}
		}
	}
}

// DotRowsAbove appends to idx[j] the rows of rows whose DotRows score with query j is
// at least thr[j], and the scores to sc[j], in row order, for every query, and returns
// the slices: the same scores bit for bit, but without writing every one (where the
// kernel keeps them as it computes them, AMX; else through a buffer of a few blocks,
// in cache). A NaN threshold keeps nothing. It panics if len(thr), len(idx) or len(sc)
// is below Len() or rows has another dimension.
func (p *Int8Queries) DotRowsAbove(rows *Int8Rows, thr []float32, idx [][]uint32, sc [][]float32) ([][]uint32, [][]float32) {
	if len(thr) < p.n || len(idx) < p.n || len(sc) < p.n {
		panic(fmt.Sprintf("vec: %d thresholds, %d and %d outputs for %d queries", len(thr), len(idx), len(sc), p.n))
	}
	if rows.dim != p.dim {
		panic(fmt.Sprintf("vec: rows of dimension %d, queries of %d", rows.dim, p.dim))
	}
	n := rows.n
	if p.n == 0 || n == 0 {
		return idx, sc
	}
	W, G := p.k.width, p.groups
	bsize := G * int8BlockRows * 4
	cb := max(1, int8ChunkBytes/bsize)
	// The rows go in chunks of up to cb blocks, the last block alone when not full; a
	// chunk's scores are written to buf and filtered, or kept by the kernel.
	nbuf := min(cb, (n+int8BlockRows-1)/int8BlockRows) * int8BlockRows
	ab := abovePool.Get().(*aboveBuf)
	defer func() {
		ab.call = int8Call{} // no references to this call's rows or queries kept in the pool
		abovePool.Put(ab)
	}()
	call := &ab.call
	*call = int8Call{groups: G, qstride: G * 4}
	var thrs [int8MaxWidth]float32
	buf, sel := &ab.buf, &ab.sel
	for j := range W {
		if cap(buf[j]) < nbuf {
			buf[j], sel[j] = make([]float32, nbuf), make([]uint32, nbuf)
		}
		buf[j], sel[j] = buf[j][:nbuf], sel[j][:nbuf]
	}
	full, total := n/int8BlockRows, (n+int8BlockRows-1)/int8BlockRows
	for b0, nb := 0, 0; b0 < total; b0 += nb {
		nb = min(cb, full-b0)
		if b0 >= full {
			nb = 1 // the last, partial block
		}
		lo := b0 * int8BlockRows
		m := min(nb*int8BlockRows, n-lo) // rows of the chunk
		call.blocks = nb
		call.codes = rows.codes[b0*bsize : (b0+nb)*bsize]
		call.rscale = rows.scale[lo : lo+nb*int8BlockRows]
		for j0 := 0; j0 < p.n; j0 += W {
			cnt := min(W, p.n-j0)
			call.qcodes = p.codes[j0*G*4 : (j0+W)*G*4]
			call.corr = p.corr[j0 : j0+W]
			call.qscale = p.scale[j0 : j0+W]
			for j := range W {
				thrs[j] = float32(math.NaN())
				if j < cnt {
					thrs[j] = thr[j0+j]
				}
			}
			if p.k.above != nil && m == nb*int8BlockRows {
				call.thr = thrs[:W]
				for j := range W {
					call.sc[j], call.idx[j], call.cnt[j] = buf[j], sel[j], 0
				}
				p.k.above(call)
				for j := 0; j < cnt; j++ {
					k := call.cnt[j]
					for _, r := range sel[j][:k] {
						idx[j0+j] = append(idx[j0+j], uint32(lo)+r)
					}
					sc[j0+j] = append(sc[j0+j], buf[j][:k]...)
				}
				continue
			}
			for j := range W {
				call.dst[j] = buf[j]
			}
			p.k.fn(call)
			for j := 0; j < cnt; j++ {
				s := buf[j][:m]
				first := len(idx[j0+j])
				idx[j0+j] = atLeast(s, thrs[j], idx[j0+j])
				for k := first; k < len(idx[j0+j]); k++ {
					r := idx[j0+j][k]
					sc[j0+j] = append(sc[j0+j], s[r])
					idx[j0+j][k] = uint32(lo) + r
				}
			}
		}
	}
	return idx, sc
}

// aboveBuf is DotRowsAbove's scratch space, reused through abovePool: a kernel call's
// operands and, per query, a chunk's scores and kept rows.
type aboveBuf struct {
	call int8Call
	buf  [int8MaxWidth][]float32
	sel  [int8MaxWidth][]uint32
}

var abovePool = sync.Pool{New: func() any { return new(aboveBuf) }}

// int8ChunkBytes is about how many bytes of row codes DotRows scores against all its
// queries before it moves on: a fraction of a core's L2 cache, so the rows stay there
// from one group of queries to the next.
const int8ChunkBytes = 512 << 10

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
