package index

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// A caller that deletes every item while the background compaction runs, then adds new
// ones: the compaction moves the graph's entry point off its tombstone when it
// finishes, and it chose among the nodes it listed when it started, all deleted by
// then; it cleared the entry point, and the new items (live graph nodes) were
// unreachable through the graph for good, every search falling back to an exact scan.
// The deterministic case is hnsw's TestCompactMovesTheEntryPointToANodeInsertedWhileItRan;
// here the compaction runs as the collection runs it (it is still running when the
// new items are inserted in most runs; when it is not, the test checks nothing new).
func TestItemsAddedDuringABackgroundCompactionStayReachable(t *testing.T) {
	const dim, n, m = 16, 16000, 50
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
		t.Fatal(err)
	}
	var first, rest []string
	for i := range n {
		if id := "a" + strconv.Itoa(i); i%3 == 0 {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	if _, err := db.Delete("c", first, "ids"); err != nil { // starts the background compaction
		t.Fatal(err)
	}
	during := c.compacting.Load()
	if _, err := db.Delete("c", rest, "ids"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("c", randBatch(r, "b", m, dim), "items"); err != nil {
		t.Fatal(err)
	}
	t.Logf("the compaction was running when the new items were inserted: %v", during && c.compacting.Load())
	c.wait()
	if _, err := db.Upsert("c", randBatch(r, "z", 5, dim), "items"); err != nil {
		t.Fatal(err)
	}
	c.wait()
	lost := 0
	for i := range m {
		slot := c.slots["b"+strconv.Itoa(i)]
		found := false
		for _, nb := range c.graph.Search(c.vectorAt(slot), 10, 64, nil, nil) {
			found = found || nb.ID == slot
		}
		if !found {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d items added while the compaction ran are unreachable through the graph", lost, m)
	}
	st, err := c.Search(t.Context(), c.vectorAt(c.slots["b0"]), engine.SearchOptions{MaxCandidates: 10}, func(engine.Candidate) bool { return true })
	if err != nil || st.Fallback {
		t.Fatalf("a search for 10 items: exact-scan fallback %v, error %v", st.Fallback, err)
	}
}

// Inserts leave a few items no graph list links to on uniform L2 data at M 8; the
// collection links them in after a build and after every eighth of the graph
// inserted, so a graph search finds every item.
func TestEveryItemIsReachableAfterInserts(t *testing.T) {
	const dim = 32
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.L2, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for b, n := range []int{1500, 400, 400, 400} {
		if _, err := db.Upsert("c", randBatch(r, "b"+strconv.Itoa(b)+"-", n, dim), "items"); err != nil {
			t.Fatal(err)
		}
	}
	c.wait()
	lost := 0
	for _, slot := range c.slots {
		found := false
		for _, nb := range c.graph.Search(c.vectorAt(slot), 10, 2*len(c.slots), nil, nil) {
			found = found || nb.ID == slot
		}
		if !found {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d items are not found by a graph search for their own vector", lost, len(c.slots))
	}
}
