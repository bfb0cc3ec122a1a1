package index

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// A snapshot holds the collection's write lock only while it captures its content:
// writes to the collection go on while the file is written (which took seconds for a
// collection of a million vectors, every write waiting), and the file still holds the
// collection as of the capture. Writes made meanwhile — a delete, an upsert that
// would take the deleted item's slot, a new vector for an item — reach the log and the
// collection, not the file, and a restart recovers them from the log.
func TestWritesGoOnWhileASnapshotIsWritten(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int // ExactThreshold: above the item count, no graph; 1, a graph
	}{{"exact", 10_000}, {"graph", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			const dim, n = 8, 300
			dir := t.TempDir()
			db := openDB(t, Options{Dir: dir})
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: tc.threshold}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 5))
			if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
				t.Fatal(err)
			}
			vectorOf := func(c *Collection, id string) []float32 {
				c.mu.RLock()
				defer c.mu.RUnlock()
				slot, ok := c.slots[id]
				if !ok {
					return nil
				}
				return slices.Clone(c.vectorAt(slot))
			}
			before := map[string][]float32{}
			for _, id := range []string{"a5", "a7", "a9"} {
				before[id] = vectorOf(c, id)
			}
			c.mu.RLock()
			captureLSN := c.lastSeq
			c.mu.RUnlock()

			captured, release := make(chan struct{}), make(chan struct{})
			testHookSnapshotCaptured = func(*Collection) {
				close(captured)
				<-release
			}
			t.Cleanup(func() { testHookSnapshotCaptured = nil })
			type snapResult struct {
				info engine.SnapshotInfo
				err  error
			}
			snapped := make(chan snapResult, 1)
			go func() {
				info, err := db.Snapshot(context.Background(), "c")
				snapped <- snapResult{info, err}
			}()
			<-captured

			// While the snapshot waits to write its file: delete a5 and a9, add b0 and
			// b1 (without a graph each takes a slot a delete freed, unless the snapshot
			// keeps them), and give a7 a new vector.
			wrote := make(chan error, 1)
			go func() {
				if _, err := db.Delete("c", []string{"a5", "a9"}, "ids"); err != nil {
					wrote <- err
					return
				}
				b := randBatch(r, "b", 2, dim)
				b.IDs = append(b.IDs, "a7")
				for range dim {
					b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
				}
				_, err := db.Upsert("c", b, "items")
				wrote <- err
			}()
			select {
			case err := <-wrote:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				close(release)
				t.Fatal("a write to the collection waited for the snapshot's file to be written")
			}
			after := vectorOf(c, "a7")
			close(release)
			res := <-snapped
			if res.err != nil {
				t.Fatal(res.err)
			}

			// The file holds the collection as of the capture.
			f, err := os.Open(res.info.Path)
			if err != nil {
				t.Fatal(err)
			}
			snap, _, err := readSnapshot(f)
			f.Close()
			if err != nil {
				t.Fatalf("the snapshot does not load: %v", err)
			}
			if snap.lastSeq != captureLSN || len(snap.slots) != n {
				t.Fatalf("snapshot: last write %d, %d items; want %d and %d (as captured)", snap.lastSeq, len(snap.slots), captureLSN, n)
			}
			for id, want := range before {
				if got := vectorOf(snap, id); !slices.Equal(got, want) {
					t.Errorf("snapshot: %s has vector %v, want %v as captured", id, got, want)
				}
			}
			for _, id := range []string{"b0", "b1"} {
				if _, ok := snap.slots[id]; ok {
					t.Errorf("snapshot: holds %s, written after the capture", id)
				}
			}

			// A restart loads the snapshot and replays the writes made meanwhile.
			closeDB(t, db)
			db = openDB(t, Options{Dir: dir})
			defer closeDB(t, db)
			c, err = db.lookup("c")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a5", "a9"} {
				if v := vectorOf(c, id); v != nil {
					t.Errorf("after a restart %s, deleted, is still there", id)
				}
			}
			for _, id := range []string{"b0", "b1"} {
				if v := vectorOf(c, id); v == nil {
					t.Errorf("after a restart %s is missing", id)
				}
			}
			if got := vectorOf(c, "a7"); !slices.Equal(got, after) {
				t.Errorf("after a restart a7 has vector %v, want its new one %v", got, after)
			}
			if got := len(c.slots); got != n {
				t.Errorf("after a restart %d items, want %d", got, n)
			}
		})
	}
}
