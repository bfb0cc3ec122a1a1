package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// BenchmarkSearch measures one query producing its 10 best candidates through
// Collection.Search, by exact scan and through the graph, on clustered 384-d vectors.
//
//	go test ./internal/index -run '^$' -bench Search -cpu 1 -benchmem
func BenchmarkSearch(b *testing.B) {
	const dim, k = 384, 10
	for _, n := range []int{10_000, 100_000} {
		// No lead measurement: it would run beside the timed searches, and may switch
		// the graph collection to exact scan.
		db, err := Open(Options{Dir: b.TempDir(), LeadRecall: -1})
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, uint64(n)))
		exact, _ := db.create(engine.Config{Name: "exact", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: n + 1}})
		load(b, db, "exact", clustered(r, "x", n, dim))
		queries := make([][]float32, 64)
		for i := range queries {
			queries[i], _ = exact.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
		}
		run := func(c *Collection) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					got := 0
					c.Search(context.Background(), queries[i%len(queries)], engine.SearchOptions{}, func(engine.Candidate) bool { got++; return got < k })
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/query")
			}
		}
		b.Run(fmt.Sprintf("exact/n=%d", n), run(exact))
		if n <= 10_000 || !testing.Short() {
			graph, _ := db.create(engine.Config{Name: "graph", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1}})
			load(b, db, "graph", clustered(rand.New(rand.NewPCG(1, uint64(n))), "x", n, dim))
			b.Run(fmt.Sprintf("graph-ef64/n=%d", n), run(graph))
		}
		db.Close()
	}
}

// load upserts data in batches within MaxBatchItems.
func load(b *testing.B, db *DB, name string, data *engine.Batch) {
	dim := len(data.Vectors) / len(data.IDs)
	for lo := 0; lo < len(data.IDs); lo += engine.MaxBatchItems {
		hi := min(lo+engine.MaxBatchItems, len(data.IDs))
		part := &engine.Batch{IDs: data.IDs[lo:hi], Vectors: data.Vectors[lo*dim : hi*dim]}
		if _, err := db.Upsert(name, part, "items"); err != nil {
			b.Fatal(err)
		}
	}
}
