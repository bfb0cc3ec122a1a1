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
