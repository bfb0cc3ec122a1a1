package hnsw

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// gate wraps a Distance: once armed, the first call for which cond holds (every call
// when cond is nil) closes held and waits for release, so a test can act while a
// Compact repairs or an insert selects neighbours.
type gate struct {
	armed   atomic.Bool
	cond    func(a, b []float32) bool
	held    chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{held: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) wrap(d Distance) Distance {
	return func(a, b []float32) float32 {
		if g.armed.Load() && (g.cond == nil || g.cond(a, b)) && g.armed.CompareAndSwap(true, false) {
			close(g.held)
			<-g.release
		}
		return d(a, b)
	}
}

// twoClusters holds na unit vectors around a random direction c, then nb around -c.
func twoClusters(na, nb, dim int) *memSource {
	r := rand.New(rand.NewPCG(7, 7))
	c := make([]float32, dim)
	for j := range c {
		c[j] = float32(r.NormFloat64())
	}
	vec.Normalize(c)
	src := &memSource{dim: dim, data: make([]float32, (na+nb)*dim)}
	for i := range na + nb {
		v := src.Vector(uint32(i))
		s := float32(1)
		if i >= na {
			s = -1
		}
		for j := range v {
			v[j] = s*c[j] + float32(r.NormFloat64()*0.15)
		}
		vec.Normalize(v)
	}
	return src
}

func found(g *Graph, src *memSource, id uint32) bool {
	return slices.ContainsFunc(g.Search(src.Vector(id), 10, 64, nil, nil), func(n Neighbor) bool { return n.ID == id })
}

// waitOrFail waits for ch, failing the test after a minute (a liveness bound, not a
// speed one: what it waits for happens at once unless something hangs).
func waitOrFail(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatal(what)
	}
}

// A Compact moves the entry point off a tombstone. Choosing it among the nodes it
// listed when it started left none when all of those were deleted while it repaired,
// and it cleared the entry point although a node inserted meanwhile was live: that
// node was unreachable for good (the next insert started a fresh graph). Through
// a collection: delete everything and add new items while the background compaction
// runs (TestItemsAddedDuringABackgroundCompactionStayReachable in internal/index).
func TestCompactMovesTheEntryPointToANodeInsertedWhileItRan(t *testing.T) {
	const na, nb, dim = 10, 10, 16
	src := twoClusters(na, nb+8, dim)
	gt := newGate()
	g := newGraph(t, Options{M: 8, EfConstruction: 32}, gt.wrap(negDot), src)
	g.InsertBatch(idRange(0, na+nb), 1)
	x := uint32(na + nb) // a level-0 id of the second cluster, not yet inserted
	for g.randomLevel(x) != 0 {
		x++
	}

	g.Delete(0)
	gt.armed.Store(true)
	compacted := make(chan struct{})
	go func() { g.Compact(1); close(compacted) }()
	waitOrFail(t, gt.held, "Compact never computed a distance")
	// Compact has listed 1…19 as live and is repairing one of them.
	for id := uint32(1); id < na+nb; id++ {
		g.Delete(id)
	}
	inserted := make(chan struct{})
	go func() { g.Insert(x); close(inserted) }()
	waitOrFail(t, inserted, "the insert waited on the paused Compact")
	close(gt.release)
	waitOrFail(t, compacted, "Compact never returned")
	if g.Len() != 1 {
		t.Fatalf("setup: %d live nodes, want 1", g.Len())
	}
	if !found(g, src, x) {
		t.Fatalf("live node %d is unreachable after the Compact (entry %#x)", x, g.entry.Load())
	}
	y := x + 1
	for g.randomLevel(y) != 0 {
		y++
	}
	g.Insert(y)
	g.Compact(1)
	if !found(g, src, x) || !found(g, src, y) {
		t.Fatalf("live nodes %d, %d: reachable %v, %v after another insert and Compact", x, y, found(g, src, x), found(g, src, y))
	}
}

// An insert that raises the top level holds the entry-point lock and becomes the
// entry point. When the neighbours its layer-0 search chose are deleted and marked by
// a Compact before it sets its list (setLinks leaves them out), it would become the
// entry point with an empty layer-0 list, cutting every other live node off for good.
// It searches again instead, once the Compact has moved the entry point. Reachable
// only through the package's own concurrency (a Delete of nodes an insert is linking
// to); a collection applies deletes and inserts under one writer.
func TestARaisingInsertWhoseNeighboursAreDroppedDoesNotCutTheGraphOff(t *testing.T) {
	const dim = 16
	const nA, extraA, nB = 40, 200, 6
	src := twoClusters(nA+extraA, nB, dim)
	gt := newGate()
	g := newGraph(t, Options{M: 8, EfConstruction: 32}, gt.wrap(negDot), src)
	// The first cluster's level-0 ids (nA of them) and x, one of its ids with a level of
	// at least 1; the second cluster's level-0 ids.
	var a, b []uint32
	x := ^uint32(0)
	for id := range uint32(nA + extraA) {
		switch lv := g.randomLevel(id); {
		case lv == 0 && len(a) < nA:
			a = append(a, id)
		case lv >= 1 && x == ^uint32(0):
			x = id
		}
	}
	for id := uint32(nA + extraA); id < nA+extraA+nB; id++ {
		if g.randomLevel(id) == 0 {
			b = append(b, id)
		}
	}
	if len(a) < nA || len(b) == 0 || x == ^uint32(0) {
		t.Fatal("setup: not enough ids of the levels needed")
	}
	g.InsertBatch(a, 1)
	g.InsertBatch(b, 1)
	// Pause x's insert at its first distance between two stored vectors (neither x's):
	// selectNeighbors on layer 0, after its search chose the candidates.
	xv := src.Vector(x)
	gt.cond = func(p, q []float32) bool { return &p[0] != &xv[0] && &q[0] != &xv[0] }
	gt.armed.Store(true)
	inserted := make(chan struct{})
	go func() { g.Insert(x); close(inserted) }()
	waitOrFail(t, gt.held, "x's insert never compared two stored vectors")
	for _, id := range a {
		g.Delete(id)
	}
	var wg sync.WaitGroup
	wg.Go(func() { g.Compact(1) })
	for deadline := time.Now().Add(time.Minute); g.state(a[len(a)-1])&flagDropping == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Compact never marked the deleted nodes")
		}
	}
	close(gt.release)
	waitOrFail(t, inserted, "x's insert never returned")
	wg.Wait()
	for _, id := range append(b, x) {
		if !found(g, src, id) {
			epID, lvl, _ := unpackEntry(g.entry.Load())
			t.Errorf("live node %d is unreachable (entry %d at level %d; x = %d has %d layer-0 links)", id, epID, lvl, x, g.links(x, 0)[0])
		}
	}
}
