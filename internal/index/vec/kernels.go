package vec

import "sync/atomic"

// amxOff turns the AMX int8 kernel off (SetAMX).
var amxOff atomic.Bool

// SetAMX allows (the default) or forbids the AMX int8 kernel for the products started
// from then on; forbidden, the int8 product runs on the next kernel the CPU has (AVX-512
// VNNI, AVX2 or portable Go), with the same scores bit for bit. The server's -amx flag.
func SetAMX(on bool) { amxOff.Store(!on) }

// KernelSet names the micro-kernels this process runs: Dot's and the graph search's
// (Float), the float matrix product's (GEMM) and the int8 matrix product's (Int8). Each
// is "amx", "vnni", "avx512", "avx2" or "generic".
type KernelSet struct {
	Float, GEMM, Int8 string
}

// Kernels returns the micro-kernels chosen for this CPU, under SetAMX.
func Kernels() KernelSet {
	return KernelSet{Float: floatKernel(), GEMM: bestGEMMKernel().name, Int8: bestInt8Kernel().name}
}
