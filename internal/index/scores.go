package index

import "github.com/hardneg/hardneg/internal/index/vec"

// ExactScores hold one query's similarities to every slot of a collection, as an
// exact scan computes them, so that a search can order the items without reading the
// vectors again (see SearchOptions.Scores). The zero value holds nothing; reuse one
// across calls of ScoreExact to keep its buffer.
type ExactScores struct {
	gen    uint64    // the collection's vecGen when computed
	scores []float32 // slot → score; len is the slot count when computed
}

// current returns the scores if they still describe c's vectors, else nil. Caller
// holds c.mu.
func (e *ExactScores) current(c *Collection) []float32 {
	if e == nil || e.gen != c.vecGen || len(e.scores) != len(c.ids) || e.scores == nil {
		return nil
	}
	return e.scores
}

// scoreGroupRows is how many rows ScoreExact scores per pass of the L2 loop, so that
// they stay in cache while every query reads them.
const scoreGroupRows = 16

// ScoreExact scores several prepared queries against every slot in one pass over the
// vectors, when the collection is currently searched by an exact scan (below its
// ExactThreshold or without a graph), and reports whether it did. out[i] receives
// qs[i]'s scores; out must be at least as long as qs. Each score equals the one the
// exact scan would compute for that query bit for bit, so searching with
// SearchOptions.Scores = out[i] yields exactly what searching without it would.
//
// Reading each row once for many queries makes a batch of 16 queries several times
// cheaper per query than separate scans of a collection too big for the cache.
func (c *Collection) ScoreExact(qs [][]float32, out []ExactScores) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.useGraph() || len(out) < len(qs) {
		return false
	}
	n := len(c.ids)
	dst := make([][]float32, len(qs))
	for i := range qs {
		e := &out[i]
		if cap(e.scores) < n {
			e.scores = make([]float32, n)
		}
		e.scores = e.scores[:n]
		e.gen = c.vecGen
		dst[i] = e.scores
	}
	if len(qs) == 0 {
		return true
	}
	part := make([][]float32, len(qs))
	c.vectors.rows(n, func(first uint32, rows []float32, count int) {
		for i := range dst {
			part[i] = dst[i][first : int(first)+count]
		}
		if c.metric != L2 {
			vec.DotManyQExact(qs, rows, c.dim, part)
			return
		}
		// No multi-query L2 kernel: score a few rows against every query while they
		// are in cache, with the kernel of the single-query scan.
		for r := 0; r < count; r += scoreGroupRows {
			m := min(scoreGroupRows, count-r)
			block := rows[r*c.dim : (r+m)*c.dim]
			for i, q := range qs {
				scoreRows(L2, q, block, c.dim, m, part[i][r:r+m])
			}
		}
	})
	return true
}
