package hnsw

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Insert adds id, whose vector the VectorSource must already serve, to the graph.
// Inserting an id that is already in the graph, deleted or not, does nothing: an
// updated vector is a new id (insert the new one, delete the old), and an id can be
// inserted again only once Compact has dropped it and Reclaim has released it. Insert
// is safe to run concurrently with Search, Delete, Compact and other Inserts; it holds
// only per-node locks, one at a time, except for the rare insert that raises the
// graph's top level, which also holds the entry-point lock.
func (g *Graph) Insert(id uint32) {
	s := g.searchers.get()
	g.insert(s, id)
	g.searchers.put(s)
}

// InsertBatch inserts ids using workers goroutines (≤ 0: GOMAXPROCS). It returns when
// all are inserted.
func (g *Graph) InsertBatch(ids []uint32, workers int) {
	g.InsertBatchUnless(ids, workers, nil)
}

// InsertBatchUnless is InsertBatch that stops early once stop (nil: never) is set,
// each worker finishing the id in hand, and reports whether every id was inserted.
// The graph stays valid: what was inserted is linked, and inserting the same ids
// again later inserts the rest (an id already in the graph is skipped).
func (g *Graph) InsertBatchUnless(ids []uint32, workers int, stop *atomic.Bool) bool {
	if len(ids) == 0 {
		return true
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(ids))
	g.ensureChunk(slices.Max(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := g.searchers.get()
			defer g.searchers.put(s)
			for {
				if stop != nil && stop.Load() {
					return
				}
				i := next.Add(1) - 1
				if i >= int64(len(ids)) {
					return
				}
				g.insert(s, ids[i])
			}
		})
	}
	wg.Wait()
	return next.Load() >= int64(len(ids))
}

func (g *Graph) insert(s *searcher, id uint32) {
	level := g.randomLevel(id)
	c := g.ensureChunk(id)
	off := id & chunkMask
	if !c.state[off].CompareAndSwap(0, flagClaimed|uint32(level)<<levelShift) {
		return
	}
	// A reclaimed id keeps its upper layers (its level is a function of the id), except
	// when it was loaded already dropped, without them.
	if need := level * g.strideU; len(c.upper[off]) != need {
		g.upperWords.Add(int64(need - len(c.upper[off])))
		c.upper[off] = make([]uint32, need)
	}
	c.state[off].Or(flagReady)
	g.live.Add(1)

	q := g.vector(id)
	qq := &query{f: q}
	if g.codes != nil {
		g.codes.Quantize(q, &s.qc)
		qq.c = &s.qc
	}
	for !g.link(s, id, level, q, qq) {
	}
	c.state[off].Or(flagLinked)
}

