package mining

import (
	"context"

	"github.com/hardneg/hardneg/internal/index"
)

// Searcher is what mining needs from a collection. *index.Collection implements it.
type Searcher interface {
	// Dim returns the vector dimension.
	Dim() int
	// Metric returns the similarity metric; it sets the score range that policy
	// thresholds are checked against and the default near-duplicate threshold.
	Metric() index.Metric
	// PrepareQuery validates a raw vector and returns it ready for scoring.
	PrepareQuery(v []float32, field string) ([]float32, error)
	// Similarity scores two prepared vectors (higher is more similar).
	Similarity(a, b []float32) float32
	// Resolve gives consistent read access to stored items by id during fn.
	Resolve(fn func(lookup index.LookupFunc))
	// Search streams candidates best-first; see index.Collection.Search. It must call
	// Skip at most once per item and report each candidate's raw rank.
	Search(ctx context.Context, q []float32, opts index.SearchOptions, yield func(index.Candidate) bool) (index.SearchStats, error)
	// FalseNegatives returns the ids reported as false negatives for an anchor key (a
	// copy the caller may keep), or nil.
	FalseNegatives(key string) map[string]struct{}
}

// paramSearcher is implemented by searchers that expose their index parameters; mining
// uses the default ef to size the first search pass.
type paramSearcher interface {
	Params() index.Params
}

// exactScorer is implemented by searchers that can score several queries in one pass
// when they search exactly (see index.Collection.ScoreExact); mining then scores a
// request's anchors in groups instead of scanning once per anchor.
type exactScorer interface {
	ScoreExact(qs [][]float32, out []index.ExactScores) bool
}
