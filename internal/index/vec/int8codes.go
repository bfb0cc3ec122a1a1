package vec

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hardneg/hardneg/internal/hugepage"
)

// int8CodeRows is the number of codes per Int8Codes chunk.
const int8CodeRows = 1024

// Int8Codes holds one int8 code per vector, addressed by a dense id, for approximate
// inner products against a quantized query (Int8Codes.Dot): the graph search walks on
// them and re-scores its final candidates with the float vectors.
//
// A code is a pure function of its float vector: symmetric, one scale per vector,
// s = max|x|/127 rounded to float32, and codes x/s rounded to the nearest integer in
// [−127, 127] (the quantization of QuantizeRows and PackInt8Queries). So codes need no
// trained parameters and nothing persisted: whoever stores the floats rebuilds the same
// codes from them, bit for bit. A code costs dim+4 bytes (the codes and the scale).
//
// Codes live in chunks of int8CodeRows that never move, one contiguous byte slice per
// chunk, so readers hold no lock. Set for an id happens before the id is published to
// readers (the same rule as for the vectors it encodes); Set calls are serialised by the
// caller, and the chunk table grows atomically.
type Int8Codes struct {
	dim    int
	growMu sync.Mutex                   // guards replacing chunks
	chunks atomic.Pointer[[]*codeChunk] // replaced (never mutated) on growth
	// maxNorm and maxErr (float64 bits) bound ‖x‖ and ‖x − scale·codes‖ of every vector
	// ever Set (they only grow), for ErrorBound. Set raises them before it returns, so a
	// reader that sees an id sees bounds covering its code.
	maxNorm, maxErr atomic.Uint64
}

// codeChunk holds int8CodeRows codes, each in dim+4 bytes at codes[i·(dim+4):]: row
// i's dim codes, offset by int8Offset (as unsigned bytes, the operand VPDPBUSD takes),
// then its scale (float32 bits, little-endian). The scale next to the codes shares their
// last cache line (or the line after it, which the CPU fetches with it), where a
// separate array of scales cost a cache miss of its own per code scored.
type codeChunk struct {
	codes []byte
}

// row returns the codes of row i of c and the 4 bytes of its scale.
func (t *Int8Codes) row(c *codeChunk, i int) (codes, scale []byte) {
	off := i * (t.dim + 4)
	return c.codes[off : off+t.dim : off+t.dim], c.codes[off+t.dim : off+t.dim+4 : off+t.dim+4]
}

