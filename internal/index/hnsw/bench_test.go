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
