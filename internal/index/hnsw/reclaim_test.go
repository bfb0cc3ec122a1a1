package hnsw

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// assign copies vector i of pool into id's slot of src.
func assign(src, pool *memSource, id uint32, i int) {
	copy(src.Vector(id), pool.Vector(uint32(i)))
}

func TestReclaimReusesDroppedIDs(t *testing.T) {
	n := size(3000, 1200)
	const rounds, queries = 4, 40
	pool := clustered(n*(rounds+1)+queries, 16, 10, 0.15, 41, true)
	src := &memSource{dim: 16, data: make([]float32, n*16)}
	copy(src.data, pool.data)
	next := n // next unused vector of pool
	g := newGraph(t, Options{M: 8, EfConstruction: 64, Seed: 3}, negDot, src)
	g.InsertBatch(idRange(0, n), 2)
	capacity, upper := g.capacity(), g.upperWords.Load()
	r := rand.New(rand.NewPCG(4, 4))

	for round := range rounds {
		var del []uint32
		for id := range uint32(n) {
			if r.IntN(3) == 0 {
				g.Delete(id)
				del = append(del, id)
			}
		}
		if g.Reclaim(del[0]) {
			t.Fatal("Reclaim released a tombstone that Compact has not dropped")
		}
		if g.Reclaim(uint32(n + 5000)) {
			t.Fatal("Reclaim released an id that was never inserted")
		}
		st := g.Compact(2)
		if !slices.Equal(st.DroppedIDs, del) || st.Dropped != len(del) || g.Dropped() != len(del) {
			t.Fatalf("round %d: Compact dropped %d ids (Dropped() = %d), want the %d deleted ones", round, len(st.DroppedIDs), g.Dropped(), len(del))
		}
		for _, id := range del {
			if !g.IsDropped(id) || !g.Reclaim(id) || g.Reclaim(id) || g.IsDropped(id) || g.Contains(id) {
				t.Fatalf("round %d: id %d not reclaimed exactly once", round, id)
			}
		}
		if g.Dropped() != 0 || g.Len() != n-len(del) || g.Deleted() != 0 {
			t.Fatalf("round %d: Dropped, Len, Deleted = %d, %d, %d", round, g.Dropped(), g.Len(), g.Deleted())
		}
		// Reclaimed ids are absent until inserted again.
		reclaimed := make([]bool, n)
		for _, id := range del {
			reclaimed[id] = true
		}
		for i := range queries {
			for _, nb := range g.Search(pool.Vector(uint32(len(pool.data)/16-1-i)), 10, 64, nil, nil) {
				if reclaimed[nb.ID] {
					t.Fatalf("round %d: reclaimed id %d returned before its re-insert", round, nb.ID)
				}
			}
		}
		// Give them new vectors and insert them again.
		for _, id := range del {
			assign(src, pool, id, next)
			next++
		}
		g.InsertBatch(del, 2)
		if g.Len() != n {
			t.Fatalf("round %d: Len = %d after re-inserting, want %d", round, g.Len(), n)
		}
	}
	if g.capacity() != capacity || g.upperWords.Load() != upper {
		t.Fatalf("capacity %d → %d, upper-layer words %d → %d: reused ids grew the graph", capacity, g.capacity(), upper, g.upperWords.Load())
	}

	// Every re-inserted id is found by its new vector, and recall holds.
	found := 0
	for id := range uint32(n) {
		if res := g.Search(src.Vector(id), 1, 32, nil, nil); len(res) == 1 && res[0].ID == id {
			found++
		}
	}
	if float64(found) < 0.98*float64(n) {
		t.Fatalf("%d of %d ids found by their own vector", found, n)
	}
	truth := make([][]uint32, queries)
	got := make([][]Neighbor, queries)
	all := func(uint32) bool { return true }
	for i := range queries {
		q := pool.Vector(uint32(len(pool.data)/16 - 1 - i))
		truth[i] = bruteForce(src, negDot, q, 10, all)
		got[i] = g.Search(q, 10, 64, nil, nil)
	}
	if rc := recallAt(truth, got); rc < 0.95 {
		t.Fatalf("recall@10 after %d reuse rounds = %.3f, want ≥ 0.95", rounds, rc)
	}
}

