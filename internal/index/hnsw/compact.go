package hnsw

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Delete tombstones id: it is never returned again but keeps routing searches until
// Compact repairs the links around it. Deleting an absent or deleted id does nothing.
func (g *Graph) Delete(id uint32) {
	c := g.chunkOf(id)
	if c == nil {
		return
	}
	st := &c.state[id&chunkMask]
	for {
		v := st.Load()
		if v&flagClaimed == 0 || v&flagDeleted != 0 {
			return
		}
		if st.CompareAndSwap(v, v|flagDeleted) {
			break
		}
	}
	g.live.Add(-1)
	g.deleted.Add(1)
}

// NeedsCompact reports whether tombstones exceed Options.CompactRatio of the nodes,
// the point at which the owner should run Compact (typically in the background).
func (g *Graph) NeedsCompact() bool {
	d, l := g.deleted.Load(), g.live.Load()
	return d > 0 && float64(d) > g.opts.CompactRatio*float64(d+l)
}

// CompactStats reports what one Compact did.
type CompactStats struct {
	Dropped  int // tombstones no live node links to any more
	Repaired int // link lists rewritten
	// DroppedIDs are the dropped ids in ascending order: once Compact has returned,
	// each may be handed to Reclaim and then inserted again.
	DroppedIDs []uint32
}

