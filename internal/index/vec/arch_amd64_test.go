//go:build !purego

package vec

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

func archDotKernels() []kernel {
	var ks []kernel
	if hasAVX2 {
		ks = append(ks, kernel{"avx2", dotAVX2})
	}
	if hasAVX512 {
		ks = append(ks, kernel{"avx512", dotAVX512})
		// The row kernel, on five copies of b, must give the same sum for each and
		// write nothing past them.
		ks = append(ks, kernel{"avx512-rows", func(a, b []float32) float32 {
			if len(a) == 0 {
				return 0
			}
			rows := make([]unsafe.Pointer, 5)
			for i := range rows {
				c := append([]float32{}, b...)
				rows[i] = unsafe.Pointer(&c[0])
			}
			out := make([]float32, 6)
			out[5] = -3
			dotF32RowsAVX512(&rows[0], len(rows), &a[0], len(a), &out[0])
			for _, s := range out[1:5] {
				if math.Float32bits(s) != math.Float32bits(out[0]) {
					return float32(math.NaN())
				}
			}
			if out[5] != -3 {
				return float32(math.NaN())
			}
			return out[0]
		}})
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
	if hasAMX {
		ks = append(ks, amxInt8)
	}
	return ks
}

func archU8I8Kernels() []u8i8Kernel {
	var ks []u8i8Kernel
	if hasAVX2 {
		ks = append(ks, u8i8Kernel{"avx2", func(r []byte, q []int8) int32 {
			m := len(q) &^ 15
			var s int32
			if m > 0 {
				s = dotU8I8AVX2(&r[0], &q[0], m)
			}
			return s + dotU8I8Generic(r[m:len(q)], q[m:])
		}})
	}
	if hasVNNI {
		ks = append(ks, u8i8Kernel{"vnni", func(r []byte, q []int8) int32 { return dotU8I8VNNI(&r[0], &q[0], len(q)) }})
		// The row kernel, on five copies of the row, must give the same sum for each
		// and write nothing past them.
		ks = append(ks, u8i8Kernel{"vnni-rows", func(r []byte, q []int8) int32 {
			rows := make([]unsafe.Pointer, 5)
			for i := range rows {
				c := append([]byte{}, r...)
				rows[i] = unsafe.Pointer(&c[0])
			}
			out := make([]int32, 6)
			out[5] = -3
			dotU8I8VNNIRows(&rows[0], len(rows), &q[0], len(q), &out[0])
			for _, s := range out[1:5] {
				if s != out[0] {
					return s ^ 1<<30
				}
			}
			if out[5] != -3 {
				return out[0] ^ 1<<29
			}
			return out[0]
		}})
	}
	return ks
}

// cpuFeatures reads the CPU's features afresh, independently of the package's own
// detection, and names the assembly kernels each feature must have been tested with.
func cpuFeatures() []cpuFeature {
	return []cpuFeature{
		{"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, []string{"dot/avx2", "l2/avx2", "gemm/avx2", "int8/avx2", "u8i8/avx2"}},
		{"avx512", cpu.X86.HasAVX512F, []string{"dot/avx512", "dot/avx512-rows", "l2/avx512", "manyq/avx512", "manyq-exact/avx512", "gemm/avx512"}},
		{"avx512vnni", cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW, []string{"int8/vnni", "u8i8/vnni", "u8i8/vnni-rows"}},
		{"amx", cpu.X86.HasAVX512F && cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8 && requestAMX(), []string{"int8/amx"}},
	}
}
