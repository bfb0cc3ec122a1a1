package vec

import (
	"math"
	"unsafe"
)

// Dot returns the inner product of a and b. It panics if len(b) < len(a).
func Dot(a, b []float32) float32 {
	return dot(a, b[:len(a)])
}

// DotRows writes out[i] = Dot(q, row i) for each row, where rows[i] points to the first
// of at least len(q) float32s: bit for bit what Dot returns, in one call for a node's
// links, asking for the next row while it scores the current one where the CPU has
// AVX-512. It panics if len(out) < len(rows).
func DotRows(rows []unsafe.Pointer, q []float32, out []float32) {
	dotRows(rows, q, out)
}

// L2Sq returns the squared Euclidean distance of a and b. It panics if len(b) < len(a).
func L2Sq(a, b []float32) float32 {
	return l2sq(a, b[:len(a)])
}

// Norm returns the Euclidean norm of a, accumulated in float64.
func Norm(a []float32) float64 {
	var s float64
	for _, x := range a {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Normalize scales a in place to unit length and reports whether it could (false for a
// zero vector, which is left unchanged). The scaling is computed in float64, so that
// tiny norms (whose reciprocal overflows float32, down to the smallest subnormal) and
// huge ones (whose reciprocal is subnormal) still give a finite unit vector.
func Normalize(a []float32) bool {
	_, ok := NormalizeBy(a, Norm(a))
	return ok
}

// NormalizeBy is Normalize with a's norm n (Norm(a)) already known. It also returns
// the float64 sum of the squares of the scaled values, in order (Norm of the result,
// squared), which is finite exactly when every scaled value is.
func NormalizeBy(a []float32, n float64) (sumSq float64, ok bool) {
	if n == 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	for i := range a {
		x := float32(float64(a[i]) / n)
		a[i] = x
		sumSq += float64(x) * float64(x)
	}
	return sumSq, true
}
