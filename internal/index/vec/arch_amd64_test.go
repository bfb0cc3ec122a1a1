//go:build !purego

package vec

import "golang.org/x/sys/cpu"

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

func archManyQExactKernels() []manyQKernel {
	if hasAVX512 {
		return []manyQKernel{{"avx512", dotManyQExactAVX512}}
	}
	return nil
}

func archGEMMKernels() []gemmKernel {
	var ks []gemmKernel
	if hasAVX2 {
		ks = append(ks, avx2GEMM)
	}
	if hasAVX512 {
		ks = append(ks, avx512GEMM)
	}
	return ks
}

func archInt8Kernels() []int8Kernel {
	var ks []int8Kernel
	if hasAVX2 {
		ks = append(ks, avx2Int8)
	}
	if hasVNNI {
		ks = append(ks, vnniInt8)
	}
	return ks
}

// cpuFeatures reads the CPU's features afresh, independently of the package's own
// detection, and names the assembly kernels each feature must have been tested with.
func cpuFeatures() []cpuFeature {
	return []cpuFeature{
		{"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, []string{"dot/avx2", "l2/avx2", "gemm/avx2", "int8/avx2"}},
		{"avx512", cpu.X86.HasAVX512F, []string{"dot/avx512", "l2/avx512", "manyq/avx512", "manyq-exact/avx512", "gemm/avx512"}},
		{"avx512vnni", cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW, []string{"int8/vnni"}},
	}
}
