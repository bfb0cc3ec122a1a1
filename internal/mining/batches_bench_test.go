package mining

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// BenchmarkBuildBatches builds one epoch of batches of 32 from n anchors of a 64-d
// cosine collection of 2n items in 50 clusters, each anchor with one positive close to
// it (cosine ≈ 0.9), with each strategy.
func BenchmarkBuildBatches(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		r := rand.New(rand.NewPCG(1, 1))
		w := &world{cfg: engine.Config{Name: "w", Dim: 64, Metric: engine.Cosine}}
		centres := make([][]float32, 50)
		for i := range centres {
			centres[i] = randVec(r, 64, 1)
		}
		w.batch = &engine.Batch{IDs: make([]string, 2*n)}
		anchors := make([][]float32, n)
		for i := range n {
			anchors[i] = jitter(r, centres[r.IntN(len(centres))], 0.7)
		}
		for i := range 2 * n {
			v := anchors[i%n]
			if i >= n {
				v = jitter(r, v, 0.35)
			}
			w.batch.IDs[i] = "i" + strconv.Itoa(i)
			w.batch.Vectors = append(w.batch.Vectors, v...)
		}
		db, err := index.Open(index.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := db.CreateCollection(w.cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Upsert(w.cfg.Name, w.batchCopy(), "items"); err != nil {
			b.Fatal(err)
		}
		req := DefaultBatchRequest()
		for i := range n {
			req.Anchors = append(req.Anchors, BatchAnchor{ID: "i" + strconv.Itoa(i), PositiveIDs: []string{"i" + strconv.Itoa(n+i)}})
		}
		req.BatchSize = 32
		for _, st := range []struct {
			name string
			s    BatchStrategy
		}{{"clusters", BatchClusters}, {"neighbours", BatchNeighbours}} {
			q := req
			q.Strategy = st.s
			if st.s == BatchNeighbours {
				q.NumNearest, q.NumSampled = 3, 4
			}
			b.Run(st.name+"/n="+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if err := BuildBatches(context.Background(), c, q, func(Batch) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		db.Close()
	}
}