// scaleOf reads a scale as row stores it.
func scaleOf(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// NewInt8Codes returns an empty code table for vectors of dim floats. It panics if
// dim <= 0.
func NewInt8Codes(dim int) *Int8Codes {
	if dim <= 0 {
		panic(fmt.Sprintf("vec: dimension %d", dim))
	}
	t := &Int8Codes{dim: dim}
	t.chunks.Store(&[]*codeChunk{})
	return t
}

// Dim returns the dimension of the encoded vectors.
func (t *Int8Codes) Dim() int { return t.dim }

// Bytes returns the memory the codes hold: (dim+4)·capacity.
func (t *Int8Codes) Bytes() int64 {
	return int64(len(*t.chunks.Load())) * int8CodeRows * int64(t.dim+4)
}

// Set encodes x (dim floats) as id's code. It panics if len(x) != Dim().
func (t *Int8Codes) Set(id uint32, x []float32) {
	if len(x) != t.dim {
		panic(fmt.Sprintf("vec: vector of %d floats, dimension %d", len(x), t.dim))
	}
	c := t.ensure(id)
	dst, scale := t.row(c, int(id%int8CodeRows))
	// quantize writes signed codes; reinterpret the destination and offset them.
	codes := make([]int8, t.dim)
	s, _, nrm, e := quantize(x, codes)
	for k, v := range codes {
		dst[k] = byte(v) ^ 0x80
	}
	binary.LittleEndian.PutUint32(scale, math.Float32bits(s))
	raiseTo(&t.maxNorm, nrm*normSlack)
	raiseTo(&t.maxErr, e*normSlack)
}

// raiseTo raises the float64 stored as bits in a to x if x is larger.
func raiseTo(a *atomic.Uint64, x float64) {
	for {
		old := a.Load()
		if !(x > math.Float64frombits(old)) || a.CompareAndSwap(old, math.Float64bits(x)) {
			return
		}
	}
}

// ensure returns the chunk of id, growing the table as needed.
func (t *Int8Codes) ensure(id uint32) *codeChunk {
	if tab := *t.chunks.Load(); int(id/int8CodeRows) < len(tab) {
		return tab[id/int8CodeRows]
	}
	t.growMu.Lock()
	defer t.growMu.Unlock()
	old := *t.chunks.Load()
	need := int(id/int8CodeRows) + 1
	if need <= len(old) {
		return old[id/int8CodeRows]
	}
	tab := make([]*codeChunk, len(old), max(need, 2*len(old)))
	copy(tab, old)
	for len(tab) < need {
		// Chunks come in slabs once the table is large (hugepage.Chunks), so that most
		// of the codes lie in whole huge pages; the table covers the whole slab.
		for _, c := range hugepage.Chunks[byte](len(tab), int8CodeRows*(t.dim+4)) {
			tab = append(tab, &codeChunk{codes: c})
		}
	}
	t.chunks.Store(&tab)
	return tab[id/int8CodeRows]
}

// Code returns a copy of id's signed codes and its scale (the vector is approximately
// scale·codes). It panics if id was never Set or grown into.
func (t *Int8Codes) Code(id uint32) ([]int8, float32) {
	codes, scale := t.row((*t.chunks.Load())[id/int8CodeRows], int(id%int8CodeRows))
	out := make([]int8, t.dim)
	for k, b := range codes {
		out[k] = int8(b ^ 0x80)
	}
	return out, scaleOf(scale)
}

// Int8Query is one query quantized for Int8Codes.Dot (the quantization of the codes).
// The zero value holds no query; Int8Codes.Quantize fills it, reusing its memory.
type Int8Query struct {
	codes []int8
	corr  int32 // int8Offset·Σ codes
	scale float32
	// norm, qnorm and err bound ‖x‖, ‖scale·codes‖ and ‖x − scale·codes‖ (ErrorBound).
	norm, qnorm, err float64
}

// Quantize fills q with the codes of the query x (dim floats). It panics if
// len(x) != Dim().
func (t *Int8Codes) Quantize(x []float32, q *Int8Query) {
	if len(x) != t.dim {
		panic(fmt.Sprintf("vec: query of %d floats, dimension %d", len(x), t.dim))
	}
	if cap(q.codes) < t.dim {
		q.codes = make([]int8, t.dim)
	}
	q.codes = q.codes[:t.dim]
	s, sum, nrm, e := quantize(x, q.codes)
	q.scale, q.corr = s, int8Offset*sum
	var cc float64
	for _, c := range q.codes {
		cc += float64(c) * float64(c)
	}
	q.norm, q.qnorm, q.err = nrm*normSlack, float64(s)*math.Sqrt(cc)*normSlack, e*normSlack
}

// ErrorBound returns how far Dot(q, id) can be from Dot (the float inner product) of
// the vector q was quantized from and id's vector, for every id Set before the call:
// Int8Queries.ErrorBound's derivation with the largest norm and quantization error of
// any vector Set so far in place of a row block's. A search on codes that re-scores its
// candidates with the floats can leave a candidate unscored while its approximate score
// is more than this below the best float score it still has to hand out.
func (t *Int8Codes) ErrorBound(q *Int8Query) float64 {
	rnorm, rerr := math.Float64frombits(t.maxNorm.Load()), math.Float64frombits(t.maxErr.Load())
	Q := max(q.norm, q.qnorm)
	b := q.err*rnorm + q.qnorm*rerr + GEMMErrorBound(t.dim, Q, rnorm+rerr)
	return b * (1 + 1.0/(1<<20))
}

// Dot returns the approximate inner product of the quantized query q and id's vector:
// float32(Σ_k qcode[k]·code[k])·qscale·scale, the integer sum exact and each product
// rounded to float32 in that order, exactly what Int8Queries.DotRows computes for the
// same pair (so its ErrorBound applies). The sum runs on the fastest integer kernel this
// CPU has (AVX-512 VNNI, AVX2, portable; all give the same sum). q must come from
// Quantize of this table, and id must have been Set.
func (t *Int8Codes) Dot(q *Int8Query, id uint32) float32 {
	codes, scale := t.row((*t.chunks.Load())[id/int8CodeRows], int(id%int8CodeRows))
	s := dotU8I8(codes, q.codes) - q.corr
	return float32(float32(s)*q.scale) * scaleOf(scale)
}

// dotManyBatch is how many ids DotMany hands to one kernel call.
const dotManyBatch = 64

// DotMany writes out[i] = Dot(q, ids[i]) for every i, bit for bit, scoring the codes
// with one kernel call per 64 ids (VNNI; other CPUs score them one by one). It panics
// if len(out) < len(ids).
func (t *Int8Codes) DotMany(q *Int8Query, ids []uint32, out []float32) {
	out = out[:len(ids)]
	tab := *t.chunks.Load()
	var ptrs [dotManyBatch]unsafe.Pointer
	var sums [dotManyBatch]int32
	for lo := 0; lo < len(ids); lo += dotManyBatch {
		part := ids[lo:min(lo+dotManyBatch, len(ids))]
		for j, id := range part {
			codes, _ := t.row(tab[id/int8CodeRows], int(id%int8CodeRows))
			ptrs[j] = unsafe.Pointer(&codes[0])
		}
		dotU8I8Rows(ptrs[:len(part)], q.codes, sums[:len(part)])
		for j := range part {
			// the scale follows the codes the kernel just read
			scale := scaleOf(unsafe.Slice((*byte)(unsafe.Add(ptrs[j], t.dim)), 4))
			out[lo+j] = float32(float32(sums[j]-q.corr)*q.scale) * scale
		}
	}
}

// dotU8I8Generic returns Σ r[k]·q[k] over len(q) elements, r unsigned, q signed, the sum
// wrapping modulo 2³² like VPDPBUSD. Requires len(r) >= len(q).
func dotU8I8Generic(r []byte, q []int8) int32 {
	r = r[:len(q)]
	var s0, s1, s2, s3 int32
	k := 0
	for ; k+4 <= len(q); k += 4 {
		s0 += int32(r[k]) * int32(q[k])
		s1 += int32(r[k+1]) * int32(q[k+1])
		s2 += int32(r[k+2]) * int32(q[k+2])
		s3 += int32(r[k+3]) * int32(q[k+3])
	}
	for ; k < len(q); k++ {
		s0 += int32(r[k]) * int32(q[k])
	}
	return (s0 + s1) + (s2 + s3)
}
