package hnsw

import (
	"fmt"
	"testing"
)

// benchGraph builds a cosine graph over n clustered 128-d vectors.
func benchGraph(b *testing.B, n int) (*Graph, *memSource) {
	b.Helper()
	src := clustered(n+1000, 128, 100, 0.1, 9, true)
	g := newGraph(b, Options{}, negDot, src)
	g.InsertBatch(idRange(0, n), 0)
	return g, src
}

func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10000} {
		g, src := benchGraph(b, n)
		for _, ef := range []int{16, 64, 256} {
			b.Run(fmt.Sprintf("n=%d/ef=%d", n, ef), func(b *testing.B) {
				dst := make([]Neighbor, 0, 10)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					dst = g.Search(src.Vector(uint32(n+i%1000)), 10, ef, nil, dst)
					i++
				}
			})
		}
		b.Run(fmt.Sprintf("n=%d/ef=64/half_filtered", n), func(b *testing.B) {
			dst := make([]Neighbor, 0, 10)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				dst = g.Search(src.Vector(uint32(n+i%1000)), 10, 64, rejectHalf, dst)
				i++
			}
		})
	}
}

func BenchmarkInsert(b *testing.B) {
	src := clustered(20000, 128, 100, 0.1, 9, true)
	b.ReportAllocs()
	for b.Loop() {
		g := newGraph(b, Options{}, negDot, src)
		for id := range uint32(20000) {
			g.Insert(id)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/20000*1e6, "µs/insert")
}

// BenchmarkInsertCodes inserts 20,000 clustered 384-d unit vectors on one thread into
// a graph that walks on int8 codes (given before the build, as the index does).
//
//	go test ./internal/index/hnsw -run '^$' -bench InsertCodes -cpu 1
func BenchmarkInsertCodes(b *testing.B) {
	const n, dim = 20000, 384
	src := clustered(n, dim, 100, 0.04, 9, true)
	codes := codesFor(src)
	for b.Loop() {
		g := newGraph(b, Options{}, negDot, src)
		g.UseCodes(codes)
		for id := range uint32(n) {
			g.Insert(id)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/n*1e6, "µs/insert")
}

// BenchmarkSearchCodes compares the float search with the search on int8 codes (exact
// re-scoring) on one graph of 20,000 clustered 384-d unit vectors, per ef, reporting
// recall@10 against brute force next to the time.
//
//	go test ./internal/index/hnsw -run '^$' -bench SearchCodes -cpu 1
func BenchmarkSearchCodes(b *testing.B) {
	const n, dim, nq = 20000, 384, 200
	src := clustered(n+nq, dim, 100, 0.04, 9, true)
	data := &memSource{dim: dim, data: src.data[:n*dim]}
	g := newGraph(b, Options{}, negDot, data)
	g.InsertBatch(idRange(0, n), 0)
	codes := codesFor(data)
	truth := make([][]uint32, nq)
	for i := range truth {
		truth[i] = bruteForce(data, negDot, src.Vector(uint32(n+i)), 10, func(uint32) bool { return true })
	}
	for _, ef := range []int{16, 32, 64, 128} {
		for _, mode := range []string{"floats", "codes"} {
			b.Run(fmt.Sprintf("ef=%d/%s", ef, mode), func(b *testing.B) {
				g.UseCodes(nil)
				if mode == "codes" {
					g.UseCodes(codes)
				}
				got := make([][]Neighbor, nq)
				for i := range got {
					got[i] = g.Search(src.Vector(uint32(n+i)), 10, ef, nil, nil)
				}
				dst := make([]Neighbor, 0, 10)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					dst = g.Search(src.Vector(uint32(n+i%nq)), 10, ef, nil, dst)
					i++
				}
				b.ReportMetric(recallAt(truth, got), "recall@10")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/query")
			})
		}
	}
}

// BenchmarkConcurrentBuildRecall builds a small graph (1,000 clustered 16-d unit
// vectors, M 8, EfConstruction 64, as the index's churn tests use) once per iteration,
// each build on its own data and level seed, and reports recall@10 at ef 64 over 200
// queries: the lowest and the mean over the builds. Its sub-benchmarks build with 8
// insert workers and with GOMAXPROCS of them (as the index does). Many workers on a
// small graph interleave the most inserts; run it with more iterations than the
// default for the tail:
//
//	go test ./internal/index/hnsw -run '^$' -bench ConcurrentBuildRecall -benchtime 300x -cpu 2,8,16
func BenchmarkConcurrentBuildRecall(b *testing.B) {
	for _, workers := range []int{8, 0} {
		name := "workers=8"
		if workers == 0 {
			name = "workers=GOMAXPROCS"
		}
		b.Run(name, func(b *testing.B) { concurrentBuildRecall(b, workers) })
	}
}

func concurrentBuildRecall(b *testing.B, workers int) {
	const n, dim, queries = 1000, 16, 200
	lowest, sum, builds := 1.0, 0.0, 0
	for b.Loop() {
		builds++
		all := clustered(n+queries, dim, 20, 0.3, uint64(builds), true)
		data := &memSource{dim: dim, data: all.data[:n*dim]}
		g := newGraph(b, Options{M: 8, EfConstruction: 64, Seed: int64(builds)}, negDot, data)
		g.InsertBatch(idRange(0, n), workers)
		truth := make([][]uint32, queries)
		got := make([][]Neighbor, queries)
		for i := range queries {
			q := all.Vector(uint32(n + i))
			truth[i] = bruteForce(data, negDot, q, 10, func(uint32) bool { return true })
			got[i] = g.Search(q, 10, 64, nil, nil)
		}
		r := recallAt(truth, got)
		lowest, sum = min(lowest, r), sum+r
	}
	b.ReportMetric(lowest, "min-recall")
	b.ReportMetric(sum/float64(builds), "mean-recall")
}
