package index

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

func TestUnsnapshottedReportsWritesNotInASnapshot(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine, Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	if n, since := c.Unsnapshotted(); n != 0 || !since.IsZero() {
		t.Fatalf("new collection: %d bytes since %v", n, since)
	}
	r := rand.New(rand.NewPCG(1, 2))
	if _, err := db.Upsert("c", randBatch(r, "a", 10, 4), "items"); err != nil {
		t.Fatal(err)
	}
	n1, since1 := c.Unsnapshotted()
	if n1 == 0 || since1.IsZero() {
		t.Fatalf("after a write: %d bytes since %v", n1, since1)
	}
	if _, err := db.Upsert("c", randBatch(r, "b", 10, 4), "items"); err != nil {
		t.Fatal(err)
	}
	if n2, since2 := c.Unsnapshotted(); n2 <= n1 || !since2.Equal(since1) {
		t.Errorf("a second write: %d bytes since %v; want more bytes since the first write (%v)", n2, since2, since1)
	}
	if _, err := db.Snapshot(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if n, since := c.Unsnapshotted(); n != 0 || !since.IsZero() {
		t.Errorf("after a snapshot: %d bytes since %v", n, since)
	}
}
