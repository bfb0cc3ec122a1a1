package mining

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// BenchmarkMineExact mines 32 anchors (stored items, k 8, default policy) against an
// exactly searched cosine collection of 384-dimensional random vectors, with the
// anchors scored together (batched) and scanned one by one (unbatched).
//
//	go test ./internal/mining -run '^$' -bench MineExact -cpu 1,2 -benchtime 10x
func BenchmarkMineExact(b *testing.B) {
	const dim, anchors = 384, 32
	for _, n := range []int{10_000, 100_000} {
		db, err := index.Open(index.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		cfg := engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}}
		c, err := db.CreateCollection(cfg)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, uint64(n)))
		batch := &engine.Batch{Vectors: make([]float32, n*dim)}
		for i := range n {
			batch.IDs = append(batch.IDs, "i"+strconv.Itoa(i))
		}
		for i := range batch.Vectors {
			batch.Vectors[i] = float32(r.NormFloat64())
		}
		for lo := 0; lo < n; lo += 10_000 {
			part := &engine.Batch{IDs: batch.IDs[lo : lo+10_000], Vectors: batch.Vectors[lo*dim : (lo+10_000)*dim]}
			if _, err := db.Upsert("c", part, "items"); err != nil {
				b.Fatal(err)
			}
		}
		req := Request{Policy: DefaultPolicy()}
		req.Policy.NumNegatives = 8
		for range anchors {
			req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(n))})
		}
		for _, v := range []struct {
			name string
			s    Searcher
		}{{"batched", c}, {"unbatched", unbatched{c}}} {
			b.Run("n="+strconv.Itoa(n)+"/"+v.name, func(b *testing.B) {
				for b.Loop() {
					res, err := Mine(context.Background(), v.s, req)
					if err != nil {
						b.Fatal(err)
					}
					if len(res[0].Negatives) != 8 || !res[0].ExactScan {
						b.Fatalf("result %+v", res[0])
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
			})
		}
		db.Close()
	}
}

// BenchmarkMineGraph mines 256 stored-item anchors (k 8, each with a positive) through
// the HNSW graph of 20,000 128-dimensional vectors: the first pass at the collection's
// ef 64 (the default before mining sized it) and at mining's default, with the
// near-duplicate rule on (the default) and off.
//
//	go test ./internal/mining -run '^$' -bench MineGraph -benchtime 5x
func BenchmarkMineGraph(b *testing.B) {
	c, vecs := clusteredWorld(b, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(9, 9))
	var anchors []Anchor
	for range 256 {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(len(vecs))), PositiveIDs: []string{"i" + strconv.Itoa(r.IntN(len(vecs)))}})
	}
	for _, v := range []struct {
		name string
		ef   int
		dup  bool
	}{{"ef=64/dup", 64, true}, {"ef=default/dup", 0, true}, {"ef=default/nodup", 0, false}} {
		b.Run(v.name, func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives, pol.Ef, pol.NearDuplicates = 8, v.ef, v.dup
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: pol}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(anchors)), "µs/anchor")
		})
	}
}

// BenchmarkMineLoop mines 256 stored-item anchors (k 8) through the HNSW graph of
// 20,000 128-dimensional vectors with the training-loop options: none (anchors in
// parallel, negatives counted into the exposure tracker), the freshness rule, rotation
// and the exposure cap (both mine the anchors one after another).
//
//	go test ./internal/mining -run '^$' -bench MineLoop -benchtime 5x -cpu 2
func BenchmarkMineLoop(b *testing.B) {
	c, vecs := clusteredWorld(b, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(9, 9))
	var anchors []Anchor
	for range 256 {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(len(vecs)))})
	}
	stale := int64(0)
	for _, v := range []struct {
		name string
		set  func(p *Policy)
	}{
		{"plain", func(*Policy) {}},
		{"max_staleness", func(p *Policy) { p.MaxStaleness = &stale }},
		{"rotate", func(p *Policy) { p.Rotate = true }},
		{"max_exposures", func(p *Policy) { p.MaxExposures = 1000 }},
	} {
		b.Run(v.name, func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives = 8
			v.set(&pol)
			x := NewExposure(0)
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: pol, Exposure: x}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(anchors)), "µs/anchor")
		})
	}
}