// link searches the graph from its entry point for id's neighbours, sets id's lists
// and then the reverse links (see insert), and reports true; or, when it found nothing
// to link to while the entry point changed under it, it reports false and the caller
// searches again from the new one. That happens when a Compact drops everything id's
// search reached and moves the entry point away (or clears it: the graph had no live
// node when Compact listed them, and id was not yet ready then): a node with no links
// that is not the entry point could never be reached. When the entry point is still
// the one id started from, or none is left, id becomes the entry point itself.
func (g *Graph) link(s *searcher, id uint32, level int, q []float32, qq *query) bool {
	s.pend = s.pend[:0]
	entry := g.entry.Load()
	epID, top, _ := unpackEntry(entry)
	raises := false
	if entry == 0 || level > top {
		g.entryMu.Lock()
		if entry = g.entry.Load(); entry == 0 {
			g.entry.Store(packEntry(id, level)) // the first node of a fresh graph
			g.entryMu.Unlock()
			return true
		}
		epID, top, _ = unpackEntry(entry)
		if raises = level > top; !raises {
			g.entryMu.Unlock()
		}
	}
	cur := Neighbor{epID, g.distTo(qq, epID)}
	for l := top; l > level; l-- {
		cur = g.greedy(s, qq, cur, l)
	}
	// sorted returns the layer's candidates nearest first by Distance: on codes, the
	// beam re-scored with floats.
	sorted := func() []Neighbor {
		if qq.c != nil {
			return g.rescore(s, q)
		}
		return s.sorted()
	}
	for l := min(level, top); l >= 0; l-- {
		g.searchLayer(s, qq, cur, g.opts.EfConstruction, l, nil, int64(id))
		cands := sorted()
		if len(cands) == 0 { // everything reachable is deleted: link to tombstones
			g.searchLayer(s, qq, cur, g.maxM, l, nil, keepDeleted)
			// Drop the node itself wherever it sorts: an equal vector with a lower id
			// (an earlier tombstoned copy) comes first at the same distance.
			cands = slices.DeleteFunc(sorted(), func(n Neighbor) bool { return n.ID == id })
			if len(cands) == 0 {
				continue
			}
		}
		cur = cands[0]
		if qq.c != nil {
			cur.Dist = g.distTo(qq, cur.ID)
		}
		s.sel = g.selectNeighbors(cands, g.maxM, s.sel, false)
		g.setLinks(s, id, q, l, s.sel)
		for _, nb := range s.sel {
			s.pend = append(s.pend, pendingLink{nb.ID, nb.Dist, l})
		}
		if testHookLayerLinked != nil {
			testHookLayerLinked(id, l)
		}
	}
	// Only now do other nodes link to this one: a search (another insert's, above
	// all) that reached it through an upper layer before its lower lists were set
	// would find them empty and end its descent, or its whole beam, there; under
	// concurrent inserts such dead ends gave groups of new nodes links only to each
	// other. hnswlib avoids the same by holding the node's lock for its whole insert.
	live0 := false
	for _, p := range s.pend {
		if g.addLink(s, p.id, id, p.dist, p.layer) && p.layer == 0 {
			live0 = true
		}
	}
	if g.state(id)&flagDeleted != 0 {
		// Deleted while it was inserted: it need not be reachable (Compact finds
		// tombstones by id, not by search), and once a Compact drops it no node takes
		// a link to it, so searching again would never end. Nor does it become the
		// entry point: it may link to nothing live.
		if raises {
			g.entryMu.Unlock()
		}
		return true
	}
	if raises {
		if !live0 {
			// What its search chose on layer 0 was dropped meanwhile (or nothing it
			// reached was live): as the entry point it would cut every other node off.
			// Let the Compact move the entry point, then search again.
			g.entryMu.Unlock()
			return false
		}
		g.entry.Store(packEntry(id, level))
		g.entryMu.Unlock()
		return true
	}
	if len(s.pend) > 0 && !live0 {
		// Every layer-0 neighbour was dropped by a Compact after the search chose it,
		// and Compact's repairs of the nodes that linked to them could not carry this
		// node over: search again, so that a live node links to it.
		return false
	}
	if len(s.pend) == 0 {
		// Nothing reachable to link to: every node the search reached was being
		// dropped by a Compact.
		g.entryMu.Lock()
		defer g.entryMu.Unlock()
		if now := g.entry.Load(); now != entry && now != 0 {
			if nowID, _, _ := unpackEntry(now); !g.gone(nowID) {
				return false // a live entry point to link to now
			}
		}
		if g.state(id)&flagDeleted == 0 { // deleted since the check above: see there
			g.entry.Store(packEntry(id, level))
		}
		return true
	}
	if _, now, ok := unpackEntry(g.entry.Load()); !ok || level > now {
		// A Compact moved the entry point off a tombstone to a lower node (or found no
		// live node to move it to) while this insert ran; it did not raise, its level
		// not being above the old entry's. Its lists on every layer up to its level are
		// set, so searches start from it.
		g.entryMu.Lock()
		if _, now, ok = unpackEntry(g.entry.Load()); (!ok || level > now) && g.state(id)&flagDeleted == 0 {
			g.entry.Store(packEntry(id, level))
		}
		g.entryMu.Unlock()
	}
	return true
}

// testHookLayerLinked, when a test sets it, runs in an insert once the node's own
// layer-l list is set, so that a test can act between layers.
var testHookLayerLinked func(id uint32, l int)

// pendingLink is a reverse link an insert adds once the node's own lists are set:
// id gets a link to the new node on layer at distance dist.
type pendingLink struct {
	id    uint32
	dist  float32
	layer int
}

