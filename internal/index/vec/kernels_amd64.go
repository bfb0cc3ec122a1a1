//go:build !purego

package vec

import (
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// CPU features picked once at start-up. AVX-512F implies the OS saves ZMM state
// (golang.org/x/sys/cpu checks XCR0), and FMA is part of every AVX-512F core.
var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	// hasVNNI: AVX-512 VNNI (VPDPBUSD on ZMM registers) with AVX-512BW.
	hasVNNI = hasAVX512 && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW
	// hasAMX: AMX-INT8 tiles (TDPBSUD), with AVX-512 for the kernel's conversion to
	// scores, and the operating system's leave to use the tile state (requestAMX).
	hasAMX = hasAVX512 && cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8 && requestAMX()
)

// Implemented in kernels_amd64.s. Each requires len(b) >= len(a).
//
//go:noescape
func dotAVX512(a, b []float32) float32

//go:noescape
func l2sqAVX512(a, b []float32) float32

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func l2sqAVX2(a, b []float32) float32

// dot4x2AVX512 scores rows r0 and r1 against queries q0..q3, n floats each, and writes
// out = [r0·q0, r0·q1, r0·q2, r0·q3, r1·q0, r1·q1, r1·q2, r1·q3]. It prefetches the
// 2n floats at pf meanwhile; pf is only a hint and may point anywhere readable.
//
//go:noescape
func dot4x2AVX512(q0, q1, q2, q3, r0, r1 *float32, n int, out *[8]float32, pf *float32)

// dot4x1AVX512 scores row r (n floats) against queries q0..q3 and writes
// out[k] = dotAVX512(qk, r), bit for bit.
//
//go:noescape
func dot4x1AVX512(q0, q1, q2, q3, r *float32, n int, out *[4]float32)

// The GEMM micro-kernels (see gemmKernel); stride is in bytes. Each reads
// (rows-1)·stride/4+dim floats from rows and dim·width floats from panel.
//
//go:noescape
func gemm12x32AVX512(panel, rows *float32, stride, dim int, tile *[tileRows * tileCols]float32)

//go:noescape
func gemm12x16AVX512(panel, rows *float32, stride, dim int, tile *[tileRows * tileCols]float32)

//go:noescape
func gemm6x16AVX2(panel, rows *float32, stride, dim int, tile *[tileRows * tileCols]float32)

// asmGEMM wraps an assembly micro-kernel of r rows and width w, checking that the
// slices hold what it reads.
func asmGEMM(r, w int, fn func(panel, rows *float32, stride, dim int, tile *[tileRows * tileCols]float32)) func(panel, rows []float32, stride, dim int, tile *[tileRows * tileCols]float32) {
	return func(panel, rows []float32, stride, dim int, tile *[tileRows * tileCols]float32) {
		_ = panel[dim*w-1]
		_ = rows[(r-1)*stride+dim-1]
		fn(&panel[0], &rows[0], 4*stride, dim, tile)
	}
}

var (
	avx512GEMM = gemmKernel{name: "avx512", rows: 12, width: 32, narrow: 16,
		fn: asmGEMM(12, 32, gemm12x32AVX512), narrowFn: asmGEMM(12, 16, gemm12x16AVX512)}
	avx2GEMM = gemmKernel{name: "avx2", rows: 6, width: 16, fn: asmGEMM(6, 16, gemm6x16AVX2)}
)

// int8x32x12VNNI is the AVX-512 VNNI integer micro-kernel (see int8Kernel): blocks
// of 32 rows × 12 queries, qstride in bytes. It reads blocks·128·groups codes,
// 11·qstride+4·groups query codes, 12 corrections and query scales, blocks·32 row
// scales, and writes blocks·32 scores from each of the 12 destination pointers on.
//
//go:noescape
func int8x32x12VNNI(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale *float32, dst *[int8MaxWidth]*float32, itile *[int8MaxWidth * int8BlockRows]int32)

