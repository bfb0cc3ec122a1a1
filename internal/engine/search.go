package engine

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
	// Vector is the stored vector. Read-only and valid until Search returns (the
	// embedded engine holds the collection's read lock for the whole search); copy it
	// to keep it longer.
	Vector []float32
	// Version is the item's version stamp (the encoder version that produced it).
	Version int64
}

// SearchOptions steer a search.
type SearchOptions struct {
	// Ef is the candidate list size of the first graph pass; 0 means the collection's
	// EfSearch. Ignored by the exact scan.
	Ef int
	// EfStart, when > 0 and below Ef, lets the first graph pass start narrower: its
	// beam starts EfStart wide and widens, at most to Ef, as the caller reads, staying
	// Lead wider than what it has yielded, so a caller that stops early pays for the
	// narrow beam. An engine may ignore it and search at Ef.
	EfStart int
	// Lead is how much wider than what it has yielded a first pass that starts at
	// EfStart stays while it widens; 0 means the collection's EfSearch.
	Lead int
	// MaxCandidates bounds how many items the search orders (skipped ones included);
	// 0 means no bound.
	MaxCandidates int
	// NoWiden stops a graph search after its first pass instead of widening it and
	// falling back to an exact scan.
	NoWiden bool
	// Skip, when set, is called at most once per item per search; items for which it
	// returns true are not yielded (but still count towards Rank). It runs while the
	// collection's read lock is held and must not call methods of the collection.
	Skip func(slot uint32, id string, groups []string) bool
	// Depth, when > 0, is how many items the caller expects to need at most (mining's
	// hardness floor): graph passes beyond the first are sized to reach it and no wider,
	// so widening costs in proportion to it. Items past it are still produced while
	// yield asks.
	Depth int
	// SkipIDs, when set, are ids for which Skip returns true. An engine may leave them
	// out of its search (a remote engine filters them inside its index) but must still
	// present each stored one to Skip at its rank, so that ranks and rule counts do not
	// change. The embedded engine ignores it.
	SkipIDs []string
	// SkipGroups, when set, are groups whose items Skip rejects. An engine may leave
	// those items out of its search; they then take no rank and Skip does not see them.
	// The embedded engine ignores it.
	SkipGroups []string
	// Scores, when set, are the query's similarities to every slot computed by
	// ScoreExact; an exact scan uses them instead of scoring the rows when no vector
	// was written since, and scores the rows otherwise. They must be for this query.
	Scores *ExactScores
}

// SearchStats describe how a search ran.
type SearchStats struct {
	// Ordered is the number of items the search put in order (skipped ones included).
	Ordered int
	// Widenings counts graph passes beyond the first.
	Widenings int
	// Exact is true when the items were produced by an exact scan.
	Exact bool
	// Fallback is true when that exact scan followed graph passes: the graph search
	// ran out of width before the caller had what it asked for.
	Fallback bool
}

// LookupFunc resolves ids while a search holds the collection's lock; see Resolve.
type LookupFunc func(id string) (vector []float32, groups []string, ok bool)

// ExactScores hold one query's similarities to every slot of a collection, as an
// exact scan computes them, so that a search can order the items without reading the
// vectors again (see SearchOptions.Scores). The zero value holds nothing; reuse one
// across calls of ScoreExact to keep its buffer.
type ExactScores struct {
	// The fields belong to the engine that filled them (Collection.ScoreExact) and
	// read them back (SearchOptions.Scores); callers only keep and pass the value.

	// Gen identifies the state of the collection's vectors the scores were computed
	// for; an engine ignores scores whose Gen is not current.
	Gen uint64
	// Slots is the slot count when computed.
	Slots int
	// Scores maps slot → score (Slots long); empty when the engine kept only Above and
	// computes the rest again if a search needs them.
	Scores []float32
	// Tol bounds how far each score may be from the one the exact scan computes: 0
	// means they are the scan's scores bit for bit; above 0 (a float32 matrix product
	// summed in another order, or an int8 product of quantized vectors), a search
	// re-scores with the scan's kernel every item within reach of what it yields.
	Tol float64
	// Preselected reports that Above holds every slot whose score is at least a
	// threshold the engine chose, as the engine's sort keys in slot order, gathered
	// while the scores were computed, so that a search need not read all of Scores
	// again to find its best items.
	Preselected bool
	Above       []uint64

	// Want is set by the caller before ScoreExact: how many of the best items a search
	// with these scores is expected to order (a rank window's end, say); 0 means a few.
	// The engine keeps enough in Above for that depth, so a deep window does not make
	// each search score the whole collection again.
	Want int
}
