// Package vec holds the float32 vector kernels every search in hardneg runs on: dot
// product, squared Euclidean distance, normalisation, and batched scoring of one or many
// queries against a row-major matrix for the exact scan.
//
// On amd64 the kernels are Go assembly: AVX-512F when the CPU and OS support it, else
// AVX2 with FMA, chosen once at start-up through golang.org/x/sys/cpu; other CPUs,
// other architectures and builds tagged purego use portable Go. The kernels are the hot
// loop of both the exact scan and the HNSW graph, so every variant is measured
// (vec_bench_test.go, docs/BENCHMARKS.md) and checked against a float64 reference
// (vec_test.go, many_test.go).
package vec