var vnniInt8 = int8Kernel{name: "vnni", width: 12, fn: func(p *int8Call) {
	nb := p.blocks
	if nb <= 0 {
		return
	}
	_ = p.codes[nb*p.groups*int8BlockRows*4-1]
	_ = p.qcodes[11*p.qstride+p.groups*4-1]
	_ = p.corr[11]
	_ = p.qscale[11]
	_ = p.rscale[nb*int8BlockRows-1]
	var dst [int8MaxWidth]*float32
	for j, d := range p.dst[:12] {
		_ = d[nb*int8BlockRows-1]
		dst[j] = &d[0]
	}
	int8x32x12VNNI(nb, &p.codes[0], p.groups, &p.qcodes[0], p.qstride, &p.corr[0], &p.qscale[0], &p.rscale[0], &dst, &p.itile)
}}

// int8x32x16AMX is the AMX integer micro-kernel (see int8Kernel): blocks of 32 rows ×
// 16 queries, qstride in bytes, with the tiles configured by cfg (amxConfig). For each
// block it sums the products of the 16 queries' codes (a signed tile of 16 queries × 64
// codes) and the block's two halves of 16 rows (unsigned tiles of 16 groups × 16 rows ×
// 4 codes, the groups 128 bytes apart as Int8Rows packs them) into two int32 tiles with
// TDPBSUD, 64 codes at a time and the last groups%16 groups in tiles of their own; it
// stores them to itile, subtracts corr[j], and writes the scores as the VNNI kernel does
// (float32 of the sum, times qscale[j], times the row's scale, each rounded).
//
//go:noescape
func int8x32x16AMX(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale *float32, dst *[int8MaxWidth]*float32, itile *[int8MaxWidth * int8BlockRows]int32, cfg *[64]byte)

// amxConfig returns the tile configuration of int8x32x16AMX for rows of groups groups:
// palette 1; tiles 0 and 1 the sums (16 queries × 16 rows of int32), 2 the queries'
// codes (16 × 64), 3 and 4 the two halves' codes (16 groups × 64 bytes); with r =
// groups%16 > 0, tile 5 the queries' last 4r codes and 6 and 7 the halves' last r groups.
func amxConfig(groups int) [64]byte {
	var c [64]byte
	c[0] = 1
	set := func(t, rows, colsb int) {
		c[16+2*t] = byte(colsb)
		c[16+2*t+1] = byte(colsb >> 8)
		c[48+t] = byte(rows)
	}
	for t := 0; t < 5; t++ {
		set(t, 16, 64)
	}
	if r := groups % 16; r > 0 {
		set(5, 16, 4*r)
		set(6, r, 64)
		set(7, r, 64)
	}
	return c
}

// int8x32x16AMXAbove is int8x32x16AMX keeping only the scores that reach each query's
// threshold (see int8Kernel.above).
//
//go:noescape
func int8x32x16AMXAbove(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale, thr *float32, sc *[int8MaxWidth]*float32, idx *[int8MaxWidth]*uint32, cnt *[int8MaxWidth]int, itile *[int8MaxWidth * int8BlockRows]int32, cfg *[64]byte)

var amxInt8 = int8Kernel{name: "amx", width: 16, above: amxAbove, fn: func(p *int8Call) {
	nb := p.blocks
	if nb <= 0 {
		return
	}
	_ = p.codes[nb*p.groups*int8BlockRows*4-1]
	_ = p.qcodes[15*p.qstride+p.groups*4-1]
	_ = p.corr[15]
	_ = p.qscale[15]
	_ = p.rscale[nb*int8BlockRows-1]
	var dst [int8MaxWidth]*float32
	for j, d := range p.dst[:16] {
		_ = d[nb*int8BlockRows-1]
		dst[j] = &d[0]
	}
	cfg := amxConfig(p.groups)
	int8x32x16AMX(nb, &p.codes[0], p.groups, &p.qcodes[0], p.qstride, &p.corr[0], &p.qscale[0], &p.rscale[0], &dst, &p.itile, &cfg)
}}

func amxAbove(p *int8Call) {
	nb := p.blocks
	if nb <= 0 {
		return
	}
	_ = p.codes[nb*p.groups*int8BlockRows*4-1]
	_ = p.qcodes[15*p.qstride+p.groups*4-1]
	_ = p.corr[15]
	_ = p.qscale[15]
	_ = p.thr[15]
	_ = p.rscale[nb*int8BlockRows-1]
	var sc [int8MaxWidth]*float32
	var idx [int8MaxWidth]*uint32
	for j := range 16 {
		_ = p.sc[j][p.cnt[j]+nb*int8BlockRows-1]
		_ = p.idx[j][p.cnt[j]+nb*int8BlockRows-1]
		sc[j], idx[j] = &p.sc[j][0], &p.idx[j][0]
	}
	cfg := amxConfig(p.groups)
	int8x32x16AMXAbove(nb, &p.codes[0], p.groups, &p.qcodes[0], p.qstride, &p.corr[0], &p.qscale[0], &p.rscale[0], &p.thr[0], &sc, &idx, &p.cnt, &p.itile, &cfg)
}

