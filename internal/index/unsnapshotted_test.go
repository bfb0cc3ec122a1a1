package index

import (
	"context"
	"math/rand/v2"
	"testing"
)

func TestStatsReportWritesNotInASnapshot(t *testing.T) {
	db := testDB(t)
	c, err := db.CreateCollection(Config{Name: "c", Dim: 4, Metric: Cosine, Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.UnsnapshottedBytes != 0 || !st.UnsnapshottedSince.IsZero() {
		t.Fatalf("new collection: %d bytes since %v", st.UnsnapshottedBytes, st.UnsnapshottedSince)
	}
	r := rand.New(rand.NewPCG(1, 2))
	if _, err := db.Upsert("c", randBatch(r, "a", 10, 4), "items"); err != nil {
		t.Fatal(err)
	}
	first := c.Stats()
	if first.UnsnapshottedBytes == 0 || first.UnsnapshottedSince.IsZero() {
		t.Fatalf("after a write: %d bytes since %v", first.UnsnapshottedBytes, first.UnsnapshottedSince)
	}
	if _, err := db.Upsert("c", randBatch(r, "b", 10, 4), "items"); err != nil {
		t.Fatal(err)
	}
	second := c.Stats()
	if second.UnsnapshottedBytes <= first.UnsnapshottedBytes || !second.UnsnapshottedSince.Equal(first.UnsnapshottedSince) {
		t.Errorf("a second write: %d bytes since %v; want more bytes since the first write (%v)", second.UnsnapshottedBytes, second.UnsnapshottedSince, first.UnsnapshottedSince)
	}
	if _, err := db.Snapshot(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.UnsnapshottedBytes != 0 || !st.UnsnapshottedSince.IsZero() {
		t.Errorf("after a snapshot: %d bytes since %v", st.UnsnapshottedBytes, st.UnsnapshottedSince)
	}
}
