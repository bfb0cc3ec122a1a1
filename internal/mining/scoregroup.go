package mining

import (
	"context"
	"runtime"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/hardneg/hardneg/internal/engine"
)

// maxScoreGroup is the most anchors scored in one pass over an exactly searched
// collection. From 8 anchors on, a group is scored as one matrix product
// (engine.Collection.ScoreExact; int8 where the CPU has AVX-512 VNNI, else float32),
// which reads each row once for the whole group and runs near the CPU's arithmetic
// peak once the group fills a few of its register tiles: with the float32 product 64
// anchors cost about a third per anchor of what 16 did, and 128 another 10–14% less
// CPU than 64, as each row is read half as often (docs/BENCHMARKS.md).
// Each anchor of a group holds a score per slot (4 bytes) until the group is mined:
// 51.2 MB per group at 100,000 items, one group per core at a time in the whole
// process (scoreSlots), however many requests run at once.
const maxScoreGroup = 128

// minScanGroup is the fewest anchors a collection searched through its graph scores in
// one exact pass when its graph needs a wide beam (groupScanner): the fewest queries the
// index scores as a matrix product (index's gemmMinQueries).
const minScanGroup = 8

// scoreSlots bounds the score groups held at once across all requests to one per CPU
// (GOMAXPROCS when first used): concurrent Mine requests on exactly searched
// collections queue for the cores instead of each holding a group per core, which
// would multiply the score buffers' memory by the requests in flight.
var scoreSlots = sync.OnceValue(func() *semaphore.Weighted {
	return semaphore.NewWeighted(int64(runtime.GOMAXPROCS(0)))
})

// scorePool keeps score buffers across requests; each holds up to maxScoreGroup
// queries' scores.
var scorePool = sync.Pool{New: func() any {
	s := make([]engine.ExactScores, maxScoreGroup)
	return &s
}}

func getScores(n int) *[]engine.ExactScores {
	s := scorePool.Get().(*[]engine.ExactScores)
	*s = (*s)[:n]
	return s
}

func putScores(s *[]engine.ExactScores) {
	*s = (*s)[:cap(*s)]
	scorePool.Put(s)
}

// searchesExactly reports whether s may score a group exactly: false only for a
// searcher that says it does not (exactChecker).
func searchesExactly(s Searcher) bool {
	ec, ok := s.(exactChecker)
	return !ok || ec.SearchesExactly()
}

// scansGroups reports whether s would score a group of n anchors in one exact pass
// (searchesExactly, or a groupScanner that says so).
func scansGroups(s Searcher, n int) bool {
	if gs, ok := s.(groupScanner); ok {
		return gs.ScansGroups(n)
	}
	return searchesExactly(s)
}

// planGroups returns how many groups n anchors are mined in (groupBounds gives each
// its anchors) and whether each group is scored in one exact pass first (scoreAnchors):
//   - on a searcher that searches exactly, groups of up to maxScoreGroup anchors, one
//     per worker where that makes them smaller (par workers);
//   - on one that scores groups while single searches use its graph (groupScanner),
//     groups of minScanGroup to maxScoreGroup anchors, no more of them than workers
//     where that keeps them that large, and none smaller (a group of fewer would go
//     through the graph): n of 8 or more only;
//   - otherwise one anchor per group, through the graph.
func planGroups(s Searcher, n, par int) (groups int, batched bool) {
	if _, ok := s.(exactScorer); !ok || n == 0 {
		return n, false
	}
	if searchesExactly(s) {
		size := min(maxScoreGroup, (n+par-1)/par)
		return (n + size - 1) / size, true
	}
	if n >= minScanGroup {
		// At most n/minScanGroup groups, so that the smallest holds minScanGroup.
		g := max(min(par, n/minScanGroup), (n+maxScoreGroup-1)/maxScoreGroup)
		if scansGroups(s, n/g) {
			return g, true
		}
	}
	return n, false
}

// groupBounds returns the anchors [lo, hi) of group g of groups over n anchors: the
// groups' sizes differ by at most one.
func groupBounds(g, groups, n int) (lo, hi int) {
	return g * n / groups, (g + 1) * n / groups
}

// scoreAnchors scores a group of anchors in one exact pass when batched and the group
// holds more than one (scoreGroup), holding a score slot (scoreSlots) until release is
// called; scores is nil when the pass was not made (the searcher declined, or a write
// changed the collection's state), and each anchor is then searched on its own.
func scoreAnchors(ctx context.Context, s Searcher, batched bool, pol *Policy, anchors []prepared) (scores []engine.ExactScores, release func(), err error) {
	es, ok := s.(exactScorer)
	if !batched || !ok || len(anchors) < 2 {
		return nil, func() {}, nil
	}
	if err := scoreSlots().Acquire(ctx, 1); err != nil {
		return nil, nil, err
	}
	buf := getScores(len(anchors))
	release = func() {
		putScores(buf)
		scoreSlots().Release(1)
	}
	if scoreGroup(es, pol, anchors, *buf) {
		scores = *buf
	}
	return scores, release, nil
}

// scoreOf returns the exact scores of a group's anchor j, or nil when the group was not
// scored (scoreAnchors).
func scoreOf(scores []engine.ExactScores, j int) *engine.ExactScores {
	if scores == nil {
		return nil
	}
	return &scores[j]
}

// scoreGroup scores the queries of anchors together into out, and reports whether the
// searcher did (it declines when it does not search exactly). Each anchor's search is
// expected to order its rank window, its positives and itself (ExactScores.Want).
func scoreGroup(es exactScorer, pol *Policy, anchors []prepared, out []engine.ExactScores) bool {
	qs := make([][]float32, len(anchors))
	for i := range anchors {
		a := &anchors[i]
		qs[i] = a.query
		out[i].Want = pol.EffectiveRangeMax(a.numPositives) + a.shift + a.numPositives + 1
	}
	return es.ScoreExact(qs, out)
}
