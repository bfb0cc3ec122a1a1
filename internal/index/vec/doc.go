// Package vec holds the float32 vector kernels every search in hardneg runs on: dot
// product, squared Euclidean distance and normalisation. The kernels are the hot loop of
// both the exact scan and the HNSW graph, so they are measured (see vec_bench_test.go)
// and the fastest correct variant is the one exported.
package vec
