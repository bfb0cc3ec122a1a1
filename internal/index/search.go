package index

import (
	"container/heap"
	"context"
	"sync"
)

// Candidate is one item produced by a search, in best-first order.
type Candidate struct {
	// Slot is the item's dense internal id, valid for the duration of the search.
	Slot uint32
	// ID is the item's id.
	ID string
	// Score is the similarity to the query (higher is more similar).
	Score float32
	// Rank is the 0-based position of the item among all items the search ordered,
	// skipped ones included.
	Rank int
	// Groups are the item's groups. Read-only.
	Groups []string
	// Vector is the stored vector. Read-only and valid only during the yield call;
	// copy it to keep it.
	Vector []float32
}

// SearchOptions steer a search.
type SearchOptions struct {
	// Ef is the candidate list size of the first graph pass; 0 means the collection's
	// EfSearch. Ignored by the exact scan.
	Ef int
	// MaxCandidates bounds how many items the search orders (skipped ones included);
	// 0 means no bound.
	MaxCandidates int
	// Skip, when set, is called at most once per item per search; items for which it
	// returns true are not yielded (but still count towards Rank). It runs while the
	// collection's read lock is held and must not call methods of the collection.
	Skip func(slot uint32, id string, groups []string) bool
}

// SearchStats describe how a search ran.
type SearchStats struct {
	// Ordered is the number of items the search put in order (skipped ones included).
	Ordered int
	// Widenings counts graph passes beyond the first.
	Widenings int
	// Exact is true when the items were produced by an exact scan.
	Exact bool
}

// Search produces the collection's items best-first for the prepared query q (see
// PrepareQuery), calling yield for each until yield returns false, the items run out,
// or opts.MaxCandidates items were ordered. The collection's read lock is held for the
// whole search: yield must not call methods of the collection.
func (c *Collection) Search(ctx context.Context, q []float32, opts SearchOptions, yield func(Candidate) bool) (SearchStats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.exactSearch(ctx, q, opts, yield)
}

// scored is one (slot, score) pair of an exact scan.
type scored struct {
	slot  uint32
	score float32
}

// scoreHeap is a max-heap on score, ties broken by lower slot.
type scoreHeap []scored

func (h scoreHeap) Len() int { return len(h) }
func (h scoreHeap) Less(i, j int) bool {
	if h[i].score != h[j].score {
		return h[i].score > h[j].score
	}
	return h[i].slot < h[j].slot
}
func (h scoreHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *scoreHeap) Push(x any)   { *h = append(*h, x.(scored)) }
func (h *scoreHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

var scoredPool = sync.Pool{New: func() any { s := make(scoreHeap, 0, 1024); return &s }}

// ctxCheckEvery is how many yielded items pass between context checks.
const ctxCheckEvery = 256

// exactSearch scores every live item and yields them best-first. Caller holds mu.
func (c *Collection) exactSearch(ctx context.Context, q []float32, opts SearchOptions, yield func(Candidate) bool) (SearchStats, error) {
	st := SearchStats{Exact: true}
	hp := scoredPool.Get().(*scoreHeap)
	defer scoredPool.Put(hp)
	h := (*hp)[:0]
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		h = append(h, scored{uint32(slot), similarity(c.metric, q, c.vectorAt(uint32(slot)))})
	}
	*hp = h
	if err := ctx.Err(); err != nil {
		return st, err
	}
	heap.Init(hp)
	for hp.Len() > 0 {
		if opts.MaxCandidates > 0 && st.Ordered >= opts.MaxCandidates {
			break
		}
		if st.Ordered%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		s := heap.Pop(hp).(scored)
		rank := st.Ordered
		st.Ordered++
		id := c.ids[s.slot]
		groups := c.groups[s.slot]
		if opts.Skip != nil && opts.Skip(s.slot, id, groups) {
			continue
		}
		if !yield(Candidate{Slot: s.slot, ID: id, Score: s.score, Rank: rank, Groups: groups, Vector: c.vectorAt(s.slot)}) {
			break
		}
	}
	return st, nil
}

// LookupFunc resolves ids while a search holds the collection's lock; see Resolve.
type LookupFunc func(id string) (vector []float32, groups []string, ok bool)

// Resolve calls fn with a lookup function valid only during the call, under the
// collection's read lock, so that a caller can read several items consistently. The
// returned slices are read-only and must not be kept after fn returns.
func (c *Collection) Resolve(fn func(lookup LookupFunc)) {
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