// selectNeighbors is the heuristic of Malkov & Yashunin (algorithm 4): walking the
// candidates nearest first, it keeps one only if it is closer to the base than to
// every candidate kept so far, which spreads links over directions and keeps
// clusters connected. relax (Compact's repairs) relaxes "closer" by UseSpace's alpha.
// cands must be sorted nearest first; out is reused.
func (g *Graph) selectNeighbors(cands []Neighbor, m int, out []Neighbor, relax bool) []Neighbor {
	out = out[:0]
	if len(cands) <= m {
		return append(out, cands...)
	}
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		cv := g.vector(c.ID)
		good := true
		for _, r := range out {
			if g.prunes(g.dist(cv, g.vector(r.ID)), c.Dist, relax) {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// writeList stores ns as the link list. The caller holds the node's lock.
func writeList(list []uint32, ns []Neighbor) {
	for i, nb := range ns {
		atomic.StoreUint32(&list[1+i], nb.ID)
	}
	atomic.StoreUint32(&list[0], uint32(len(ns)))
}

// setLinks gives the new node id its links on layer l. Concurrent inserts may already
// have linked themselves to it; those links are merged, pruned by the heuristic.
// Nodes that a running Compact is dropping are left out: they are checked under the
// node's lock, which Compact's repair of this node also takes, so either the repair
// sees the link or this check sees the mark.
func (g *Graph) setLinks(s *searcher, id uint32, q []float32, l int, sel []Neighbor) {
	mu := g.lock(id)
	mu.Lock()
	defer mu.Unlock()
	list := g.links(id, l)
	n := int(atomic.LoadUint32(&list[0]))
	if n == 0 && !slices.ContainsFunc(sel, func(x Neighbor) bool { return g.gone(x.ID) }) {
		writeList(list, sel)
		return
	}
	tmp := s.tmp[:0]
	for _, x := range sel {
		if !g.gone(x.ID) {
			tmp = append(tmp, x)
		}
	}
	for i := 1; i <= n; i++ {
		e := atomic.LoadUint32(&list[i])
		if !g.gone(e) && !slices.ContainsFunc(sel, func(x Neighbor) bool { return x.ID == e }) {
			tmp = append(tmp, Neighbor{e, g.dist(q, g.vector(e))})
		}
	}
	s.keys = sortNeighbors(tmp, s.keys)
	s.tmp = tmp
	s.tmpSel = g.selectNeighbors(tmp, g.maxLinks(l), s.tmpSel, false)
	writeList(list, s.tmpSel)
}

// addLink adds id (at distance d) to the layer-l links of nb. A full list is
// re-selected by the heuristic from its live links plus id, and the room left goes
// to its tombstones, nearest first: a kept tombstone is replaced by its own links
// when Compact drops it, whereas shedding it would cut nb off from what only it led
// to (between well-separated clusters, often the only links). Links to nodes that a
// running Compact is dropping go, and such an id is not added (see setLinks). It
// reports whether nb was live (not being dropped) when id was offered to it, whether
// or not the heuristic kept id.
func (g *Graph) addLink(s *searcher, nb, id uint32, d float32, l int) (intoLive bool) {
	mu := g.lock(nb)
	mu.Lock()
	defer mu.Unlock()
	if g.gone(id) {
		return false
	}
	intoLive = !g.gone(nb)
	list := g.links(nb, l)
	n := int(atomic.LoadUint32(&list[0]))
	for i := 1; i <= n; i++ {
		if atomic.LoadUint32(&list[i]) == id {
			return
		}
	}
	if maxN := g.maxLinks(l); n < maxN {
		atomic.StoreUint32(&list[n+1], id)
		atomic.StoreUint32(&list[0], uint32(n+1))
		return
	}
	nv := g.vector(nb)
	tmp := append(s.tmp[:0], Neighbor{id, d})
	var dead []Neighbor
	for i := 1; i <= n; i++ {
		e := atomic.LoadUint32(&list[i])
		switch st := g.state(e); {
		case st&(flagDropping|flagRemoved) != 0:
		case st&flagDeleted != 0:
			dead = append(dead, Neighbor{e, g.dist(nv, g.vector(e))})
		default:
			tmp = append(tmp, Neighbor{e, g.dist(nv, g.vector(e))})
		}
	}
	s.keys = sortNeighbors(tmp, s.keys)
	s.tmp = tmp
	s.tmpSel = g.selectNeighbors(tmp, g.maxLinks(l), s.tmpSel, false)
	s.keys = sortNeighbors(dead, s.keys)
	for _, x := range dead[:min(len(dead), g.maxLinks(l)-len(s.tmpSel))] {
		s.tmpSel = append(s.tmpSel, x)
	}
	writeList(list, s.tmpSel)
	return intoLive
}
