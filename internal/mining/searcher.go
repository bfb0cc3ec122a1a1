package mining

import (
	"context"

	"github.com/hardneg/hardneg/internal/engine"
)

// Searcher is what mining needs from a collection: a subset of engine.Collection, so
// that every engine's collections (the embedded *index.Collection among them) mine,
// and a test can wrap one.
type Searcher interface {
	// Dim returns the vector dimension.
	Dim() int
	// Metric returns the similarity metric; it sets the score range that policy
	// thresholds are checked against and the default near-duplicate threshold.
	Metric() engine.Metric
	// PrepareQuery validates a raw vector and returns it ready for scoring.
	PrepareQuery(v []float32, field string) ([]float32, error)
	// Similarity scores two prepared vectors (higher is more similar).
	Similarity(a, b []float32) float32
	// Resolve gives consistent read access to stored items by id during fn.
	Resolve(fn func(lookup engine.LookupFunc))
	// Search streams candidates best-first; see engine.Collection.Search. It must call
	// Skip at most once per item and report each candidate's raw rank.
	Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error)
	// FalseNegatives returns the ids reported as false negatives for an anchor key (a
	// copy the caller may keep), or nil.
	FalseNegatives(key string) map[string]struct{}
}

// paramSearcher is implemented by searchers that expose their index parameters; mining
// uses the default ef to size the first search pass.
type paramSearcher interface {
	Params() engine.Params
}

// leadMeasurer is implemented by searchers that measure how far past the rank window
// their graph's beam must reach for the window's items to be found (see
// index.Collection.FirstPassLead); 0 while nothing is measured. Mining's first pass
// reaches at least that far.
type leadMeasurer interface {
	FirstPassLead() (lead int, recall float64)
}

// exactScorer is implemented by searchers that can score several queries in one pass
// when they search exactly (see engine.Collection.ScoreExact); mining then scores a
// request's anchors in groups instead of scanning once per anchor.
type exactScorer interface {
	ScoreExact(qs [][]float32, out []engine.ExactScores) bool
}

// exactChecker is implemented by searchers that can tell without scoring whether they
// search exactly now; mining takes a score slot (scoreSlots) only for those that do.
type exactChecker interface {
	SearchesExactly() bool
}

// groupScanner is implemented by searchers that may score a group of anchors in one
// exact pass while single searches go through their graph (index.Collection.ScansGroups:
// a graph that needs a beam wide enough for the pass to cost each anchor less).
type groupScanner interface {
	ScansGroups(n int) bool
}

// skipFilterer is implemented by searchers that can leave ids and groups mining would
// skip out of the search itself (engine.SearchOptions.SkipIDs, SkipGroups): a remote
// engine puts them into its index's filter. Mining fills those lists only for them.
type skipFilterer interface {
	FiltersSkips() bool
}

// maxSkipIDs bounds the ids one search hands to a skipFilterer; Skip handles the rest.
const maxSkipIDs = 256

// skipLists returns the ids and groups the anchor's Skip rejects whatever the
// candidate's rank: its positives, exclusions and reported false negatives (at most
// maxSkipIDs ids, in that order), and its groups when the same-group rule is on. The
// anchor item itself is left to Skip, which must see it, and so are the other anchors'
// ids under in-batch exclusion: every anchor would otherwise hand the engine every
// other anchor's ids, and the engine reads each handed id to rank it.
func (m *anchorMiner) skipLists() (ids, groups []string) {
	if f, ok := m.s.(skipFilterer); !ok || !f.FiltersSkips() {
		return nil, nil
	}
	a := m.a
	add := func(id string) {
		if id != a.self && len(ids) < maxSkipIDs {
			ids = append(ids, id)
		}
	}
	for _, set := range []map[string]struct{}{a.positives, a.excluded, a.feedback} {
		for id := range set {
			add(id)
		}
	}
	if m.pol.ExcludeSameGroup {
		for g := range a.groups {
			groups = append(groups, g)
		}
	}
	return ids, groups
}

// Every engine's collection is a Searcher with the optional parameters and batched exact
// scoring.
var (
	_ Searcher      = engine.Collection(nil)
	_ paramSearcher = engine.Collection(nil)
	_ exactScorer   = engine.Collection(nil)
	_ VersionRanger = engine.Collection(nil)
)
