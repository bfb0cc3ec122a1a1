//go:build !purego

package vec

func archDotKernels() []kernel {
	var ks []kernel
	if hasAVX2 {
		ks = append(ks, kernel{"avx2", dotAVX2})
	}
	if hasAVX512 {
		ks = append(ks, kernel{"avx512", dotAVX512})
	}
	return ks
}

func archL2Kernels() []kernel {
	var ks []kernel
	if hasAVX2 {
		ks = append(ks, kernel{"avx2", l2sqAVX2})
	}
	if hasAVX512 {
		ks = append(ks, kernel{"avx512", l2sqAVX512})
	}
	return ks
}

func archManyQKernels() []manyQKernel {
	if hasAVX512 {
		return []manyQKernel{{"avx512", dotManyQAVX512}}
	}
	return nil
}
