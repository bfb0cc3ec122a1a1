package index

import (
	"github.com/hardneg/hardneg/internal/engine"
	"math/rand/v2"
	"testing"
)

// TestUpsertDeferredIsAppliedAndMadeDurableByTheNextDurableWrite checks the bulk-upload
// path: a deferred batch is searchable when acknowledged, the next durable write's
// fsync covers it, and both survive a reopen.
func TestUpsertDeferredIsAppliedAndMadeDurableByTheNextDurableWrite(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: 8, Metric: engine.Cosine, Params: fastParams}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	first, err := db.UpsertDeferred("c", randBatch(r, "a", 50, 8), "items")
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Collection("c")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().Items; n != 50 || first.Inserted != 50 {
		t.Fatalf("after the deferred batch: %d items, %d inserted; want 50, 50", n, first.Inserted)
	}
	last, err := db.Upsert("c", randBatch(r, "b", 50, 8), "items")
	if err != nil {
		t.Fatal(err)
	}
	if d := db.DurableLSN(); d < first.Sequence || d < last.Sequence {
		t.Errorf("durable LSN %d after the durable batch; want ≥ %d and %d", d, first.Sequence, last.Sequence)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, Options{Dir: dir})
	defer db.Close()
	c, err = db.Collection("c")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().Items; n != 100 {
		t.Errorf("after reopening: %d items, want 100", n)
	}
}
