package index

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/index/sortkey"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// Search produces the collection's items best-first for the prepared query q (see
// PrepareQuery), calling yield for each until yield returns false, the items run out,
// or opts.MaxCandidates items were ordered. The collection's read lock is held for the
// whole search: yield must not call methods of the collection.
//
// Collections with at least Params.ExactThreshold live items and a built graph (see
// Stats.GraphBuilt) are searched through the graph, first with beam width opts.Ef (a
// beam that starts at opts.EfStart and widens to opts.Ef as yield reads, staying
// opts.Lead (default Params.EfSearch) ahead of it: hnsw.Graph.SearchOrderedGrowing), then,
// while yield keeps asking, with a doubled width (skipping what was already produced) up
// to maxGraphEf, and finally by an exact scan of the items not yet produced. Under
// opts.Depth or opts.MaxCandidates a wider pass is no wider than the depth still left
// plus Params.EfSearch, and passes of maxGraphEf repeat while one more reaches that
// depth, so widening costs in proportion to the depth the caller asked for; the exact
// scan (see SearchStats.Fallback) runs only when the graph yields nothing more, or the
// depth left is beyond one pass of maxGraphEf (which costs about as much as a scan of a
// 100k-item collection), or the search goes on past that depth. Later passes can find
// items that score above ones already yielded, so the order is best-first per pass.
func (c *Collection) Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, scored := currentScores(opts.Scores, c); !c.useGraph() || scored {
		// Scores of the current vectors (ScoreExact, for a group of anchors) make the
		// exact scan cheaper than the graph, whatever single searches use.
		return c.exactSearch(ctx, q, opts, nil, engine.SearchStats{}, yield)
	}
	return c.graphSearch(ctx, q, opts, yield)
}

// maxGraphEf is the widest graph pass before a search falls back to an exact scan.
const maxGraphEf = 2048

// useGraph reports whether searches go through the graph: it is built, the collection
// is not below its exact threshold, and its last measurement of the first-pass lead did
// not find an exact scan cheaper (leadProbe.scan). Caller holds mu.
func (c *Collection) useGraph() bool {
	return c.graphReady() && !c.probe.scan.Load()
}

// graphReady reports whether the graph is built and the collection is not below its
// exact threshold. Caller holds mu.
func (c *Collection) graphReady() bool {
	return c.graphOn && len(c.slots) >= c.params.ExactThreshold
}

