package mining

import (
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
