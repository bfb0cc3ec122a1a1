package mining

import "runtime"

// parallelism is how many anchors are mined at once: one per CPU, or more when the
// searcher waits on the network (concurrentSearcher).
func parallelism(s Searcher) int {
	p := runtime.GOMAXPROCS(0)
	if cs, ok := s.(concurrentSearcher); ok {
		p = max(p, cs.SearchConcurrency())
	}
	return p
}

// concurrentSearcher is implemented by searchers whose searches mostly wait on a remote
// engine, so that more anchors than CPUs are worth mining at once.
type concurrentSearcher interface {
	SearchConcurrency() int
}
