//go:build !amd64 || purego

package vec

func archDotKernels() []kernel { return nil }

func archL2Kernels() []kernel { return nil }

func archManyQKernels() []manyQKernel { return nil }

func archManyQExactKernels() []manyQKernel { return nil }

func archGEMMKernels() []gemmKernel { return nil }

func archInt8Kernels() []int8Kernel { return nil }

func archU8I8Kernels() []u8i8Kernel { return nil }

// cpuFeatures is empty: this build has no assembly kernels, whatever the CPU has.
func cpuFeatures() []cpuFeature { return nil }
