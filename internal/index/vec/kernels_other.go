//go:build !amd64 || purego

package vec

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

// Int8Fast reports whether this CPU runs an integer kernel that makes
// Int8Queries.DotRows faster than Queries.DotRows; the portable one is not.
func Int8Fast() bool { return false }

func atLeast(x []float32, thr float32, dst []uint32) []uint32 {
	return atLeastGeneric(x, thr, dst, 0)
}
