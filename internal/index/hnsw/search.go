package hnsw

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/hardneg/hardneg/internal/index/sortkey"
	"github.com/hardneg/hardneg/internal/index/vec"
)

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
//
// With codes (UseCodes) the query is quantized once, the descent and the beam compare
// int8 codes, and the results are the best k of the beam by Distance, ties by lower id,
// each with its Distance: the beam nodes are scored with Distance in the order of their
// approximate distances, and only until the next one's approximate distance, less
// vec.Int8Codes.ErrorBound, is beyond the k-th best scored (see SearchOrdered), so
// Search(q, 10, 128, …) scores a fifth of the beam or less.
func (g *Graph) Search(q []float32, k, ef int, accept func(id uint32) bool, dst []Neighbor) []Neighbor {
	res, _ := g.search(q, k, ef, accept, dst, nil)
	return res
}

// SearchWithout is Search for a query that stands for the nodes hide (an item and the
// items holding the same vector), as if they were not in the graph: the search neither
// steps onto them, scores their links nor returns them, so it finds what a new query at
// that place would find (Search for an item's own vector reaches the item and, through
// its links, the item's nearest neighbours; a new query has no such node to lead it).
// ok is false, and nothing is searched, when a hidden node is the graph's entry point.
// The lead probe of package index measures the graph's recall this way.
func (g *Graph) SearchWithout(q []float32, k, ef int, hide []uint32, accept func(id uint32) bool, dst []Neighbor) (res []Neighbor, ok bool) {
	return g.search(q, k, ef, accept, dst, hide)
}

// search is Search, and with nodes to hide SearchWithout(…, hide, …).
func (g *Graph) search(q []float32, k, ef int, accept func(id uint32) bool, dst []Neighbor, hide []uint32) ([]Neighbor, bool) {
	dst = dst[:0]
	if k <= 0 {
		return dst, true
	}
	if ef <= 0 {
		ef = g.opts.EfSearch
	}
	ef = max(ef, k)
	epID, top, ok := unpackEntry(g.entry.Load())
	if !ok {
		return dst, true
	}
	if slices.Contains(hide, epID) {
		return dst, false
	}
	s := g.searchers.get()
	defer g.release(s)
	s.hide = hide
	qq := g.beam(s, q, epID, top, ef, false, accept)
	if qq.c != nil {
		// Only the beam nodes that can be among the best k get a float distance.
		g.rescoreInOrder(s, &qq, beamGrowth{}, func(nb Neighbor) bool {
			dst = append(dst, nb)
			return len(dst) < k
		})
		return dst, true
	}
	res := s.sorted()
	return append(dst, res[:min(k, len(res))]...), true
}

// release returns a searcher of search to the pool.
func (g *Graph) release(s *searcher) {
	s.hide = nil
	g.searchers.put(s)
}

// beam fills s.res with the layer-0 beam of width ef for q from the entry point epID at
// layer top (Search and SearchOrdered): with codes the query is quantized into s.qc and
// the descent and the beam compare codes. It returns the query as the search used it.
// With growing on it keeps what the width turns away, for grow.
func (g *Graph) beam(s *searcher, q []float32, epID uint32, top, ef int, growing bool, accept func(id uint32) bool) query {
	qq := query{f: q}
	if g.codes != nil {
		g.codes.Quantize(q, &s.qc)
		qq.c = &s.qc
	}
	cur := Neighbor{epID, g.distTo(&qq, epID)}
	for l := top; l > 0; l-- {
		cur = g.greedy(s, &qq, cur, l)
	}
	g.startLayer(s, cur, accept, noSelf)
	for _, id := range s.hide {
		s.visit(id, g)
	}
	s.growing = growing
	g.expand(s, &qq, ef, 0, accept, noSelf)
	return qq
}

// SearchOrdered produces what Search(q, ef, ef, accept, dst) returns, in the same
// order, one neighbour at a time to yield until yield returns false; ef ≤ 0 means
// Options.EfSearch (as Search(q, e, e, …) with e = Options.EfSearch). yield runs on the searching goroutine, which holds one of the
// graph's searchers until SearchOrdered returns.
//
// With codes the beam is re-scored lazily: its nodes are taken in the order of their
// approximate distances, and one is scored with Distance only while its approximate
// distance is within vec.Int8Codes.ErrorBound of the nearest scored node not yet
// yielded; a node further out cannot be nearer than that one. So a caller that stops
// after a few neighbours does not pay for scoring the whole beam, and the sequence
// yielded is Search's, bit for bit.
func (g *Graph) SearchOrdered(q []float32, ef int, accept func(id uint32) bool, yield func(Neighbor) bool) {
	g.SearchOrderedGrowing(q, ef, ef, 0, accept, yield)
}

