package hnsw

import (
	"sync"
	"unsafe"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// searcher is the per-goroutine scratch space of a search or insert: a visited set
// (one bit per id, cleared word by word where the last search set bits), and heaps and
// buffers reused across calls, so a steady-state search allocates nothing.
type searcher struct {
	visited []uint64 // bit id&63 of word id>>6 set ⇔ id seen in the current search
	touched []uint32 // the words of visited that hold a set bit
	cand    minHeap
	res     maxHeap
	buf     []Neighbor       // sorted results, heuristic input
	sel     []Neighbor       // heuristic output
	pend    []pendingLink    // an insert's reverse links, added once its own lists are set
	tmp     []Neighbor       // link pruning input
	tmpSel  []Neighbor       // link pruning output
	ids     []uint32         // link snapshot
	dists   []float32        // distances of ids
	rows    []unsafe.Pointer // vectors of ids (UseDot)
	keys    []uint64         // sort keys (sortNeighbors)
	qc      vec.Int8Query    // the query's int8 codes (searches on codes)

	// A beam that may grow (SearchOrderedGrowing) keeps what its width turns away:
	// over holds the nodes the search scored but left out of res, and those res
	// dropped for nearer ones (when growing is on), as sort keys (neighborKey); stop
	// is the candidate whose distance ended the search (stopped), not yet expanded.
	// grow puts them back.
	over    []uint64
	growing bool
	stop    Neighbor
	stopped bool
	done    []uint32 // ids a growing beam has scored and handed out or holds pending

	// hide makes a search act as if these nodes were not in the graph (SearchWithout):
	// the descent does not step onto them and the beam marks them visited before it
	// starts. Set and cleared by search around one search; reset leaves it alone.
	hide []uint32
}

// reset starts a new search over a graph of the given capacity. The bitset is an
// eighth of the id space in bytes (12.5 KB for 100,000 ids), so the visited checks of
// a search mostly hit the first-level cache, where a 16-bit epoch per id did not;
// clearing it costs the words the last search touched.
func (s *searcher) reset(capacity int) {
	if words := (capacity + 63) / 64; len(s.visited) < words {
		s.visited = make([]uint64, words+words/4)
		s.touched = s.touched[:0]
	}
	if len(s.touched) > len(s.visited)/8 {
		clear(s.visited)
	} else {
		for _, w := range s.touched {
			s.visited[w] = 0
		}
	}
	s.touched = s.touched[:0]
	s.cand = s.cand[:0]
	s.res = s.res[:0]
	s.over = s.over[:0]
	s.growing = false
	s.stopped = false
}

// visit marks id and reports whether it was unseen in the current search.
func (s *searcher) visit(id uint32, g *Graph) bool {
	w := id >> 6
	if int(w) >= len(s.visited) { // the graph grew during this search
		grown := make([]uint64, (g.capacity()+g.capacity()/4+63)/64)
		copy(grown, s.visited)
		s.visited = grown
	}
	x, bit := s.visited[w], uint64(1)<<(id&63)
	if x&bit != 0 {
		return false
	}
	if x == 0 {
		s.touched = append(s.touched, w)
	}
	s.visited[w] = x | bit
	return true
}

// searcherPool is a free list of searchers. Unlike sync.Pool it never drops them at
// garbage collection, so the large visited arrays are allocated once per concurrent
// caller, not once per GC cycle.
type searcherPool struct {
	g    *Graph
	mu   sync.Mutex  // guards free
	free []*searcher // idle searchers
}

func (p *searcherPool) get() *searcher {
	p.mu.Lock()
	var s *searcher
	if n := len(p.free); n > 0 {
		s = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if s == nil {
		s = &searcher{}
	}
	s.reset(p.g.capacity())
	return s
}

func (p *searcherPool) put(s *searcher) {
	p.mu.Lock()
	p.free = append(p.free, s)
	p.mu.Unlock()
}

// bytes returns the memory held by idle searchers.
func (p *searcherPool) bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, s := range p.free {
		n += int64(8*cap(s.visited) + 8*(cap(s.cand)+cap(s.res)+cap(s.buf)+cap(s.sel)+cap(s.tmp)+cap(s.tmpSel)+cap(s.over)) + 16*cap(s.pend) + 4*cap(s.ids) + 4*cap(s.done) + 4*cap(s.dists) + 8*cap(s.keys))
	}
	return n
}
