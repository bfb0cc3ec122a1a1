package hnsw

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
)

// hookWriter runs hook before its n-th Write (1-based): WriteTo writes the header
// first, then one block of node records per Write, so n = 2 runs hook after the header
// and before the first block.
type hookWriter struct {
	bytes.Buffer
	calls, n int
	hook     func()
}

func (w *hookWriter) Write(b []byte) (int, error) {
	if w.calls++; w.calls == w.n {
		w.hook()
	}
	return w.Buffer.Write(b)
}

// A WriteTo that starts while an insert is between its layers must not save the node:
// its layer-0 list is still empty when its record is written, while nodes written
// after the insert finishes link to it, and the loaded graph would have the dead end
// that inserts avoid by linking back only once their own lists are set.
func TestWriteToLeavesOutAnUnfinishedInsert(t *testing.T) {
	const n, dim = 3000, 16
	src := clustered(n, dim, 10, 0.3, 5, true)
	g := newGraph(t, Options{M: 8, EfConstruction: 64}, negDot, src)
	var x uint32 = 1
	for g.randomLevel(x) < 1 {
		x++
	}
	ids := idRange(0, n)
	ids = append(ids[:x], ids[x+1:]...)
	g.InsertBatch(ids, 4)

	finish := holdInsert(t, g, x, 1) // x's layer-1 list is set, its layer-0 one is not
	w := &hookWriter{n: 2, hook: finish}
	if _, err := g.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if w.calls < 3 {
		t.Fatalf("%d writes: the graph fits one block, so the insert cannot finish mid-write", w.calls)
	}
	h, err := Read(&w.Buffer, negDot, src)
	if err != nil {
		t.Fatal(err)
	}
	if h.Contains(x) && h.links(x, 0)[0] == 0 {
		t.Fatalf("the loaded graph holds node %d, inserted during WriteTo, with no layer-0 links", x)
	}
	if h.Len() != n-1 {
		t.Errorf("loaded %d live nodes, want the %d inserted before WriteTo started", h.Len(), n-1)
	}
}

// A Compact that drops tombstones while WriteTo runs: records written before the drop
// link to the tombstones, so a tombstone's own record must not then say "compacted
// away" (Read refuses a link to such a node). The collection runs Compact in the
// background while snapshots and backups write the graph.
func TestWriteToDuringCompactIsReadable(t *testing.T) {
	const n, dim = 3000, 16
	src := clustered(n, dim, 10, 0.3, 5, true)
	g := newGraph(t, Options{M: 8, EfConstruction: 64}, negDot, src)
	g.InsertBatch(idRange(0, n), 4)
	for id := uint32(0); id < n; id += 5 {
		g.Delete(id)
	}
	w := &hookWriter{n: 2, hook: func() {
		if st := g.Compact(1); st.Dropped == 0 {
			t.Error("Compact dropped nothing")
		}
	}}
	if _, err := g.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	h, err := Read(&w.Buffer, negDot, src)
	if err != nil {
		t.Fatalf("Read of a graph written while Compact ran: %v", err)
	}
	if h.Len() != g.Len() {
		t.Errorf("loaded %d live nodes, the graph has %d", h.Len(), g.Len())
	}
}

// When every node is deleted and a Compact drops them all while a node is inserted, the
// insert may start from the old entry point (a node being dropped), find nothing to
// link to, and see Compact clear the entry point (no live node was listed). The node
// must still be reachable: it becomes the entry point, or links to the new one.
func TestInsertUnderACompactThatDropsEverythingStaysReachable(t *testing.T) {
	const dim = 16
	src := clustered(64, dim, 4, 0.3, 3, true)
	trials := 2000
	if raceEnabled {
		trials = 300
	}
	for trial := range trials {
		g := newGraph(t, Options{M: 8, EfConstruction: 32}, negDot, src)
		x, z := uint32(0), uint32(63)
		g.InsertBatch(idRange(1, 40), 1)
		for id := uint32(1); id < 40; id++ {
			g.Delete(id)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; g.Compact(1) })
		wg.Go(func() {
			<-start
			for range trial % 50 {
				runtime.Gosched()
			}
			g.Insert(x)
		})
		close(start)
		wg.Wait()
		g.Insert(z)
		for _, id := range []uint32{x, z} {
			found := false
			for _, nb := range g.Search(src.Vector(id), 10, 64, nil, nil) {
				found = found || nb.ID == id
			}
			if !found {
				epID, lvl, _ := unpackEntry(g.entry.Load())
				t.Fatalf("trial %d: live node %d is unreachable (entry %d at level %d, its state %#x)", trial, id, epID, lvl, g.state(id))
			}
		}
	}
}

// An insert whose chosen neighbours are all deleted and dropped by a Compact after it
// set its own lists, but before it linked back: Compact repairs the nodes that linked
// to them from their lists, which do not hold the new node yet, so its links back land
// only in dropped nodes. It must search again so that a live node links to it.
func TestInsertWhoseNeighboursAreDroppedStaysReachable(t *testing.T) {
	const n, dim = 1000, 16
	src := clustered(n+1, dim, 10, 0.3, 5, true)
	g := newGraph(t, Options{M: 8, EfConstruction: 64}, negDot, src)
	x := uint32(n)
	g.InsertBatch(idRange(0, n), 4)
	finish := holdInsert(t, g, x, 0) // every own list set, no link back yet
	for l := levelOf(g.state(x)); l >= 0; l-- {
		for _, e := range g.snapshot(x, l) {
			g.Delete(e)
		}
	}
	if st := g.Compact(1); st.Dropped == 0 {
		t.Fatal("Compact dropped nothing")
	}
	finish()
	for _, nb := range g.Search(src.Vector(x), 10, 200, nil, nil) {
		if nb.ID == x {
			return
		}
	}
	t.Fatalf("live node %d (state %#x) is unreachable: no live node links to it", x, g.state(x))
}

// A node deleted while it is being inserted, and dropped by a Compact before it links
// back, has nothing that can take its links back (addLink refuses a node being
// dropped). Its insert must still return: a deleted node need not be reachable, since
// Compact finds tombstones by id, not by search. The retry for a node whose links
// back all landed in dropped nodes once spun here for good (a CI run hung in
// TestConcurrentInsertDeleteSearchCompact, whose deleter deletes ids mid-insert).
func TestInsertOfANodeDroppedMidwayReturns(t *testing.T) {
	const n, dim = 1000, 16
	src := clustered(n+1, dim, 10, 0.3, 5, true)
	g := newGraph(t, Options{M: 8, EfConstruction: 64}, negDot, src)
	x := uint32(n)
	g.InsertBatch(idRange(0, n), 4)
	finish := holdInsert(t, g, x, 0) // every own list set, no link back yet
	g.Delete(x)
	if st := g.Compact(1); st.Dropped != 1 {
		t.Fatalf("Compact dropped %d nodes, want the one deleted", st.Dropped)
	}
	done := make(chan struct{})
	go func() { finish(); close(done) }()
	waitOrFail(t, done, "the insert of a node dropped while it was inserted never returned")
	if epID, _, _ := unpackEntry(g.entry.Load()); epID == x {
		t.Fatalf("dropped node %d became the entry point", x)
	}
	for _, nb := range g.Search(src.Vector(x), 10, 200, nil, nil) {
		if nb.ID == x {
			t.Fatalf("search returned dropped node %d", x)
		}
	}
}
