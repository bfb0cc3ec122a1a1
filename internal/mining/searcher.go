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

// exactScorer is implemented by searchers that can score several queries in one pass
// when they search exactly (see engine.Collection.ScoreExact); mining then scores a
// request's anchors in groups instead of scanning once per anchor.
type exactScorer interface {
	ScoreExact(qs [][]float32, out []engine.ExactScores) bool
}

// Every engine's collection is a Searcher with the optional parameters and batched exact
// scoring.
var (
	_ Searcher      = engine.Collection(nil)
	_ paramSearcher = engine.Collection(nil)
	_ exactScorer   = engine.Collection(nil)
	_ VersionRanger = engine.Collection(nil)
)