// SearchOrderedGrowing is SearchOrdered with a beam that starts at width ef and widens,
// up to maxEf, as the caller reads: before it yields neighbour n (from 0), a beam
// narrower than n + lead resumes at width n + lead + max(lead/4, 1) or a quarter wider
// than it was, whichever is wider, at most maxEf (lead counts as at most maxEf). The search goes on from where it stopped (the nodes
// the narrower width scored and turned away rejoin it), so a caller that stops early
// pays for the narrow beam, and one that reads on reads from a beam lead wider than
// what it has read, as far as maxEf. The neighbours come nearest first within each
// width (ties by lower id, on floats too); one that only a wider beam finds comes when
// it is found, after the nearer ones already yielded. A caller that stops within the
// start width less lead gets SearchOrdered's neighbours for the start width (on
// floats, up to the order of ties). With maxEf ≤ ef or lead ≤ 0 it is
// SearchOrdered(q, ef, …).
func (g *Graph) SearchOrderedGrowing(q []float32, ef, maxEf, lead int, accept func(id uint32) bool, yield func(Neighbor) bool) {
	if ef <= 0 {
		ef = g.opts.EfSearch
	}
	gr := beamGrowth{width: ef}
	if lead > 0 && maxEf > ef {
		gr.max, gr.lead, gr.accept = maxEf, min(lead, maxEf), accept
	}
	epID, top, ok := unpackEntry(g.entry.Load())
	if !ok {
		return
	}
	s := g.searchers.get()
	defer g.searchers.put(s)
	qq := g.beam(s, q, epID, top, ef, gr.max > 0, accept)
	if qq.c == nil && gr.max == 0 {
		for _, nb := range s.sorted() {
			if !yield(nb) {
				return
			}
		}
		return
	}
	g.rescoreInOrder(s, &qq, gr, yield)
}

// beamGrowth is how a beam may widen while rescoreInOrder yields it (see
// SearchOrderedGrowing); the zero value: it does not.
type beamGrowth struct {
	width, max, lead int
	accept           func(uint32) bool
}

// rescoreInOrder empties s.res, a beam of the query qq, and yields its nodes with their
// Distance to qq.f, nearest first (ties by lower id), until yield returns false. On
// codes a node is scored only while its approximate distance is within
// vec.Int8Codes.ErrorBound (of the query in s.qc) of the nearest scored node not yet
// yielded: a node further out cannot be nearer than that one, so the order is that of
// scoring the whole beam. On floats the beam's distances are the Distances already.
//
// Under gr the beam widens (grow) before node n (from 0) is yielded while its width
// is below n + gr.lead; the nodes not yet scored are then those of the wider beam less
// the ones already scored (s.done).
func (g *Graph) rescoreInOrder(s *searcher, qq *query, gr beamGrowth, yield func(Neighbor) bool) {
	// The beam by approximate distance, nearest first (the order of ties does not
	// matter: every node within the bound of the next one to yield gets scored).
	beam := append(s.buf[:0], s.res...)
	s.buf = beam
	s.keys = sortNeighbors(beam, s.keys)
	var bound float64
	if qq.c != nil {
		bound = g.codes.ErrorBound(qq.c)
	}
	// pending holds the scored nodes not yet yielded, farthest first (byDistID), so the
	// next one to yield is the last.
	pending := s.tmp[:0]
	done := s.done[:0]
	defer func() { s.tmp, s.done, s.res = pending[:0], done[:0], s.res[:0] }()
	next, yielded := 0, 0
	for {
		if gr.max > 0 && gr.width < gr.max && yielded+gr.lead > gr.width {
			// By a quarter of the width at least: each widening sorts and filters the
			// whole beam again, so steps of a fixed size cost the square of the depth
			// (a window of 1,000 took 2.4 times the CPU per rank of one of 200).
			gr.width = min(gr.max, max(yielded+gr.lead+max(gr.lead/4, 1), gr.width+gr.width/4))
			g.grow(s, qq, gr.width, gr.accept)
			// The wider beam less what is scored, nearest first.
			slices.Sort(done)
			beam = beam[:0]
			for _, nb := range s.res {
				if _, ok := slices.BinarySearch(done, nb.ID); !ok {
					beam = append(beam, nb)
				}
			}
			s.buf = beam
			s.keys = sortNeighbors(beam, s.keys)
			next = 0
		}
		if next >= len(beam) && len(pending) == 0 {
			return
		}
		for next < len(beam) && (len(pending) == 0 || float64(beam[next].Dist)-bound <= float64(pending[len(pending)-1].Dist)) {
			nb := beam[next]
			if qq.c != nil {
				if next+1 < len(beam) { // the next vector's first line loads while this one is scored
					vec.PrefetchF32(&g.vector(beam[next+1].ID)[0])
				}
				nb.Dist = g.dist(qq.f, g.vector(nb.ID))
			}
			next++
			if gr.max > 0 {
				done = append(done, nb.ID)
			}
			i, _ := slices.BinarySearchFunc(pending, nb, func(a, b Neighbor) int { return byDistID(b, a) })
			pending = slices.Insert(pending, i, nb)
		}
		nb := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		yielded++
		if !yield(nb) {
			return
		}
	}
}

