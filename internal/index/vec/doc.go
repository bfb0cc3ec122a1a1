// Package vec holds the float32 vector kernels every search in hardneg runs on: dot
// product, squared Euclidean distance, normalisation, batched scoring of one or many
// queries against a row-major matrix for the exact scan, and a matrix product
// (DotGEMM, Queries.DotRows) for scoring many queries at once.
//
// On amd64 the kernels are Go assembly: AVX-512F when the CPU and OS support it, else
// AVX2 with FMA, chosen once at start-up through golang.org/x/sys/cpu; other CPUs,
// other architectures and builds tagged purego use portable Go. The kernels are the hot
// loop of both the exact scan and the HNSW graph, so every variant is measured
// (vec_bench_test.go, docs/BENCHMARKS.md) and checked against a float64 reference
// (vec_test.go, many_test.go, gemm_test.go).
//
// Dot, DotMany and DotManyQExact give the same score for a pair bit for bit. The matrix
// product sums each pair in another order (one fused multiply-add chain per pair, 32
// queries × 12 rows per register tile with AVX-512), so its scores may differ from
// Dot's in the last bits, by at most GEMMErrorBound; callers that compare scores with
// Dot's re-score the pairs that matter (see index.Collection.ScoreExact).
//
// DotRows scores one query against rows given by pointer (a graph node's links) with
// Dot's values bit for bit, reading the next row while it scores the current one.
//
// The int8 product (QuantizeRows, PackInt8Queries, Int8Queries.DotRows) quantizes rows
// and queries to int8 codes with one scale each and sums the codes' products exactly
// in int32 (AMX tiles, AVX-512 VNNI, AVX2 or portable Go, identical results); its
// scores are within Int8Queries.ErrorBound of Dot's, a far larger bound, paid for by
// re-scoring more pairs. Int8Queries.DotRowsAbove computes the same scores but keeps
// only those at or above a threshold per query (the AMX kernel as it computes them),
// and AtLeast lists the elements of a score array at or above a threshold. The AMX
// kernel runs where the CPU has AMX-INT8 and Linux grants the process the tile state
// (arch_prctl(ARCH_REQ_XCOMP_PERM) at start-up, amx_linux.go), unless SetAMX forbids
// it; Kernels names the kernels in use.
//
// The tests run every kernel the CPU supports and, at the end, print which ones ran;
// they fail when the CPU has AVX2, AVX-512F, AVX-512 VNNI or AMX but a kernel for it
// was not tested, and, when HARDNEG_REQUIRE_KERNELS lists features (for example
// "avx2,avx512,avx512vnni,amx" on a CI machine known to have them), when the CPU lacks one.
package vec
