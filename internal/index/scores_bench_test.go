package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// BenchmarkExactMining measures what mining on an exactly searched collection costs per
// anchor: 100,000 × 384 unit vectors, queries scored in groups by ScoreExact, then one
// search per query given its scores that stops after the best 10, with the float32 and
// the int8 product (the latter runs the AVX2 or the portable kernel, both slower than
// the float32 product there, on a CPU without AVX-512 VNNI). group=1 is a plain scan per query (no ScoreExact). Run with -cpu 1; us/query is the figure to compare on a quiet machine,
// cpu-us/query (process CPU time per query) on a busy one.
func BenchmarkExactMining(b *testing.B) {
	const n, dim, nq, k = 100_000, 384, 256, 10
	db, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2026, 384))
	for lo := 0; lo < n; lo += 5000 {
		batch := &engine.Batch{Vectors: make([]float32, 5000*dim)}
		for i := range batch.Vectors {
			batch.Vectors[i] = float32(r.NormFloat64())
		}
		for i := range 5000 {
			batch.IDs = append(batch.IDs, strconv.Itoa(lo+i))
		}
		if _, err := db.Upsert("c", batch, "items"); err != nil {
			b.Fatal(err)
		}
	}
	qs := preparedQueries(b, c, nq, gaussian(r))
	ctx := context.Background()
	top := func(q []float32, sc *engine.ExactScores) {
		got := 0
		if _, err := c.Search(ctx, q, engine.SearchOptions{Scores: sc}, func(engine.Candidate) bool {
			got++
			return got < k
		}); err != nil || got != k {
			b.Fatalf("search: %v, %d results", err, got)
		}
	}
	type variant struct {
		group   int
		product exactProduct
	}
	variants := []variant{{1, productAuto}}
	for _, group := range []int{16, 64, 256} {
		variants = append(variants, variant{group, productFP32}, variant{group, productInt8})
	}
	for _, v := range variants {
		group := v.group
		name := fmt.Sprintf("group=%d", group)
		if group > 1 {
			name += "/" + v.product.String()
		}
		b.Run(name, func(b *testing.B) {
			old := scoreProduct
			scoreProduct = v.product
			defer func() { scoreProduct = old }()
			b.ReportAllocs()
			scores := make([]engine.ExactScores, group)
			queries := 0
			start, cpu := time.Now(), cpuTime()
			for b.Loop() {
				per := min(nq, max(group, 16))
				for lo := 0; lo < per; lo += group {
					g := qs[lo : lo+group]
					if group == 1 {
						top(g[0], nil)
					} else {
						if !c.ScoreExact(g, scores) {
							b.Fatal("ScoreExact declined")
						}
						for i, q := range g {
							top(q, &scores[i])
						}
					}
					queries += group
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(queries), "us/query")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(queries), "cpu-us/query")
		})
	}
}
