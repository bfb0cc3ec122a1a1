package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkUpsertDuringSnapshot measures how long small writes to a collection wait
// while it is snapshotted: 102,400 random 384-d vectors (a graph), then, per op, one
// snapshot with upserts of 16 items issued back to back until it finishes. It reports
// the upserts' median and longest latency during the snapshots (wait-median-ms,
// wait-max-ms), the same upserts' median with no snapshot running (quiet-median-ms),
// and the snapshot's duration (snapshot-ms).
func BenchmarkUpsertDuringSnapshot(b *testing.B) {
	const dim, batches, per = 384, 25, 4096
	db := openDB(b, Options{Dir: b.TempDir()})
	defer db.Close()
	if _, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	seq := 0
	upsert := func(n int) time.Duration {
		batch := randBatch(r, fmt.Sprintf("u%d-", seq), n, dim)
		seq++
		start := time.Now()
		if _, err := db.Upsert("c", batch, "items"); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for range batches {
		upsert(per)
	}
	var quiet, during []time.Duration
	for range 20 {
		quiet = append(quiet, upsert(16))
	}
	var snapTotal time.Duration
	b.ResetTimer()
	for range b.N {
		done := make(chan time.Duration)
		go func() {
			start := time.Now()
			if _, err := db.Snapshot(context.Background(), "c"); err != nil {
				b.Error(err)
			}
			done <- time.Since(start)
		}()
		for running := true; running; {
			select {
			case d := <-done:
				snapTotal += d
				running = false
			default:
				during = append(during, upsert(16))
			}
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slices.Sort(quiet)
	slices.Sort(during)
	b.ReportMetric(ms(quiet[len(quiet)/2]), "quiet-median-ms")
	if len(during) > 0 {
		b.ReportMetric(ms(during[len(during)/2]), "wait-median-ms")
		b.ReportMetric(ms(during[len(during)-1]), "wait-max-ms")
	}
	b.ReportMetric(ms(snapTotal)/float64(b.N), "snapshot-ms")
}