// atLeastAVX512 writes the index of every element of x[:n] (n a multiple of 16) that is
// at least thr to dst, in order, and returns how many it wrote; dst has room for n.
//
//go:noescape
func atLeastAVX512(x *float32, n int, thr float32, dst *uint32) int

func atLeast(x []float32, thr float32, dst []uint32) []uint32 {
	if !hasAVX512 {
		return atLeastGeneric(x, thr, dst, 0)
	}
	m := len(x) &^ 15
	if m > 0 {
		dst = slices.Grow(dst, m)
		k := atLeastAVX512(&x[0], m, thr, unsafe.SliceData(dst[len(dst):cap(dst)]))
		dst = dst[:len(dst)+k]
	}
	return atLeastGeneric(x, thr, dst, m)
}

// int8x16x4AVX2 is the AVX2 integer micro-kernel's inner routine: 16 rows of a block
// (rows points at the half's first group, groups 128 bytes apart) × 4 queries, qstride
// in bytes; it writes the 16 sums of query j to itile[j*int8BlockRows:] and the 16
// scores from dst[j] on, reading 16 row scales at rscale.
//
//go:noescape
func int8x16x4AVX2(rows *byte, groups int, qcodes *int8, qstride int, qscale, rscale *float32, dst *[4]*float32, itile *int32)

var avx2Int8 = int8Kernel{name: "avx2", width: 4, fn: func(p *int8Call) {
	nb := p.blocks
	if nb <= 0 {
		return
	}
	bsize := p.groups * int8BlockRows * 4
	_ = p.codes[nb*bsize-1]
	_ = p.qcodes[3*p.qstride+p.groups*4-1]
	_ = p.qscale[3]
	_ = p.rscale[nb*int8BlockRows-1]
	for j := 0; j < 4; j++ {
		_ = p.dst[j][nb*int8BlockRows-1]
	}
	for b := 0; b < nb; b++ {
		for h := 0; h < int8BlockRows; h += 16 {
			i := b*int8BlockRows + h
			dst := [4]*float32{&p.dst[0][i], &p.dst[1][i], &p.dst[2][i], &p.dst[3][i]}
			int8x16x4AVX2(&p.codes[b*bsize+4*h], p.groups, &p.qcodes[0], p.qstride, &p.qscale[0], &p.rscale[i], &dst, &p.itile[h])
		}
	}
}}

// useAMX reports whether the int8 product runs the AMX kernel: the CPU and the
// operating system allow it, and SetAMX has not forbidden it.
func useAMX() bool { return hasAMX && !amxOff.Load() }

// bestInt8Kernel returns the fastest integer micro-kernel this CPU runs.
func bestInt8Kernel() int8Kernel {
	if useAMX() {
		return amxInt8
	}
	if hasVNNI {
		return vnniInt8
	}
	if hasAVX2 {
		return avx2Int8
	}
	return genericInt8
}

// Int8Fast reports whether this CPU runs an integer kernel that makes
// Int8Queries.DotRows faster than Queries.DotRows (AVX-512 VNNI). The AVX2 kernel
// needs four instructions per 32 products, as many as the float32 product's FMAs, and
// measured slower than it; the portable kernel is slower still.
func Int8Fast() bool { return hasVNNI || useAMX() }

// floatKernel names the kernel of Dot and L2Sq.
func floatKernel() string {
	switch {
	case hasAVX512:
		return "avx512"
	case hasAVX2:
		return "avx2"
	}
	return "generic"
}

// bestGEMMKernel returns the fastest GEMM micro-kernel this CPU runs.
func bestGEMMKernel() gemmKernel {
	if hasAVX512 {
		return avx512GEMM
	}
	if hasAVX2 {
		return avx2GEMM
	}
	return genericGEMM
}

