package hnsw

import "sync/atomic"

// Special self arguments of searchLayer: noSelf skips no id; keepDeleted skips no id
// and keeps tombstones in the results (an insert whose surroundings are all deleted
// still needs something to link to).
const (
	noSelf      = -1
	keepDeleted = -2
)

// Search returns up to k nearest non-deleted ids for which accept returns true
// (accept may be nil), best first, appended to dst[:0]. The beam width is max(ef, k);
// ef ≤ 0 means Options.EfSearch. Rejected and deleted nodes still route the search,
// and while fewer than ef accepted nodes have been found the beam keeps widening, so a
// selective accept costs more distance evaluations rather than results. accept runs on
// the searching goroutine and must be cheap. With dst of capacity k a steady-state
// search allocates nothing.
func (g *Graph) Search(q []float32, k, ef int, accept func(id uint32) bool, dst []Neighbor) []Neighbor {
	dst = dst[:0]
	if k <= 0 {
		return dst
	}
	if ef <= 0 {
		ef = g.opts.EfSearch
	}
	ef = max(ef, k)
	epID, top, ok := unpackEntry(g.entry.Load())
	if !ok {
		return dst
	}
	cur := Neighbor{epID, g.dist(q, g.vector(epID))}
	for l := top; l > 0; l-- {
		cur = g.greedy(q, cur, l)
	}
	s := g.searchers.get()
	g.searchLayer(s, q, cur, ef, 0, accept, noSelf)
	res := s.sorted()
	dst = append(dst, res[:min(k, len(res))]...)
	g.searchers.put(s)
	return dst
}

// greedy walks layer l from cur to a local minimum of the distance to q.
func (g *Graph) greedy(q []float32, cur Neighbor, l int) Neighbor {
	for changed := true; changed; {
		changed = false
		list := g.links(cur.ID, l)
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&list[i])
			if d := g.dist(q, g.vector(nb)); d < cur.Dist {
				cur = Neighbor{nb, d}
				changed = true
			}
		}
	}
	return cur
}

// keep reports whether id may appear in a result set: inserted (not reclaimed),
// not deleted (keepDeleted: not being compacted away), accepted, and not self (the
// node being inserted; noSelf disables the check).
func (g *Graph) keep(id uint32, accept func(uint32) bool, self int64) bool {
	st := g.state(id)
	switch {
	case int64(id) == self, st&flagReady == 0:
		return false
	case st&flagDeleted != 0 && (self != keepDeleted || st&(flagDropping|flagRemoved) != 0):
		return false
	}
	return accept == nil || accept(id)
}

// searchLayer runs the beam search of width ef on layer l from ep and leaves the
// best kept nodes in s.res (a max-heap of at most ef elements). Every reached node
// routes; only kept ones (see keep) enter s.res.
func (g *Graph) searchLayer(s *searcher, q []float32, ep Neighbor, ef, l int, accept func(uint32) bool, self int64) {
	s.reset(g.capacity())
	s.visit(ep.ID, g)
	s.cand.push(ep)
	if g.keep(ep.ID, accept, self) {
		s.res.push(ep)
	}
	for len(s.cand) > 0 {
		c := s.cand.pop()
		if len(s.res) >= ef && c.Dist > s.res.top().Dist {
			break
		}
		// Gather the unvisited links first, then score them in one tight loop.
		list := g.links(c.ID, l)
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		ids := s.ids[:0]
		for i := 1; i <= n; i++ {
			if nb := atomic.LoadUint32(&list[i]); s.visit(nb, g) {
				ids = append(ids, nb)
			}
		}
		s.ids = ids
		for _, nb := range ids {
			d := g.dist(q, g.vector(nb))
			if len(s.res) < ef || d < s.res.top().Dist {
				s.cand.push(Neighbor{nb, d})
				if g.keep(nb, accept, self) {
					s.res.push(Neighbor{nb, d})
					if len(s.res) > ef {
						s.res.pop()
					}
				}
			}
		}
	}
}

// sorted empties s.res into s.buf, nearest first, and returns it.
func (s *searcher) sorted() []Neighbor {
	n := len(s.res)
	if cap(s.buf) < n {
		s.buf = make([]Neighbor, n, 2*n)
	}
	s.buf = s.buf[:n]
	for i := n - 1; i >= 0; i-- {
		s.buf[i] = s.res.pop()
	}
	return s.buf
}