// Compact drops the current tombstones from the graph: every live node that links to
// one gets its list re-selected (by the neighbour heuristic) from its live links and
// the live links of the tombstones it pointed to, and the entry point moves off a
// tombstone; a live node that a walk from the entry point no longer reaches is then
// linked in (linkUnreachable). It uses workers goroutines (≤ 0: GOMAXPROCS) and is safe
// to run while searches and inserts continue; one Compact runs at a time. Dropped
// nodes keep their own links, so a search that reached one through a list read just
// before its rewrite still routes correctly; they are never returned, and their ids
// stay taken until Reclaim releases them.
func (g *Graph) Compact(workers int) CompactStats {
	g.compactMu.Lock()
	defer g.compactMu.Unlock()
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// First mark the tombstones to drop, then list every other node that may link to
	// one. A node not yet ready when listed reads the marks in its insert and never
	// links to a marked node (keep, setLinks, addLink); a listed node is repaired. So
	// when Compact returns, only dropped nodes link to dropped nodes, and Reclaim may
	// hand their ids out again even while a later Compact runs.
	capacity := g.capacity()
	drop := make([]bool, capacity)
	var live, dropped []uint32
	for id := range uint32(capacity) {
		if st := g.state(id); st&flagReady != 0 && st&flagDeleted != 0 && st&(flagDropping|flagRemoved) == 0 {
			g.chunkOf(id).state[id&chunkMask].Or(flagDropping)
			drop[id] = true
			dropped = append(dropped, id)
		}
	}
	if len(dropped) == 0 {
		return CompactStats{}
	}
	for id := range uint32(g.capacity()) {
		// Tombstones deleted since the marking are repaired too: a later Compact
		// reads their lists when it drops them.
		if st := g.state(id); st&flagReady != 0 && st&(flagDropping|flagRemoved) == 0 {
			live = append(live, id)
		}
	}

	var next, repaired atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(1, len(live))) {
		wg.Go(func() {
			s := g.searchers.get()
			defer g.searchers.put(s)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(live)) {
					return
				}
				id := live[i]
				for l := levelOf(g.state(id)); l >= 0; l-- {
					if g.repair(s, id, l, drop) {
						repaired.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()

	g.entryMu.Lock()
	if epID, _, ok := unpackEntry(g.entry.Load()); ok && g.state(epID)&flagDeleted != 0 {
		// The highest live node whose insert has finished: one still inserting may have
		// empty lists, where every search would end. Only when every live node is
		// still inserting does one of them take the place. Every node's state is read
		// now, not only the listed ones': those may all have been deleted since the
		// listing while nodes inserted since then are live (a caller that deletes
		// everything and adds new items while the compaction runs), and clearing the
		// entry point would cut those off for good.
		best, bestLevel, linked := uint32(0), -1, false
		for id := range uint32(g.capacity()) {
			st := g.state(id)
			if st&flagReady == 0 || st&(flagDeleted|flagDropping|flagRemoved) != 0 {
				continue
			}
			if isLinked := st&flagLinked != 0; (isLinked && !linked) || (isLinked == linked && levelOf(st) > bestLevel) {
				best, bestLevel, linked = id, levelOf(st), isLinked
			}
		}
		if bestLevel >= 0 {
			g.entry.Store(packEntry(best, bestLevel))
		} else {
			g.entry.Store(0) // nothing live: the next insert starts a fresh graph
		}
	}
	g.entryMu.Unlock()
	g.linkUnreachable(live)

	for _, id := range dropped {
		g.chunkOf(id).state[id&chunkMask].Or(flagRemoved)
	}
	g.deleted.Add(-int64(len(dropped)))
	g.removed.Add(int64(len(dropped)))
	return CompactStats{Dropped: len(dropped), Repaired: int(repaired.Load()), DroppedIDs: dropped}
}

// Reclaim makes an id that Compact dropped free again, as if it had never been
// inserted, so that a later Insert of the id (with a new vector) adds it afresh. It
// reports whether id was a dropped node; for any other id it does nothing.
//
// The caller guarantees, for the duration of the call and until it has written the
// id's new vector:
//   - the Compact that dropped id has returned (its DroppedIDs are the ids to pass);
//   - no Search, Insert or WriteTo is running: a search that began before that
//     Compact returned may still hold the id, and so may an insert.
//
// A later Compact may run meanwhile: once a Compact has returned, only other dropped
// nodes link to the ids it dropped, so no compaction, search or insert reaches a
// reclaimed id until it is inserted again. A node's level is a function of its id, so
// the re-inserted node reuses its upper-layer lists' memory.
func (g *Graph) Reclaim(id uint32) bool {
	c := g.chunkOf(id)
	if c == nil {
		return false
	}
	off := id & chunkMask
	st := &c.state[off]
	v := st.Load()
	if v&flagRemoved == 0 {
		return false
	}
	mu := &c.locks[off]
	mu.Lock()
	defer mu.Unlock()
	atomic.StoreUint32(&c.links0[int(off)*g.stride0], 0)
	u := c.upper[off]
	for i := 0; i < len(u); i += g.strideU {
		atomic.StoreUint32(&u[i], 0)
	}
	if !st.CompareAndSwap(v, 0) {
		return false
	}
	g.removed.Add(-1)
	return true
}

// IsDropped reports whether id was dropped by Compact and not yet reclaimed.
func (g *Graph) IsDropped(id uint32) bool { return g.state(id)&flagRemoved != 0 }

// repair rewrites the layer-l links of id if they point at a node in drop, choosing
// by the heuristic among its other links and the nodes reachable from the dropped
// ones within two hops through dropped nodes. It reports whether it rewrote.
func (g *Graph) repair(s *searcher, id uint32, l int, drop []bool) bool {
	isDropped := func(e uint32) bool { return int(e) < len(drop) && drop[e] }
	mu := g.lock(id)
	mu.Lock()
	defer mu.Unlock()
	list := g.links(id, l)
	n := int(atomic.LoadUint32(&list[0]))
	ids := s.ids[:0]
	for i := 1; i <= n; i++ {
		ids = append(ids, atomic.LoadUint32(&list[i]))
	}
	s.ids = ids
	if !slices.ContainsFunc(ids, isDropped) {
		return false
	}
	v := g.vector(id)
	s.reset(g.capacity())
	s.visit(id, g)
	tmp := s.tmp[:0]
	add := func(e uint32) {
		if s.visit(e, g) {
			tmp = append(tmp, Neighbor{e, g.dist(v, g.vector(e))})
		}
	}
	for _, e := range ids {
		if !isDropped(e) {
			add(e)
			continue
		}
		for _, e2 := range g.snapshot(e, l) {
			if !isDropped(e2) {
				add(e2)
				continue
			}
			for _, e3 := range g.snapshot(e2, l) {
				if !isDropped(e3) {
					add(e3)
				}
			}
		}
	}
	s.keys = sortNeighbors(tmp, s.keys)
	s.tmp = tmp
	s.tmpSel = g.selectNeighbors(tmp, g.maxLinks(l), s.tmpSel, true)
	writeList(list, s.tmpSel)
	return true
}

// LinkUnreachable links in every live node that a walk of layer 0 from the entry point
// does not reach, as Compact does after its repairs (see linkUnreachable). Inserts
// leave a few such nodes where the heuristic keeps no link to them (outlying points
// of high-dimensional data, some 0.5% of uniform 32-d points at M 8); the owner calls
// it after a bulk build or many inserts. It is safe beside searches and inserts, and
// does nothing, reporting false, while a Compact runs (which does the same when it
// finishes).
func (g *Graph) LinkUnreachable() bool {
	if !g.compactMu.TryLock() {
		return false
	}
	defer g.compactMu.Unlock()
	var nodes []uint32
	for id := range uint32(g.capacity()) {
		if st := g.state(id); st&flagReady != 0 && st&(flagDropping|flagRemoved) == 0 {
			nodes = append(nodes, id)
		}
	}
	g.linkUnreachable(nodes)
	return true
}

// linkUnreachable links each of nodes that a walk of layer 0 from the entry point
// does not reach into the list of a reached live node near it: repairs re-select
// lists by the heuristic, and nodes that only dropped nodes linked to (a single node,
// or a few that link only to each other) may be left where no search finds them. The
// walk keeps, for each node it reaches, the link it was first reached by; a node whose
// list is full gives up only a link that is not one of those, so every node reached
// before stays reached. The candidates are the node's own reached live links and
// theirs, nearest first; a node none of them can take stays as it is. Nodes still
// being inserted and deleted ones need no link; a node linked in brings what it
// reaches along.
func (g *Graph) linkUnreachable(nodes []uint32) {
	epID, _, ok := unpackEntry(g.entry.Load())
	if !ok {
		return
	}
	const none = ^uint32(0)
	parent := make([]uint32, g.capacity()) // the node whose link first reached it; none: not reached
	for i := range parent {
		parent[i] = none
	}
	var stack []uint32
	walk := func(from uint32) { // marks what from reaches; from is marked
		stack = append(stack[:0], from)
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, e := range g.snapshot(u, 0) {
				if int(e) < len(parent) && parent[e] == none && !g.gone(e) {
					parent[e] = u
					stack = append(stack, e)
				}
			}
		}
	}
	parent[epID] = epID
	walk(epID)
	reached := func(e uint32) bool { return int(e) < len(parent) && parent[e] != none }
	var near []Neighbor
	for pass := 0; pass < 3; pass++ {
		linked := 0
		for _, id := range nodes {
			if reached(id) || g.state(id)&(flagDeleted|flagLinked) != flagLinked {
				continue
			}
			v := g.vector(id)
			near = near[:0]
			consider := func(e uint32) {
				if e != id && reached(e) && g.state(e)&flagDeleted == 0 && !slices.ContainsFunc(near, func(x Neighbor) bool { return x.ID == e }) {
					near = append(near, Neighbor{e, g.dist(v, g.vector(e))})
				}
			}
			for _, e := range g.snapshot(id, 0) {
				consider(e)
				for _, e2 := range g.snapshot(e, 0) {
					consider(e2)
				}
			}
			slices.SortFunc(near, func(a, b Neighbor) int { return cmp.Compare(a.Dist, b.Dist) })
			for _, nb := range near {
				if g.forceLink(nb.ID, id, func(e uint32) bool { return parent[e] != nb.ID }) {
					parent[id] = nb.ID
					walk(id)
					linked++
					break
				}
			}
		}
		if linked == 0 {
			return
		}
	}
}

// forceLink puts id into nb's layer-0 list whatever the heuristic says: in a free
// place, else in place of nb's farthest link whose target evictable accepts. It
// reports whether id is in the list now; nothing changes when either node is being
// dropped.
func (g *Graph) forceLink(nb, id uint32, evictable func(uint32) bool) bool {
	mu := g.lock(nb)
	mu.Lock()
	defer mu.Unlock()
	if g.gone(id) || g.gone(nb) {
		return false
	}
	list := g.links(nb, 0)
	n := int(atomic.LoadUint32(&list[0]))
	if slices.Contains(list[1:n+1], id) {
		return true
	}
	if n < g.maxLinks(0) {
		atomic.StoreUint32(&list[n+1], id)
		atomic.StoreUint32(&list[0], uint32(n+1))
		return true
	}
	nv := g.vector(nb)
	at, far := 0, float32(0)
	for i := 1; i <= n; i++ {
		if e := atomic.LoadUint32(&list[i]); evictable(e) {
			if de := g.dist(nv, g.vector(e)); at == 0 || de > far {
				at, far = i, de
			}
		}
	}
	if at == 0 {
		return false
	}
	atomic.StoreUint32(&list[at], id)
	return true
}

// snapshot iterates over the layer-l links of id, loading each word atomically.
func (g *Graph) snapshot(id uint32, l int) func(func(int, uint32) bool) {
	return func(yield func(int, uint32) bool) {
		list := g.links(id, l)
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		for i := 1; i <= n; i++ {
			if !yield(i-1, atomic.LoadUint32(&list[i])) {
				return
			}
		}
	}
}
