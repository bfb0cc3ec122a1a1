//go:build !amd64 || purego

package vec

func archDotKernels() []kernel { return nil }

func archL2Kernels() []kernel { return nil }

func archManyQKernels() []manyQKernel { return nil }