// rescore empties s.res into s.buf with each node's Distance to q, nearest first (ties
// by lower id), and returns it.
func (g *Graph) rescore(s *searcher, q []float32) []Neighbor {
	n := len(s.res)
	if cap(s.buf) < n {
		s.buf = make([]Neighbor, n, 2*n)
	}
	s.buf = s.buf[:n]
	for i, nb := range s.res {
		if i+1 < n { // the next vector's first line loads while this one is scored
			vec.PrefetchF32(&g.vector(s.res[i+1].ID)[0])
		}
		s.buf[i] = Neighbor{nb.ID, g.dist(q, g.vector(nb.ID))}
	}
	s.res = s.res[:0]
	s.keys = sortNeighbors(s.buf, s.keys)
	return s.buf
}

// byDistID orders neighbours nearest first, ties by lower id.
func byDistID(a, b Neighbor) int {
	if c := cmp.Compare(a.Dist, b.Dist); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// query is what a search compares nodes with: the float query, and its int8 codes when
// the search walks on codes (c != nil).
type query struct {
	f []float32
	c *vec.Int8Query
}

// distTo returns the distance of q to id: on codes, minus their inner product (the
// distance of cosine and dot-product graphs, approximated); else Distance.
func (g *Graph) distTo(q *query, id uint32) float32 {
	if q.c != nil {
		return -g.codes.Dot(q.c, id)
	}
	return g.dist(q.f, g.vector(id))
}

// distsTo returns the distances of q to ids in s.dists: on codes, one DotMany call;
// else Distance per id.
func (g *Graph) distsTo(s *searcher, q *query, ids []uint32) []float32 {
	if cap(s.dists) < len(ids) {
		s.dists = make([]float32, len(ids), 2*len(ids))
	}
	d := s.dists[:len(ids)]
	if q.c != nil {
		g.codes.DotMany(q.c, ids, d)
		for i := range d {
			d[i] = -d[i]
		}
		return d
	}
	// Ask for every vector's first cache line before scoring the first: the loads
	// overlap instead of each stalling its distance (the rest of a vector follows by
	// the hardware's sequential prefetch once its first line is read).
	if g.negDot {
		rows := s.rows[:0]
		for _, nb := range ids {
			v := g.vector(nb)
			if len(v) < len(q.f) { // as Dot would: DotRows reads len(q.f) floats of each row
				panic(fmt.Sprintf("hnsw: query of %d floats, vector of %d", len(q.f), len(v)))
			}
			rows = append(rows, unsafe.Pointer(unsafe.SliceData(v)))
		}
		s.rows = rows
		vec.DotRows(rows, q.f, d)
		for i := range d {
			d[i] = -d[i]
		}
		return d
	}
	for _, nb := range ids {
		vec.PrefetchF32(&g.vector(nb)[0])
	}
	for i, nb := range ids {
		d[i] = g.dist(q.f, g.vector(nb))
	}
	return d
}

// greedy walks layer l from cur to a local minimum of the distance to q, scoring each
// list it reads in one distsTo call (s.ids and s.dists are its scratch).
func (g *Graph) greedy(s *searcher, q *query, cur Neighbor, l int) Neighbor {
	for changed := true; changed; {
		changed = false
		list := g.links(cur.ID, l)
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		ids := s.ids[:0]
		for i := 1; i <= n; i++ {
			ids = append(ids, atomic.LoadUint32(&list[i]))
		}
		s.ids = ids
		for i, d := range g.distsTo(s, q, ids) {
			if d < cur.Dist && !(len(s.hide) > 0 && slices.Contains(s.hide, ids[i])) {
				cur = Neighbor{ids[i], d}
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
//
// The loop reads the chunk table once, marks visited nodes inline, and, while the
// graph holds no tombstones and no dropped nodes (read once at the start), skips each
// node's state word: every id found in a link list is ready (links to a node are
// written after its flagReady), so keep reduces to self and accept. A delete that
// lands during the search is concurrent with it and may or may not be seen.
func (g *Graph) searchLayer(s *searcher, q *query, ep Neighbor, ef, l int, accept func(uint32) bool, self int64) {
	g.startLayer(s, ep, accept, self)
	g.expand(s, q, ef, l, accept, self)
}

// startLayer resets s for a search of one layer from ep: ep visited, a candidate, and
// a result when kept.
func (g *Graph) startLayer(s *searcher, ep Neighbor, accept func(uint32) bool, self int64) {
	s.reset(g.capacity())
	s.visit(ep.ID, g)
	s.cand.push(ep)
	if g.keep(ep.ID, accept, self) {
		s.res.push(ep)
	}
}

// expand runs searchLayer's loop on the state in s until no candidate can improve a
// beam of width ef. When s.growing it also keeps what the width turns away (s.over)
// and the candidate it stopped at, so that grow can resume it.
func (g *Graph) expand(s *searcher, q *query, ef, l int, accept func(uint32) bool, self int64) {
	checkState := self == keepDeleted || g.deleted.Load() != 0 || g.removed.Load() != 0
	tab := *g.chunks.Load()
	for len(s.cand) > 0 {
		c := s.cand.pop()
		if len(s.res) >= ef && c.Dist > s.res.top().Dist {
			if s.growing {
				s.stop, s.stopped = c, true
			}
			break
		}
		// Ask for the link list of the next candidate now: its load overlaps with the
		// scoring of this one's links (when they push a nearer candidate, the request
		// was for nothing).
		if len(s.cand) > 0 && l == 0 {
			if nx := s.cand[0].ID; int(nx>>chunkShift) < len(tab) {
				lk := tab[nx>>chunkShift].links0
				off := int(nx&chunkMask) * g.stride0
				vec.Prefetch(&lk[off])
				vec.Prefetch(&lk[off+g.stride0-1])
			}
		}
		// Gather the unvisited links first, then score them in one tight loop.
		var list []uint32
		if ci := int(c.ID >> chunkShift); l == 0 && ci < len(tab) {
			off := int(c.ID&chunkMask) * g.stride0
			list = tab[ci].links0[off : off+g.stride0 : off+g.stride0]
		} else {
			list = g.links(c.ID, l)
		}
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		ids := s.ids[:0]
		vis := s.visited
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&list[i])
			w := nb >> 6
			if int(w) >= len(vis) { // the graph grew during this search
				if s.visit(nb, g) {
					ids = append(ids, nb)
				}
				vis = s.visited
				continue
			}
			x, bit := vis[w], uint64(1)<<(nb&63)
			if x&bit == 0 {
				if x == 0 {
					s.touched = append(s.touched, w)
				}
				vis[w] = x | bit
				ids = append(ids, nb)
			}
		}
		s.ids = ids
		dists := g.distsTo(s, q, ids)
		for i, nb := range ids {
			d := dists[i]
			if len(s.res) < ef || d < s.res.top().Dist {
				s.cand.push(Neighbor{nb, d})
				var kept bool
				if checkState {
					kept = g.keep(nb, accept, self)
				} else {
					kept = int64(nb) != self && (accept == nil || accept(nb))
				}
				if kept {
					if len(s.res) < ef {
						s.res.push(Neighbor{nb, d})
					} else {
						if s.growing {
							s.over = append(s.over, neighborKey(s.res.top()))
						}
						s.res.replaceTop(Neighbor{nb, d})
					}
				}
			} else if s.growing {
				s.over = append(s.over, neighborKey(Neighbor{nb, d}))
			}
		}
	}
}

// grow resumes the layer-0 beam that expand left in s (from beam with growing on) at
// width ef, wider than before. Every node turned away is at least as far as every node
// in s.res (res's farthest only moves nearer once res is full, and nothing is turned
// away before), so the nearest of them, as many as the wider beam takes, rejoin res
// and the candidates, with the candidate the search stopped at; then expand goes on
// with the wider width. The nodes that rejoin as candidates may have been expanded
// already: expanding one again finds its links visited and scores nothing.
func (g *Graph) grow(s *searcher, q *query, ef int, accept func(uint32) bool) {
	if s.stopped {
		s.cand.push(s.stop)
		s.stopped = false
	}
	// The nearest that can still fit rejoin, nearest first: a quickselect of as many as
	// res has places for; rejected ones route but take no place, so when those run out
	// first the rest is sorted once and the walk goes on.
	over := s.over
	if m := min(len(over), ef-len(s.res)); m > 0 {
		if m < len(over) {
			sortkey.SelectSmallest(over, m)
		}
		slices.Sort(over[:m])
		sorted := m
		i := 0
		for ; i < len(over) && len(s.res) < ef; i++ {
			if i == sorted {
				slices.Sort(over[i:])
				sorted = len(over)
			}
			nb := keyNeighbor(over[i])
			s.cand.push(nb)
			if g.keep(nb.ID, accept, noSelf) {
				s.res.push(nb)
			}
		}
		over = over[i:]
	}
	s.over = append(s.over[:0], over...)
	g.expand(s, q, ef, 0, accept, noSelf)
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
