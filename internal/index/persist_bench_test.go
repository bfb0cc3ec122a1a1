package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

// BenchmarkStreamIngest measures durable streaming ingest of 384-d vectors, 256 per
// batch, through the write-ahead log and into the collection (graph included), per
// fsync policy and number of concurrent writers. One op is one batch.
func BenchmarkStreamIngest(b *testing.B) {
	const dim, per = 384, 256
	for _, policy := range []wal.SyncPolicy{wal.SyncAlways, wal.SyncInterval} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("fsync=%s/writers=%d", policy, writers), func(b *testing.B) {
				db := openDB(b, Options{Dir: b.TempDir(), Sync: policy})
				defer db.Close()
				if _, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}); err != nil {
					b.Fatal(err)
				}
				r := rand.New(rand.NewPCG(1, 2))
				pool := make([]*engine.Batch, 8)
				for i := range pool {
					pool[i] = randBatch(r, "", per, dim)
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.SetBytes(per * dim * 4)
				b.ResetTimer()
				for w := range writers {
					wg.Go(func() {
						writer := fmt.Sprint("w", w)
						for seq := uint64(1); ; seq++ {
							n := next.Add(1)
							if n > int64(b.N) {
								return
							}
							src := pool[n%int64(len(pool))]
							batch := &engine.Batch{Vectors: append([]float32(nil), src.Vectors...)}
							for i := range per {
								batch.IDs = append(batch.IDs, fmt.Sprint(n, "-", i))
							}
							if _, err := db.StreamBatch(context.Background(), writer, seq, "c", batch, nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "vectors/s")
			})
		}
	}
}

// BenchmarkRecovery measures Open of a data directory holding n 384-d items: all but
// the last 10% in a snapshot, the rest in the log. One op is one Open (and Close).
func BenchmarkRecovery(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			const dim, per = 384, 1000
			dir := b.TempDir()
			db := openDB(b, Options{Dir: dir})
			if _, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}); err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < n; i += per {
				if i == n*9/10 {
					if _, err := db.Snapshot(context.Background(), "c"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := db.Upsert("c", randBatch(r, fmt.Sprint(i, "-"), per, dim), "items"); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				db := openDB(b, Options{Dir: dir})
				rec := db.Recovery()
				if c, _ := db.lookup("c"); c.Stats().Items != n || rec.SnapshotsLoaded != 1 {
					b.Fatalf("recovered %+v", rec)
				}
				b.ReportMetric(float64(rec.RecordsReplayed), "records-replayed")
				db.Close()
			}
		})
	}
}