// graphSearch runs widening graph passes, then an exact scan. Caller holds mu.
func (c *Collection) graphSearch(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	var st engine.SearchStats
	done := getSlotSet(len(c.ids))
	defer putSlotSet(done)
	// The first pass has produced nothing yet, so it only needs liveness; later passes
	// also skip what earlier ones produced. While every retired slot is a tombstone in
	// the graph (unsynced 0; retire cannot run under the read lock), the graph keeps
	// only live items itself, and the first pass reads no item state of its own.
	var live func(slot uint32) bool
	if c.unsynced.Load() != 0 {
		live = func(slot uint32) bool { return c.ids[slot] != "" }
	}
	unproduced := func(slot uint32) bool { return c.ids[slot] != "" && !done.has(slot) }
	ef := opts.Ef
	if ef <= 0 {
		ef = c.params.EfSearch
	}
	// depth is how deep the caller may go: opts.Depth or opts.MaxCandidates, the lower.
	depth := opts.MaxCandidates
	if opts.Depth > 0 && (depth <= 0 || opts.Depth < depth) {
		depth = opts.Depth
	}
	for pass := 0; ; pass++ {
		if pass > 0 {
			left := depth - st.Ordered
			reach := depth > 0 && left > 0 && left <= maxGraphEf
			if ef >= len(c.slots) || (ef >= maxGraphEf && !reach) {
				break
			}
			ef = min(2*ef, maxGraphEf)
			if depth > 0 && left > 0 {
				ef = min(ef, left+c.params.EfSearch)
			}
			st.Widenings++
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		accept := unproduced
		if pass == 0 {
			accept = live
		}
		// The pass's beam comes nearest first; on codes it is re-scored with the floats
		// only as far as the candidates consumed need (hnsw.Graph.SearchOrdered).
		produced, stop := 0, false
		start, lead := ef, opts.Lead
		if pass == 0 && opts.EfStart > 0 && opts.EfStart < ef {
			start = opts.EfStart
		}
		if lead <= 0 {
			lead = c.params.EfSearch
		}
		c.graph.SearchOrderedGrowing(q, start, ef, lead, accept, func(n hnsw.Neighbor) bool {
			produced++
			done.add(n.ID)
			rank := st.Ordered
			st.Ordered++
			// The last item the bound allows ends the pass here, so that asking for one
			// more does not widen a growing beam for an item that is then dropped.
			last := opts.MaxCandidates > 0 && st.Ordered >= opts.MaxCandidates
			id := c.ids[n.ID]
			groups := c.groups[n.ID]
			if opts.Skip != nil && opts.Skip(n.ID, id, groups) {
				stop = last
				return !last
			}
			if !yield(engine.Candidate{Slot: n.ID, ID: id, Score: -n.Dist, Rank: rank, Groups: groups, Vector: c.vectorAt(n.ID), Version: c.versions[n.ID]}) || last {
				stop = true
				return false
			}
			return true
		})
		if stop {
			return st, nil
		}
		if produced == 0 {
			break
		}
		if opts.NoWiden {
			return st, nil
		}
	}
	if opts.NoWiden || (opts.MaxCandidates > 0 && st.Ordered >= opts.MaxCandidates) {
		return st, nil
	}
	st.Fallback = true
	return c.exactSearch(ctx, q, opts, done, st, yield)
}

// scored is one (slot, score) pair of an exact scan.
type scored struct {
	slot  uint32
	score float32
}

// better orders scans best-first: higher score, then lower slot.
func better(a, b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.slot < b.slot
}

// scoredKey is e as a sort key: keys in ascending order are entries in better's order
// (the score's sortkey.Bits inverted, above the slot).
func scoredKey(e scored) uint64 { return uint64(^sortkey.Bits(e.score))<<32 | uint64(e.slot) }

// keyScored inverts scoredKey (−0 comes back as +0).
func keyScored(k uint64) scored {
	return scored{slot: uint32(k), score: sortkey.FromBits(^uint32(k >> 32))}
}

// sortBest sorts es best first (better's order) by sorting integer keys, which is
// several times faster than slices.SortFunc with a comparison; keys is scratch, returned
// grown. Scores are finite, and −0 sorts and comes back as +0.
func sortBest(es []scored, keys []uint64) []uint64 {
	return sortkey.Sort(es, keys, scoredKey, keyScored)
}

// bestHeap is a binary heap whose root is the best entry.
type bestHeap []scored

func (h bestHeap) down(i int) { siftDown(h, i, false) }

// siftDown restores heap order below i: best entry at the root, or the worst one when
// worstAtRoot is set.
func siftDown(h []scored, i int, worstAtRoot bool) {
	above := func(a, b scored) bool { return better(a, b) != worstAtRoot }
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && above(h[r], h[l]) {
			j = r
		}
		if !above(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h bestHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// pop removes and returns the best entry.
func (h *bestHeap) pop() scored {
	old := *h
	top := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	return top
}

var scanPool = sync.Pool{New: func() any { return &scanBuf{} }}

// scanBuf holds the reusable buffers of one exact scan.
type scanBuf struct {
	heap   bestHeap
	top    []scored
	scores []float32
	cand   []uint32  // slots above selectBest's threshold
	keys   []uint64  // sort keys (scoredKey)
	pre    []float32 // lean scores computed again (Collection.int8Scores)
}

// exactFirstBatch is how many of the best items an exact scan selects while it scores.
// Most searches stop within them; only a search that asks for more orders the rest.
const exactFirstBatch = 256

// keepBest offers e to top, which holds at most exactFirstBatch of the best entries
// seen and, once full, is a heap whose root is the worst of them.
func keepBest(top []scored, e scored) []scored { return keepBestN(top, e, exactFirstBatch) }

// keepBestN is keepBest for at most n entries.
func keepBestN(top []scored, e scored, n int) []scored {
	if len(top) < n {
		top = append(top, e)
		if len(top) == n {
			for i := len(top)/2 - 1; i >= 0; i-- {
				siftDown(top, i, true)
			}
		}
		return top
	}
	if better(e, top[0]) {
		top[0] = e
		siftDown(top, 0, true)
	}
	return top
}

// Above preselectMin scores, selectBest first takes a threshold from a sample of them:
// the preselectRank-th best of every preselectStride-th score, which about
// preselectRank·preselectStride scores reach. Only those enter the selection, whose
// heap otherwise takes thousands of entries from a scan in slot order. From 4,096
// scores on the sample has 64 entries or more and its threshold admits about 768 (a
// fifth of 4,096, a 20th of 15,000); fewer than exactFirstBatch reach it only in a rare
// sample, and then every score is offered. On a 15,000-item collection the sampled
// threshold took a third off the CPU of mining 1,000 anchors by exact scan.
const (
	preselectMin    = 1 << 12
	preselectStride = 64
	preselectRank   = 12
)

// sampleThreshold returns the preselectRank-th best of every stride-th element of xs,
// and false when the sample has fewer elements.
func sampleThreshold(xs []float32, stride int) (float32, bool) {
	return sampleRank(xs, stride, preselectRank)
}

// sampleRank returns the rank-th best of every stride-th element of xs, and false when
// the sample has fewer elements.
func sampleRank(xs []float32, stride, rank int) (float32, bool) {
	if rank > preselectRank {
		s := make([]float32, 0, (len(xs)+stride-1)/stride)
		for i := 0; i < len(xs); i += stride {
			s = append(s, xs[i])
		}
		if len(s) < rank {
			return 0, false
		}
		slices.Sort(s)
		return s[len(s)-rank], true
	}
	var s [preselectRank]float32 // the best sampled scores, best first
	ns := 0
	for i := 0; i < len(xs); i += stride {
		x := xs[i]
		if ns == rank && !(x > s[ns-1]) {
			continue
		}
		j := ns
		if ns < rank {
			ns++
		} else {
			j--
		}
		for ; j > 0 && s[j-1] < x; j-- {
			s[j] = s[j-1]
		}
		s[j] = x
	}
	if ns < rank {
		return 0, false
	}
	return s[ns-1], true
}

// selectBest returns in top (emptied first), best first, the exactFirstBatch best
// live entries of pre, slot i scoring pre[i], as offering every live entry to keepBest
// in slot order would; cand and keys are scratch space (the slots that reach the
// threshold, sort keys), returned for reuse. above, when not nil, holds the keys of
// every entry that reaches a threshold chosen already (ExactScores.Above), and stands
// in for the sampled one. It reports whether a threshold found them (else every score
// was offered): when at least exactFirstBatch live entries reach the threshold, every
// entry below it ranks below all of them.
func selectBest(pre []float32, above []uint64, live func(uint32) bool, top []scored, cand []uint32, keys []uint64) ([]scored, []uint32, []uint64, bool) {
	top = top[:0]
	reached := false
	if above != nil {
		keys = keys[:0]
		for _, k := range above {
			if live(uint32(k)) {
				keys = append(keys, k)
			}
		}
		reached = true
	} else if len(pre) >= preselectMin {
		if thr, ok := sampleThreshold(pre, preselectStride); ok {
			// The live entries that reach the threshold, as keys.
			cand = vec.AtLeast(pre, thr, cand[:0])
			keys = keys[:0]
			for _, i := range cand {
				if live(i) {
					keys = append(keys, scoredKey(scored{i, pre[i]}))
				}
			}
			reached = true
		}
	}
	// The best exactFirstBatch of them by a quickselect of integers (better's order is
	// total: slots differ).
	if reached && len(keys) >= exactFirstBatch {
		if len(keys) > exactFirstBatch {
			sortkey.SelectSmallest(keys, exactFirstBatch)
		}
		slices.Sort(keys[:exactFirstBatch])
		for _, k := range keys[:exactFirstBatch] {
			top = append(top, keyScored(k))
		}
		return top, cand, keys, true
	}
	// Once top is full, an item enters only with a higher score than its worst (a
	// later slot loses a tie).
	for i, sc := range pre {
		if len(top) == exactFirstBatch && !(sc > top[0].score) {
			continue
		}
		if slot := uint32(i); live(slot) {
			top = keepBest(top, scored{slot, sc})
		}
	}
	return top, cand, sortBest(top, keys), false
}

// ctxCheckEvery is how many ordered items pass between context checks.
const ctxCheckEvery = 256

// scoreRows writes the similarity of q to each of count rows into out.
func scoreRows(m engine.Metric, q, rows []float32, dim, count int, out []float32) {
	out = out[:count]
	if m != engine.L2 {
		vec.DotMany(q, rows[:count*dim], dim, out)
		return
	}
	vec.L2SqMany(q, rows[:count*dim], dim, out)
	for i := range out {
		out[i] = -out[i]
	}
}

// exactSearch scores every live item not in done (which may be nil) and yields them
// best-first, continuing the counts in st. Caller holds mu.
func (c *Collection) exactSearch(ctx context.Context, q []float32, opts engine.SearchOptions, done *slotSet, st engine.SearchStats, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	st.Exact = true
	buf := scanPool.Get().(*scanBuf)
	defer scanPool.Put(buf)
	h := buf.heap[:0]
	top := buf.top[:0]
	if cap(buf.scores) < storeChunkRows {
		buf.scores = make([]float32, storeChunkRows)
	}
	pre, given := currentScores(opts.Scores, c)
	// With no dead slot, liveness needs no look at ids: a scan's few hundred selected
	// slots are spread over the whole collection, and reading their ids missed the
	// cache for each one (9% of the server's CPU in the offline job).
	allLive := len(c.slots) == len(c.ids)
	live := func(slot uint32) bool { return (allLive || c.ids[slot] != "") && (done == nil || !done.has(slot)) }
	// all returns the scores, computing lean ones (scoreLean) the first time.
	all := func() []float32 {
		if pre == nil {
			buf.pre = c.int8Scores(q, len(c.ids), buf.pre)
			pre = buf.pre
		}
		return pre
	}
	if given {
		// The scores stay put: select the best items now and collect the others only
		// if the search asks for them.
		var above []uint64
		if opts.Scores.Preselected {
			above = opts.Scores.Above[:len(opts.Scores.Above):len(opts.Scores.Above)]
		}
		var found bool
		top, buf.cand, buf.keys, found = selectBest(pre, above, live, top, buf.cand, buf.keys)
		if !found && pre == nil {
			// Lean scores whose Above holds too few live items: all of them, then.
			top, buf.cand, buf.keys, _ = selectBest(all(), nil, live, top, buf.cand, buf.keys)
		}
	} else {
		c.vectors.rows(len(c.ids), func(first uint32, rows []float32, count int) {
			scores := buf.scores[:count]
			scoreRows(c.metric, q, rows, c.dim, count, scores)
			for i, sc := range scores {
				if slot := first + uint32(i); live(slot) {
					e := scored{slot, sc}
					h = append(h, e)
					top = keepBest(top, e)
				}
			}
		})
		buf.keys = sortBest(top, buf.keys)
	}
	buf.heap, buf.top = h, top
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// emit produces one item in order; it reports whether the search goes on.
	emit := func(s scored) (bool, error) {
		if opts.MaxCandidates > 0 && st.Ordered >= opts.MaxCandidates {
			return false, nil
		}
		if st.Ordered%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		rank := st.Ordered
		st.Ordered++
		id := c.ids[s.slot]
		groups := c.groups[s.slot]
		if opts.Skip != nil && opts.Skip(s.slot, id, groups) {
			return true, nil
		}
		return yield(engine.Candidate{Slot: s.slot, ID: id, Score: s.score, Rank: rank, Groups: groups, Vector: c.vectorAt(s.slot), Version: c.versions[s.slot]}), nil
	}
	// The selected best items first, in order (top is sorted); then, only if the
	// search asks for more, the rest, which all rank below the worst selected one.
	// Scores computed within a tolerance of the scan's are re-scored and re-ordered on
	// the way (see rescorer).
	var next func() (scored, bool)
	order := &scanOrder{top: top, all: h}
	if given {
		order.all = nil
		order.collect = func() []scored {
			entries := buf.heap[:0]
			for i, sc := range all() {
				if slot := uint32(i); live(slot) {
					entries = append(entries, scored{slot, sc})
				}
			}
			buf.heap = entries
			return entries
		}
		if pre == nil {
			// Lean scores whose Above held the best: the rest of Above next, and only
			// past those (every other entry scores below all of them: Above holds
			// every entry at or above its threshold) the scores computed again.
			above := opts.Scores.Above
			order.collect = func() []scored {
				entries := buf.heap[:0]
				for _, k := range above {
					if e := keyScored(k); live(e.slot) {
						entries = append(entries, e)
					}
				}
				buf.heap = entries
				return entries
			}
			order.more = func() []scored {
				low := float32(math.Inf(1))
				for _, k := range above {
					low = min(low, keyScored(k).score)
				}
				entries := buf.heap[:0]
				for i, sc := range all() {
					if slot := uint32(i); sc < low && live(slot) {
						entries = append(entries, scored{slot, sc})
					}
				}
				buf.heap = entries
				return entries
			}
		}
	}
	next = order.next
	if tol := scoreTolerance(opts.Scores); given && tol > 0 {
		rs := &rescorer{src: order, tol: tol, score: func(slot uint32) float32 {
			return vec.Dot(q, c.vectorAt(slot))
		}}
		next = rs.next
	}
	for {
		s, ok := next()
		if !ok {
			return st, nil
		}
		if more, err := emit(s); !more || err != nil {
			return st, err
		}
	}
}

// Resolve calls fn with a lookup function valid only during the call, under the
// collection's read lock, so that a caller can read several items consistently. The
// returned slices are read-only and must not be kept after fn returns.
func (c *Collection) Resolve(fn func(lookup engine.LookupFunc)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fn(func(id string) ([]float32, []string, bool) {
		slot, ok := c.slots[id]
		if !ok {
			return nil, nil, false
		}
		return c.vectorAt(slot), c.groups[slot], true
	})
}
