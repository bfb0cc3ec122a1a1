package index

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// The collection compacts its graph in a background goroutine that holds none of the
// locks a snapshot or a backup takes, so snapshots are written while Compact drops
// tombstones. Every snapshot taken during a compaction must load. (Before the graph
// wrote each node in the state it had when the write started, a tombstone that earlier
// records linked to could be written as compacted away, and the snapshot was refused:
// "node … links to … on layer 0".)
func TestSnapshotsWrittenDuringABackgroundCompactionLoad(t *testing.T) {
	const dim = 16
	n, rounds := 16000, 6
	if raceEnabled {
		n, rounds = 6000, 4
	}
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
		t.Fatal(err)
	}
	during := 0
	for round := range rounds {
		// Delete a third of the live items: past the compaction ratio, so the write
		// starts a background Compact.
		var del []string
		for i := range n {
			if (i+round)%3 == 0 {
				del = append(del, "a"+strconv.Itoa(i))
			}
		}
		if _, err := db.Delete("c", del, "ids"); err != nil {
			t.Fatal(err)
		}
		for c.compacting.Load() {
			// A slow disk: the write spans the compaction's last steps.
			buf := slowWriter{pause: 2 * time.Millisecond}
			c.writeMu.Lock()
			c.mu.RLock()
			err := c.writeSnapshot(&buf, nil, c.lastSeq)
			c.mu.RUnlock()
			c.writeMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			during++
			if _, _, err := readSnapshot(&buf.Buffer); err != nil {
				t.Fatalf("round %d: a snapshot written during a background compaction does not load: %v", round, err)
			}
		}
		c.wait()
		// Put the deleted items back for the next round.
		b := &engine.Batch{}
		for _, id := range del {
			b.IDs = append(b.IDs, id)
			for range dim {
				b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
			}
		}
		if _, err := db.Upsert("c", b, "items"); err != nil {
			t.Fatal(err)
		}
	}
	if during == 0 {
		t.Fatal("no snapshot was taken while a compaction ran: the test did not exercise it")
	}
	t.Logf("%d snapshots written during background compactions, each loaded", during)
}

// slowWriter is a buffer whose every Write first sleeps pause.
type slowWriter struct {
	bytes.Buffer
	pause time.Duration
}

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(w.pause)
	return w.Buffer.Write(b)
}
