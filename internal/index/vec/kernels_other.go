//go:build !amd64 || purego

package vec

import "unsafe"

func dot(a, b []float32) float32 { return dotGeneric(a, b) }

func l2sq(a, b []float32) float32 { return l2sqGeneric(a, b) }

func dotManyQ(qs [][]float32, rows []float32, dim int, out [][]float32) {
	dotManyQGeneric(qs, rows, dim, out)
}

func dotManyQExact(qs [][]float32, rows []float32, dim int, out [][]float32) {
	dotManyQGeneric(qs, rows, dim, out)
}

func bestGEMMKernel() gemmKernel { return genericGEMM }

func bestInt8Kernel() int8Kernel { return genericInt8 }

func floatKernel() string { return "generic" }

func useAMX() bool { return false }

// Int8Fast reports whether this CPU runs an integer kernel that makes
// Int8Queries.DotRows faster than Queries.DotRows; the portable one is not.
func Int8Fast() bool { return false }

func atLeast(x []float32, thr float32, dst []uint32) []uint32 {
	return atLeastGeneric(x, thr, dst, 0)
}

func dotU8I8(r []byte, q []int8) int32 { return dotU8I8Generic(r, q) }

func dotU8I8Rows(rows []unsafe.Pointer, q []int8, out []int32) {
	out = out[:len(rows)]
	for i, p := range rows {
		out[i] = dotU8I8Generic(unsafe.Slice((*byte)(p), len(q)), q)
	}
}

func dotRows(rows []unsafe.Pointer, q []float32, out []float32) {
	out = out[:len(rows)]
	for i, p := range rows {
		out[i] = dotGeneric(q, unsafe.Slice((*float32)(p), len(q)))
	}
}

// maxAbsBits covers nothing on this platform: quantize's portable loop does it all.
func maxAbsBits(x []float32) (mb uint32, m int) { return 0, 0 }

// quantizeHead covers nothing on this platform: quantize's portable loop does it all.
func quantizeHead(x []float32, codes []int8, inv float32, s64 float64) (m int, sum int32, nn, ee float64) {
	return 0, 0, 0, 0
}

// Prefetch does nothing on this platform (see the amd64 version).
func Prefetch(p *uint32) {}

// PrefetchF32 does nothing on this platform.
func PrefetchF32(p *float32) {}
