package index

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

// BenchmarkUpsert measures loading n clustered 384-d vectors, in batches of
// MaxBatchItems, into a fresh collection with default parameters (below the default
// exact threshold for n = 5,000: no graph is built) and into one that builds its graph
// (ExactThreshold 1). The log is fsynced in the background (wal.SyncInterval).
//
//	go test ./internal/index -run '^$' -bench Upsert -benchtime 3x
func BenchmarkUpsert(b *testing.B) {
	const n, dim = 5000, 384
	data := clustered(rand.New(rand.NewPCG(1, 1)), "x", n, dim)
	for _, tc := range []struct {
		name   string
		params engine.Params
	}{{"default", engine.Params{}}, {"graph", engine.Params{ExactThreshold: 1}}} {
		b.Run(tc.name+"/n="+strconv.Itoa(n), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				db, err := Open(Options{Dir: b.TempDir(), Sync: wal.SyncInterval})
				if err != nil {
					b.Fatal(err)
				}
				name := "c" + strconv.Itoa(i)
				if _, err := db.create(engine.Config{Name: name, Dim: dim, Metric: engine.Cosine, Params: tc.params}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				load(b, db, name, data)
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/vector")
		})
	}
}