// prefetchPairs is how many row pairs ahead dotManyQAVX512 prefetches: far enough to
// hide memory latency behind the work on the pairs in between.
const prefetchPairs = 4

func dot(a, b []float32) float32 {
	if hasAVX512 {
		return dotAVX512(a, b)
	}
	if hasAVX2 {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

func l2sq(a, b []float32) float32 {
	if hasAVX512 {
		return l2sqAVX512(a, b)
	}
	if hasAVX2 {
		return l2sqAVX2(a, b)
	}
	return l2sqGeneric(a, b)
}

func dotManyQ(qs [][]float32, rows []float32, dim int, out [][]float32) {
	if hasAVX512 {
		dotManyQAVX512(qs, rows, dim, out)
		return
	}
	dotManyQGeneric(qs, rows, dim, out)
}

// dotManyQAVX512 walks the rows two at a time and scores each pair against the queries
// four at a time, so every row is read from memory once per call and every loaded
// vector feeds several fused multiply-adds. Missing queries or rows at the ends are
// filled by repeating the last one and their scores dropped.
func dotManyQAVX512(qs [][]float32, rows []float32, dim int, out [][]float32) {
	n := len(rows) / dim
	nq := len(qs)
	var buf [8]float32
	for i := 0; i < n; i += 2 {
		r0 := &rows[i*dim]
		r1 := r0
		pair := i+1 < n
		if pair {
			r1 = &rows[(i+1)*dim]
		}
		// The first query group prefetches rows ahead; the others re-read hot rows.
		pf := r0
		if ahead := i + 2*prefetchPairs; ahead+1 < n {
			pf = &rows[ahead*dim]
		}
		for j := 0; j < nq; j += 4 {
			q0 := &qs[j][0]
			q1, q2, q3 := q0, q0, q0
			m := nq - j
			if m > 4 {
				m = 4
			}
			if m > 1 {
				q1 = &qs[j+1][0]
			}
			if m > 2 {
				q2 = &qs[j+2][0]
			}
			if m > 3 {
				q3 = &qs[j+3][0]
			}
			dot4x2AVX512(q0, q1, q2, q3, r0, r1, dim, &buf, pf)
			pf = r0
			for k := 0; k < m; k++ {
				out[j+k][i] = buf[k]
			}
			if pair {
				for k := 0; k < m; k++ {
					out[j+k][i+1] = buf[4+k]
				}
			}
		}
	}
}

func dotManyQExact(qs [][]float32, rows []float32, dim int, out [][]float32) {
	if hasAVX512 {
		dotManyQExactAVX512(qs, rows, dim, out)
		return
	}
	dotManyQGeneric(qs, rows, dim, out)
}

// dotManyQExactAVX512 walks the rows one at a time and scores each against the queries
// four at a time: the row is read from memory once and stays in L1 for the other
// query groups. Missing queries at the end repeat the last one and are dropped.
func dotManyQExactAVX512(qs [][]float32, rows []float32, dim int, out [][]float32) {
	n := len(rows) / dim
	nq := len(qs)
	var buf [4]float32
	for i := 0; i < n; i++ {
		r := &rows[i*dim]
		for j := 0; j < nq; j += 4 {
			m := min(nq-j, 4)
			q0 := &qs[j][0]
			q1, q2, q3 := q0, q0, q0
			if m > 1 {
				q1 = &qs[j+1][0]
			}
			if m > 2 {
				q2 = &qs[j+2][0]
			}
			if m > 3 {
				q3 = &qs[j+3][0]
			}
			dot4x1AVX512(q0, q1, q2, q3, r, dim, &buf)
			for k := 0; k < m; k++ {
				out[j+k][i] = buf[k]
			}
		}
	}
}

// dotU8I8VNNI returns Σ r[k]·q[k] over n bytes (r unsigned, q signed) with VPDPBUSD,
// 64 bytes at a time and a masked tail.
//
//go:noescape
func dotU8I8VNNI(r *byte, q *int8, n int) int32

// dotU8I8AVX2 returns Σ r[k]·q[k] over n bytes, n a multiple of 16, widening both to
// 16 bits (zero- and sign-extended) and adding pairs with VPMADDWD.
//
//go:noescape
func dotU8I8AVX2(r *byte, q *int8, n int) int32

// dotU8I8 returns Σ r[k]·q[k] over len(q) elements (r unsigned, q signed), wrapping
// modulo 2³². Requires len(r) >= len(q) > 0.
func dotU8I8(r []byte, q []int8) int32 {
	n := len(q)
	_ = r[n-1]
	if hasVNNI {
		return dotU8I8VNNI(&r[0], &q[0], n)
	}
	if hasAVX2 {
		m := n &^ 15
		var s int32
		if m > 0 {
			s = dotU8I8AVX2(&r[0], &q[0], m)
		}
		if m < n {
			s += dotU8I8Generic(r[m:n], q[m:])
		}
		return s
	}
	return dotU8I8Generic(r, q)
}

// dotU8I8VNNIRows writes out[i] = Σ rows[i][k]·q[k] over dim bytes for i < n (rows
// unsigned, q signed): one call for a node's links instead of one per link. (Software
// prefetch of the next rows, PREFETCHT0 three rows ahead, measured no faster and was
// left out.)
//
//go:noescape
func dotU8I8VNNIRows(rows *unsafe.Pointer, n int, q *int8, dim int, out *int32)

// dotU8I8Rows writes out[i] = dotU8I8(rows[i][:len(q)], q) for each row; rows are
// pointers to at least len(q) bytes.
func dotU8I8Rows(rows []unsafe.Pointer, q []int8, out []int32) {
	out = out[:len(rows)]
	if hasVNNI {
		if len(rows) > 0 {
			dotU8I8VNNIRows(&rows[0], len(rows), &q[0], len(q), &out[0])
		}
		return
	}
	for i, p := range rows {
		out[i] = dotU8I8(unsafe.Slice((*byte)(p), len(q)), q)
	}
}

// dotF32RowsAVX512 writes out[i] = dotAVX512(q[:dim], rows[i][:dim]) for i < n, asking
// for each next row's cache lines while it scores the current one.
//
//go:noescape
func dotF32RowsAVX512(rows *unsafe.Pointer, n int, q *float32, dim int, out *float32)

// dotRows writes out[i] = dot(q, rows[i][:len(q)]) for each row.
func dotRows(rows []unsafe.Pointer, q []float32, out []float32) {
	out = out[:len(rows)]
	if hasAVX512 && len(q) > 0 {
		if len(rows) > 0 {
			dotF32RowsAVX512(&rows[0], len(rows), &q[0], len(q), &out[0])
		}
		return
	}
	for i, p := range rows {
		out[i] = dot(q, unsafe.Slice((*float32)(p), len(q)))
	}
}

// Prefetch asks the CPU to bring the cache line holding *p into all cache levels
// (PREFETCHT0) and returns at once; the graph search calls it for the link list it will
// read next. It never faults, whatever p points to.
//
//go:noescape
func Prefetch(p *uint32)

// PrefetchF32 is Prefetch for the cache line holding *p.
func PrefetchF32(p *float32) { Prefetch((*uint32)(unsafe.Pointer(p))) }

//go:noescape
func maxAbsBitsAVX512(x *float32, n int) uint32

//go:noescape
func quantizeAVX512(x *float32, n int, inv float32, s64 float64, codes *int8) (sum int32, nn, ee float64)

// maxAbsBits returns the largest |x[i]| of x's first m floats as float32 bits (sign
// cleared), and m: how many it covered (a multiple of 16; 0 without AVX-512).
func maxAbsBits(x []float32) (mb uint32, m int) {
	if m = len(x) &^ 15; !hasAVX512 || m == 0 {
		return 0, 0
	}
	return maxAbsBitsAVX512(&x[0], m), m
}

// quantizeHead runs quantize's loop over the first m floats of x (a multiple of 16;
// 0 without AVX-512) and returns m with the codes' sum, Σ x² and Σ (x − s64·c)².
func quantizeHead(x []float32, codes []int8, inv float32, s64 float64) (m int, sum int32, nn, ee float64) {
	if m = len(x) &^ 15; !hasAVX512 || m == 0 {
		return 0, 0, 0, 0
	}
	_ = codes[m-1]
	sum, nn, ee = quantizeAVX512(&x[0], m, inv, s64, &codes[0])
	return m, sum, nn, ee
}