func TestReclaimAfterLoad(t *testing.T) {
	g, src := persistFixture(t)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := Read(&buf, negDot, src)
	if err != nil {
		t.Fatal(err)
	}
	if h.Dropped() != g.Dropped() || h.Dropped() == 0 {
		t.Fatalf("loaded Dropped() = %d, original %d", h.Dropped(), g.Dropped())
	}
	// Loaded dropped nodes come without their upper layers; re-inserting them must
	// allocate those again. Ids 500…599 hold vectors not yet in the graph.
	var ids []uint32
	for id := range uint32(500) {
		if h.IsDropped(id) {
			if !h.Reclaim(id) {
				t.Fatalf("Reclaim(%d) of a loaded dropped id failed", id)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > 100 {
		ids = ids[:100]
	}
	for i, id := range ids {
		copy(src.Vector(id), src.Vector(uint32(500+i)))
	}
	h.InsertBatch(ids, 2)
	// A beam as wide as the graph (600 nodes) visits everything reachable from the
	// entry point, so a miss means the node was not linked in, not an approximate
	// search's unlucky path (concurrent inserts make the graph differ run to run).
	for _, id := range ids {
		if res := h.Search(src.Vector(id), 1, 600, nil, nil); len(res) != 1 || res[0].ID != id {
			t.Fatalf("re-inserted id %d not found by its vector: %v", id, res)
		}
	}
	buf.Reset()
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(&buf, negDot, src); err != nil {
		t.Fatalf("reading back a graph with reused ids: %v", err)
	}
}

// Rounds of churn over a fixed id space, the way the index package drives the graph.
// Each round first reclaims the ids that the last finished Compact dropped and writes
// their new vectors, with no search or insert running but the next Compact under way;
// then, while searches run, re-inserts them and deletes others. A search never
// returns an id whose Delete returned before it began, the race detector sees no
// Compact reading a reclaimed id, and recall holds at the end.
func TestReclaimChurnWithConcurrentSearches(t *testing.T) {
	n := size(2000, 800)
	const rounds, queries = 8, 32
	pool := clustered(n*(rounds+2)+queries, 16, 10, 0.15, 43, true)
	src := &memSource{dim: 16, data: make([]float32, n*16)}
	copy(src.data, pool.data)
	next := n
	g := newGraph(t, Options{M: 8, EfConstruction: 48, CompactRatio: 0.2}, negDot, src)
	g.InsertBatch(idRange(0, n), 2)

	var clock atomic.Int64
	deletedAt := make([]atomic.Int64, n) // clock value when Delete returned; 0 = live
	r := rand.New(rand.NewPCG(6, 6))
	var reclaimable []uint32
	compacted := make(chan []uint32, 1)
	compacted <- nil
	for round := range rounds {
		// Exclusive phase (a Compact may run): reclaim, then write new vectors.
		for _, id := range reclaimable {
			if !g.Reclaim(id) {
				t.Fatalf("round %d: Reclaim(%d) failed", round, id)
			}
			deletedAt[id].Store(0)
			assign(src, pool, id, next)
			next++
		}
		var del []uint32
		for id := range uint32(n) {
			if deletedAt[id].Load() == 0 && !slices.Contains(reclaimable, id) && r.IntN(5) == 0 {
				del = append(del, id)
			}
		}

		stop := make(chan struct{})
		var searchers sync.WaitGroup
		var bad atomic.Value
		for s := range 2 {
			searchers.Go(func() {
				dst := make([]Neighbor, 0, 10)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := clock.Load()
					dst = g.Search(pool.Vector(uint32(len(pool.data)/16-1-(i+s)%queries)), 10, 32, nil, dst)
					for _, nb := range dst {
						if at := deletedAt[nb.ID].Load(); at != 0 && at <= start {
							bad.Store("returned an id deleted before the search began")
						}
					}
				}
			})
		}
		var writers sync.WaitGroup
		writers.Go(func() { g.InsertBatch(reclaimable, 2) })
		writers.Go(func() {
			for _, id := range del {
				g.Delete(id)
				deletedAt[id].Store(clock.Add(1))
			}
		})
		writers.Wait()
		close(stop)
		searchers.Wait()
		if msg := bad.Load(); msg != nil {
			t.Fatalf("round %d: %s", round, msg)
		}
		// The last Compact's ids are reclaimed next round, while a new Compact runs.
		reclaimable = <-compacted
		for _, id := range reclaimable {
			if deletedAt[id].Load() == 0 {
				t.Fatalf("round %d: Compact dropped live id %d", round, id)
			}
		}
		go func() { compacted <- g.Compact(1).DroppedIDs }()
	}
	last := <-compacted
	if want := n - len(reclaimable) - len(last); g.Len() != want || g.Deleted() != 0 {
		t.Fatalf("Len, Deleted = %d, %d; want %d, 0", g.Len(), g.Deleted(), want)
	}
	truth := make([][]uint32, queries)
	got := make([][]Neighbor, queries)
	for i := range queries {
		q := pool.Vector(uint32(len(pool.data)/16 - 1 - i))
		truth[i] = bruteForce(src, negDot, q, 10, g.Contains)
		got[i] = g.Search(q, 10, 64, nil, nil)
	}
	if rc := recallAt(truth, got); rc < 0.95 {
		t.Fatalf("recall@10 after churn = %.3f, want ≥ 0.95", rc)
	}
}

// While a Compact runs, the tombstones it drops are marked; an insert must not link to
// them, even when every node it can reach is a tombstone, or a link to a dropped id
// would survive the compaction and lead to the id once reused.
func TestInsertsNeverLinkToNodesBeingDropped(t *testing.T) {
	src := clustered(120, 8, 3, 0.2, 5, true)
	g := newGraph(t, Options{M: 4, EfConstruction: 16}, negDot, src)
	g.InsertBatch(idRange(0, 60), 2)
	for id := range uint32(60) {
		g.Delete(id)
		if id%2 == 0 { // what Compact's marking pass does
			g.chunkOf(id).state[id&chunkMask].Or(flagDropping)
		}
	}
	g.InsertBatch(idRange(60, 120), 2)
	linkedToTombstone := false
	for id := uint32(60); id < 120; id++ {
		for l := levelOf(g.state(id)); l >= 0; l-- {
			for _, e := range g.snapshot(id, l) {
				if e < 60 && e%2 == 0 {
					t.Fatalf("node %d links to %d, which is being dropped", id, e)
				}
				linkedToTombstone = linkedToTombstone || e < 60
			}
		}
	}
	if !linkedToTombstone {
		t.Fatal("no insert linked to an unmarked tombstone; the test does not reach the fallback")
	}
}

// With every reachable node deleted, inserts link to tombstones (the fallback); an
// insert whose vector equals a tombstone with a lower id sorts after it at the same
// distance, and must still never link to itself. Concurrent inserts make the new node
// reachable during its own search.
func TestFallbackNeverLinksANodeToItself(t *testing.T) {
	for _, codes := range []bool{false, true} {
		src := clustered(240, 8, 3, 0.2, 7, true)
		copy(src.data[120*src.dim:], src.data[:120*src.dim]) // id 120+i is a copy of i
		g := newGraph(t, Options{M: 4, EfConstruction: 16}, negDot, src)
		if codes {
			g.UseCodes(codesFor(src))
		}
		g.InsertBatch(idRange(0, 120), 2)
		for id := range uint32(120) {
			g.Delete(id)
		}
		g.InsertBatch(idRange(120, 240), 4)
		for id := uint32(120); id < 240; id++ {
			for l := levelOf(g.state(id)); l >= 0; l-- {
				for _, e := range g.snapshot(id, l) {
					if e == id {
						t.Fatalf("codes %v: node %d links to itself at layer %d", codes, id, l)
					}
				}
			}
		}
	}
}
