package hnsw

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// reachable reports, per id, whether a walk from the entry point over every layer's
// lists reaches it: an upper bound on what any search can reach.
func reachable(g *Graph) []bool {
	seen := make([]bool, g.capacity())
	ep, _, ok := unpackEntry(g.entry.Load())
	if !ok {
		return seen
	}
	seen[ep] = true
	for q := []uint32{ep}; len(q) > 0; q = q[1:] {
		for l := levelOf(g.state(q[0])); l >= 0; l-- {
			for _, e := range g.snapshot(q[0], l) {
				if !seen[e] {
					seen[e] = true
					q = append(q, e)
				}
			}
		}
	}
	return seen
}

// Compact's repairs re-select lists by the heuristic, which can leave live nodes that
// only dropped nodes linked to (alone, or a few linking only to each other) where no
// search finds them. After a Compact every live node is reachable from the entry
// point. The data are the hard case: nearly uniform 32-d points under L2 with M 8,
// whose outlying points few lists keep; every vector is replaced (before
// linkUnreachable, 5-17 of 1,500 items of a collection were left unreachable).
func TestCompactLeavesEveryLiveNodeReachable(t *testing.T) {
	const n, dim = 1500, 32
	for seed := range uint64(4) {
		workers := 1 + int(seed%2) // one worker: the same graph every run
		src := clustered(2*n, dim, 1, 1.0, 11+seed, false)
		g := newGraph(t, Options{M: 8, EfConstruction: 32}, vec.L2Sq, src)
		g.InsertBatch(idRange(0, n), workers)
		g.InsertBatch(idRange(n, 2*n), workers) // new vectors for every item, then the old ones go
		for id := range uint32(n) {
			g.Delete(id)
		}
		if st := g.Compact(1); st.Dropped != n {
			t.Fatalf("Compact dropped %d, want %d", st.Dropped, n)
		}
		seen := reachable(g)
		var lost []uint32
		for id := uint32(n); id < 2*n; id++ {
			if !seen[id] {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			t.Errorf("seed %d: %d live nodes unreachable from the entry point after Compact: %v", seed, len(lost), lost[:min(len(lost), 10)])
		}
	}
}

// handGraph inserts 64 random 2-d points (M 2: layer 0 holds 4 links), picks k level-0
// ids and an entry point, deletes every other id, empties every list and returns the
// graph, the picked ids and the entry. The caller writes the layer-0 lists; a Compact
// then drops the unlinked tombstones (no repairs) and links what it cannot reach.
func handGraph(t *testing.T, k int) (*Graph, *memSource, []uint32, uint32) {
	const n = 64
	r := rand.New(rand.NewPCG(3, 3))
	src := &memSource{dim: 2, data: make([]float32, n*2)}
	for i := range src.data {
		src.data[i] = float32(r.NormFloat64())
	}
	g := newGraph(t, Options{M: 2, EfConstruction: 16}, vec.L2Sq, src)
	g.InsertBatch(idRange(0, n), 1)
	var ids []uint32
	for id := range uint32(n) {
		if g.randomLevel(id) == 0 && len(ids) < k {
			ids = append(ids, id)
		}
	}
	entry := uint32(n - 1)
	for slices.Contains(ids, entry) {
		entry--
	}
	for id := range uint32(n) {
		for l := levelOf(g.state(id)); l >= 0; l-- {
			writeList(g.links(id, l), nil)
		}
		if id != entry && !slices.Contains(ids, id) {
			g.Delete(id)
		}
	}
	g.entry.Store(packEntry(entry, levelOf(g.state(entry))))
	return g, src, ids, entry
}

// setLayer0 writes id's layer-0 list.
func setLayer0(g *Graph, id uint32, to ...uint32) {
	ns := make([]Neighbor, len(to))
	for i, e := range to {
		ns[i] = Neighbor{ID: e}
	}
	writeList(g.links(id, 0), ns)
}

// entry → nb; nb's list is full: e, x1, x2, x3; e ↔ f; x1..x3 → nb; o → nb and no node
// links to o. Every live node but o is reachable (e and f through nb alone). Giving o
// a link in place of nb → e, because f links to e too, would cut e and f off: the
// link that first reached e stays.
func TestLinkingAnUnreachableNodeCutsNothingOff(t *testing.T) {
	g, src, ids, entry := handGraph(t, 7)
	nb, e, f, x1, x2, x3, o := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6]
	setLayer0(g, entry, nb)
	setLayer0(g, nb, e, x1, x2, x3)
	setLayer0(g, e, f)
	setLayer0(g, f, e)
	for _, x := range []uint32{x1, x2, x3, o} {
		setLayer0(g, x, nb)
	}
	if seen := reachable(g); !seen[e] || !seen[f] || seen[o] {
		t.Fatal("setup: e and f should be reachable before the Compact, o not")
	}
	g.Compact(1)
	seen := reachable(g)
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("live node %d unreachable after Compact (o = %d, e = %d, f = %d); nb's list %v", id, o, e, f, g.links(nb, 0)[1:1+g.links(nb, 0)[0]])
		}
	}
	if !found(g, src, e) || !found(g, src, o) {
		t.Errorf("Search finds e: %v, o: %v", found(g, src, e), found(g, src, o))
	}
}

// o → nb; nb's list is full of links whose targets only nb links to, none of which
// may go. o is linked from one of nb's neighbours instead, which has room.
func TestAnUnreachableNodeIsLinkedPastAFullList(t *testing.T) {
	g, _, ids, entry := handGraph(t, 6)
	nb, x1, x2, x3, x4, o := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	setLayer0(g, entry, nb)
	setLayer0(g, nb, x1, x2, x3, x4)
	for _, x := range []uint32{x1, x2, x3, x4, o} {
		setLayer0(g, x, nb)
	}
	g.Compact(1)
	seen := reachable(g)
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("live node %d unreachable after Compact; nb's list %v", id, g.links(nb, 0)[1:1+g.links(nb, 0)[0]])
		}
	}
}

// Inserts alone leave a few nodes no list links to on uniform L2 data at M 8 (the
// heuristic keeps no link to an outlying point); LinkUnreachable links them in
// without cutting anything else off.
func TestLinkUnreachableAfterABuild(t *testing.T) {
	const n, dim = 1500, 32
	lostBefore := 0
	for seed := range uint64(3) {
		src := clustered(n, dim, 1, 1.0, 21+seed, false)
		g := newGraph(t, Options{M: 8, EfConstruction: 32}, vec.L2Sq, src)
		g.InsertBatch(idRange(0, n), 1)
		seen := reachable(g)
		for id := range uint32(n) {
			if !seen[id] {
				lostBefore++
			}
		}
		if !g.LinkUnreachable() {
			t.Fatal("LinkUnreachable did nothing with no Compact running")
		}
		seen = reachable(g)
		for id := range uint32(n) {
			if !seen[id] {
				t.Errorf("seed %d: node %d unreachable after LinkUnreachable", seed, id)
			}
		}
	}
	if lostBefore == 0 {
		t.Fatal("setup: the builds left no node unreachable, so the test checks nothing")
	}
	t.Logf("%d of %d nodes were unreachable after the builds", lostBefore, 3*n)
}
