package index

import (
	"slices"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/hugepage"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// currentScores reports whether e still describes c's vectors, and returns its scores
// (nil when it kept only the best ones, Above: see scoreLean). Caller holds c.mu.
func currentScores(e *engine.ExactScores, c *Collection) ([]float32, bool) {
	if e == nil || e.Gen != c.vecGen || e.Slots != len(c.ids) {
		return nil, false
	}
	if len(e.Scores) == 0 {
		return nil, e.Preselected
	}
	return e.Scores, len(e.Scores) == e.Slots
}

// scoreStride is the floats each query's scores take in a slab (scoreSlab): n rounded
// up to whole 4 KiB pages, a little room for the collection to grow into.
func scoreStride(n int) int { return (n + 1023) &^ 1023 }

// scoreSlab returns one array for the scores of every entry of out whose buffer holds
// fewer than n: a group of anchors at 100,000 items needs 400 KB each, 51 MB for 128,
// and as one array advised for huge pages (hugepage.Make) the kernel faults it in 2 MiB
// at a time instead of 4 KiB, which on a virtual machine is most of what first writing
// fresh memory costs.
func scoreSlab(out []engine.ExactScores, n int) []float32 {
	need := 0
	for i := range out {
		if cap(out[i].Scores) < n {
			need++
		}
	}
	return hugepage.Make[float32](need * scoreStride(n))
}

// scoreTolerance returns e's Tol, 0 for nil.
func scoreTolerance(e *engine.ExactScores) float64 {
	if e == nil {
		return 0
	}
	return e.Tol
}

// scoreGroupRows is how many rows ScoreExact scores per pass of the L2 loop, so that
// they stay in cache while every query reads them.
const scoreGroupRows = 16

// exactProduct is how ScoreExact computes its first product of gemmMinQueries or more
// queries under cosine and dot.
type exactProduct int

const (
	// productAuto uses productInt8 where vec.Int8Fast (AVX-512 VNNI), else productFP32.
	productAuto exactProduct = iota
	// productFP32 is the float32 matrix product (vec.Queries.DotRows).
	productFP32
	// productInt8 quantizes queries and rows to int8 (vec.Int8Queries.DotRows).
	productInt8
)

// scoreProduct selects ScoreExact's first product; tests set it to run each one.
var scoreProduct = productAuto

// gemmMinQueries is the fewest queries ScoreExact scores as a matrix product; fewer are
// scored in Dot's order (vec.DotManyQExact), where a product's register tile would
// mostly hold padding.
const gemmMinQueries = 8

// SearchesExactly reports whether searches scan the collection exactly now (ScoreExact
// would score), not through the graph.
func (c *Collection) SearchesExactly() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.useGraph()
}

// ScansGroups reports whether a group of n anchors would be scored in one exact pass
// (ScoreExact) now: the collection is searched exactly, or n is at least
// gemmMinQueries and its graph needs a lead at which such a pass costs each anchor less
// than the graph (leadProbe.scanBatch).
func (c *Collection) ScansGroups(n int) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.scansGroup(n)
}

// scansGroup is ScansGroups. Caller holds mu.
func (c *Collection) scansGroup(n int) bool {
	return !c.useGraph() || (n >= gemmMinQueries && c.graphReady() && c.probe.scanBatch.Load())
}

// ScoreExact scores several prepared queries against every slot in one pass over the
// vectors, when the collection is currently searched by an exact scan (below its
// ExactThreshold or without a graph), or when there are enough queries for a pass to
// cost each less than its graph (ScansGroups), and reports whether it did. A search
// given the scores (SearchOptions.Scores) scans them instead of the graph. out[i] receives
// qs[i]'s scores; out must be at least as long as qs. Searching with
// SearchOptions.Scores = out[i] yields exactly what searching without it would: the
// same items in the same order with the same scores, bit for bit.
//
// Under cosine and dot, gemmMinQueries or more queries are scored as one matrix
// product whose scores may differ from the scan's Dot by at most a tolerance
// (ExactScores.Tol): on a CPU with AVX-512 VNNI or AMX an int8 product (queries and rows
// quantized to int8 with one scale each, exact integer sums; the rows' codes are kept
// per storage chunk once enough queries were scored against it since its last write,
// see vectorStore, until then it takes the float32 product; Tol is the larger of
// vec.Int8Queries.ErrorBound and, when a chunk took it, vec.GEMMErrorBound), else a
// float32 one (vec.Queries.DotRows, summed in another order than Dot, Tol is
// vec.GEMMErrorBound). The search then re-scores with Dot every item it yields, and
// before yielding one makes sure that no item it has not re-scored can beat it:
// ordering, ties (broken by slot) and every score a mining rule compares are Dot's.
// The int8 product reads a quarter of the bytes and multiplies four times as many
// pairs per instruction; its larger Tol makes the search re-score more items. Under L2,
// and for fewer queries, the scores are the scan's own.
//
// Past preselectMin slots the int8 product also lists each query's scores above a
// threshold taken from every preselectStride-th slot beforehand (ExactScores.Above),
// which is where a search finds its best items; once every chunk is quantized only
// those are kept (scoreLean).
//
// Reading each row once for many queries makes a batch of queries many times cheaper
// per query than separate scans of a collection too big for the cache.
func (c *Collection) ScoreExact(qs [][]float32, out []engine.ExactScores) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.scansGroup(len(qs)) || len(out) < len(qs) {
		return false
	}
	n := len(c.ids)
	product := c.exactProduct(qs, n)
	if product == productInt8 && c.scoreLean(qs, out, n) {
		return true
	}
	dst := make([][]float32, len(qs))
	var slab []float32
	for i := range qs {
		e := &out[i]
		if cap(e.Scores) < n {
			if slab == nil {
				slab = scoreSlab(out[i:len(qs)], n)
			}
			e.Scores, slab = slab[:n:scoreStride(n)], slab[scoreStride(n):]
		}
		e.Scores = e.Scores[:n]
		e.Slots = n
		e.Gen = c.vecGen
		e.Tol = 0
		e.Preselected, e.Above = false, e.Above[:0]
		dst[i] = e.Scores
	}
	if len(qs) == 0 {
		return true
	}
	part := make([][]float32, len(qs))
	if c.metric != engine.L2 && len(qs) >= gemmMinQueries && product == productInt8 {
		// Chunks without current int8 rows (see vectorStore) take the float32 product;
		// each query's Tol is the larger of the two bounds.
		p := vec.PackInt8Queries(qs, c.dim)
		thr, pres := c.preselect(p, out, len(qs), n)
		var idx []uint32
		var packed *vec.Queries
		var rnorm, rerr, rmax float64
		c.vectors.int8Rows(n, len(qs), func(first uint32, rows []float32, codes *vec.Int8Rows, count int) {
			for i := range dst {
				part[i] = dst[i][first : int(first)+count]
			}
			if codes == nil {
				if packed == nil {
					packed = vec.PackQueries(qs, c.dim)
				}
				packed.DotRows(rows, part)
				rmax = max(rmax, vec.MaxNorm(rows, c.dim))
			} else {
				p.DotRows(codes.Head(count), part)
				rnorm = max(rnorm, codes.MaxNorm())
				rerr = max(rerr, codes.MaxErr())
			}
			// The scores above each query's threshold, while this chunk's are in cache.
			for i, ok := range pres {
				if ok {
					out[i].Above, idx = appendAbove(out[i].Above, part[i], thr[i], first, idx)
				}
			}
		})
		for i, ok := range pres {
			out[i].Preselected = ok
		}
		for i, q := range qs {
			out[i].Tol = p.ErrorBound(i, rnorm, rerr)
			if packed != nil {
				out[i].Tol = max(out[i].Tol, vec.GEMMErrorBound(c.dim, vec.Norm(q), rmax))
			}
		}
		return true
	}
	var packed *vec.Queries
	if c.metric != engine.L2 && len(qs) >= gemmMinQueries {
		packed = vec.PackQueries(qs, c.dim)
	}
	var rmax float64
	c.vectors.rows(n, func(first uint32, rows []float32, count int) {
		for i := range dst {
			part[i] = dst[i][first : int(first)+count]
		}
		switch {
		case packed != nil:
			packed.DotRows(rows, part)
			rmax = max(rmax, vec.MaxNorm(rows, c.dim))
		case c.metric != engine.L2:
			vec.DotManyQExact(qs, rows, c.dim, part)
		default:
			// No multi-query L2 kernel: score a few rows against every query while
			// they are in cache, with the kernel of the single-query scan.
			for r := 0; r < count; r += scoreGroupRows {
				m := min(scoreGroupRows, count-r)
				block := rows[r*c.dim : (r+m)*c.dim]
				for i, q := range qs {
					scoreRows(engine.L2, q, block, c.dim, m, part[i][r:r+m])
				}
			}
		}
	})
	if packed != nil {
		for i, q := range qs {
			out[i].Tol = vec.GEMMErrorBound(c.dim, vec.Norm(q), rmax)
		}
	}
	return true
}

// scanOrder produces an exact scan's entries best-first: the selected best ones
// (top, sorted), then the others (all minus top) through a heap built only when asked.
type scanOrder struct {
	top []scored
	// all holds every entry; when it is nil, collect returns them on first need.
	all     []scored
	collect func() []scored
	// more, when set, returns further entries once the others run out, each worse than
	// every entry of all; it is called at most once (lean scores: all is Above).
	more func() []scored
	i    int      // next entry of top
	rest bestHeap // the others, once built
	init bool     // rest built
}

// peek returns the next entry without taking it.
func (o *scanOrder) peek() (scored, bool) {
	if o.i < len(o.top) {
		return o.top[o.i], true
	}
	if !o.init {
		o.init = true
		if o.all == nil && o.collect != nil && len(o.top) > 0 {
			o.all = o.collect()
		}
		if len(o.all) > len(o.top) && len(o.top) > 0 {
			worst := o.top[len(o.top)-1]
			rest := o.all[:0]
			for _, e := range o.all {
				if better(worst, e) {
					rest = append(rest, e)
				}
			}
			o.rest = rest
			o.rest.init()
		}
	}
	if len(o.rest) == 0 && o.more != nil && len(o.top) > 0 {
		more := o.more
		o.more = nil
		o.rest = more()
		o.rest.init()
	}
	if len(o.rest) > 0 {
		return o.rest[0], true
	}
	return scored{}, false
}

// next takes the next entry.
func (o *scanOrder) next() (scored, bool) {
	e, ok := o.peek()
	if !ok {
		return e, false
	}
	if o.i < len(o.top) {
		o.i++
	} else {
		o.rest.pop()
	}
	return e, true
}

// rescorer turns entries whose scores are within tol of the scan's (from src, best
// first by those scores) into entries with the scan's own scores in the scan's order.
// An entry is re-scored when src reaches it and held in ready; the best of ready is
// released once its score is above the next src entry's score plus tol, for then
// nothing src still holds can score as high (and so none can tie and win on slot).
// Every released entry carries score's result; entries are re-scored only when they
// are released or lie within 2·tol of one that is.
type rescorer struct {
	src   *scanOrder
	tol   float64
	score func(slot uint32) float32
	ready bestHeap
}

func (r *rescorer) next() (scored, bool) {
	for {
		e, ok := r.src.peek()
		if len(r.ready) > 0 && (!ok || float64(r.ready[0].score) > float64(e.score)+r.tol) {
			return r.ready.pop(), true
		}
		if !ok {
			return scored{}, false
		}
		r.src.next()
		r.ready.push(scored{e.slot, r.score(e.slot)})
	}
}

// push adds e to the heap.
func (h *bestHeap) push(e scored) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !better(s[i], s[p]) {
			return
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// preselect returns, for the queries packed in p, a threshold taken from the scores of
// every preselectStride-th slot below n, computed beforehand on those slots alone with
// the same product (so the same scores, bit for bit, for every slot whose chunk takes
// the int8 product), and whether each query has one: ScoreExact then lists the scores
// that reach it while it computes them (ExactScores.Above), and a search does not read
// its query's n scores twice more to find them. Collections of fewer than preselectMin
// slots get none. Caller holds c.mu (read).
//
// The threshold is the sample's preselectRank-th best (about the 768th best item), or
// for a query whose search wants more (ExactScores.Want) a rank of the sample that
// stands for over twice that many items. The search re-scores every item within twice the
// int8 product's error bound of what it yields, and an Above that ends inside that band
// makes it score the whole collection again: the threshold is lowered to the score the
// sample puts at the wanted depth less twice the bound (as the sample's codes give it),
// but never below the sample's preselectMaxRank-th best. On 100,000 random 384-d
// vectors the bound is 0.02 where the 200th and the 2,000th best differ by 0.04: a rank
// window of 200 sampled at random scored the collection again for every anchor, 11
// times the CPU of a window of 50 (BenchmarkMineExactJob).
func (c *Collection) preselect(p *vec.Int8Queries, out []engine.ExactScores, nq, n int) ([]float32, []bool) {
	if n < preselectMin {
		return nil, nil
	}
	rows, sample := c.sampleScores(p, nq, n)
	thr, ok := make([]float32, nq), make([]bool, nq)
	for i, xs := range sample {
		// A sampled rank stands for about preselectStride times as many items, give or
		// take a relative 1/√rank: the ranks taken are a few past the expected ones.
		want := (out[i].Want + preselectStride - 1) / preselectStride
		rank := max(preselectRank, 2*want+8)
		if thr[i], ok[i] = sampleRank(xs, 1, rank); !ok[i] {
			continue
		}
		at, _ := sampleRank(xs, 1, want+2)
		low := at - float32(2*p.ErrorBound(i, rows.MaxNorm(), rows.MaxErr()))
		if low >= thr[i] {
			continue // the band ends above the threshold (a shallow window)
		}
		reach := 0 // sampled scores that reach low
		for _, x := range xs {
			if x >= low {
				reach++
			}
		}
		if limit := max(rank, preselectMaxRank); reach > limit {
			low, _ = sampleRank(xs, 1, limit)
		}
		thr[i] = low
	}
	return thr, ok
}

// preselectMaxRank bounds how deep preselect lowers a threshold: the sample's 128th
// best stands for about the 8,192nd best item.
const preselectMaxRank = 128

// sampleScores returns preselect's sampled rows (preselectSample) and the int8 product
// of the first nq queries of p with them. Caller holds c.mu (read).
func (c *Collection) sampleScores(p *vec.Int8Queries, nq, n int) (*vec.Int8Rows, [][]float32) {
	rows := c.preselectSample(n)
	sample := make([][]float32, nq)
	flat := make([]float32, nq*rows.Len())
	for i := range sample {
		sample[i] = flat[i*rows.Len() : (i+1)*rows.Len()]
	}
	p.DotRows(rows, sample)
	return rows, sample
}

// sampleRows are the int8 codes of every preselectStride-th slot below n, for the
// vectors of generation gen (Collection.vecGen).
type sampleRows struct {
	gen  uint64
	n    int
	rows *vec.Int8Rows
}

// preselectSample returns the int8 codes of every preselectStride-th slot below n,
// quantized from their vectors as a chunk's codes are (a row's codes depend on it
// alone), kept until the vectors or n change. Caller holds c.mu (read); concurrent
// callers may each build it.
func (c *Collection) preselectSample(n int) *vec.Int8Rows {
	if s := c.sample.Load(); s != nil && s.gen == c.vecGen && s.n == n {
		return s.rows
	}
	m := (n + preselectStride - 1) / preselectStride
	buf := make([]float32, m*c.dim)
	for k := range m {
		copy(buf[k*c.dim:(k+1)*c.dim], c.vectorAt(uint32(k*preselectStride)))
	}
	rows := vec.QuantizeRows(buf, c.dim)
	c.sample.Store(&sampleRows{gen: c.vecGen, n: n, rows: rows})
	return rows
}

// appendAbove appends to keys the sort keys (scoredKey) of the entries of scores (slot
// first+i scoring scores[i]) that are at least thr, in slot order; idx is scratch space,
// returned for reuse.
func appendAbove(keys []uint64, scores []float32, thr float32, first uint32, idx []uint32) ([]uint64, []uint32) {
	idx = vec.AtLeast(scores, thr, idx[:0])
	for _, i := range idx {
		keys = append(keys, scoredKey(scored{first + i, scores[i]}))
	}
	return keys, idx
}

// looseShare: the int8 product is too coarse for a query when more than 1/looseShare
// of the sampled slots score within twice its error bound of the best sampled score.
// The search re-scores with Dot every item within about that distance of what it
// yields, so on such data it re-scores a large share of the collection one item at a
// time: on 8,192 vectors in one tight cluster (cosines of 0.9999 between them), 16
// queries read 20 items each in 24–26 ms after the int8 product and 0.8–1.7 ms after the
// float32 one (TestScoreExactTightClusterTakesTheFloatProduct logs both).
const looseShare = 20

// looseQueries is how many of a group's queries int8Loose scores against the sample.
const looseQueries = 16

// exactProduct is the matrix product ScoreExact uses for qs over the first n slots:
// scoreProduct, where productAuto means int8 where vec.Int8Fast and the int8 product can
// tell these queries' best items apart (int8Loose), else float32. Caller holds c.mu
// (read).
func (c *Collection) exactProduct(qs [][]float32, n int) exactProduct {
	if scoreProduct != productAuto {
		return scoreProduct
	}
	if !vec.Int8Fast() || c.int8Loose(qs, n) {
		return productFP32
	}
	return productInt8
}

// int8Loose reports whether, for most of qs, the int8 product cannot tell the best
// items from a large share of the others (looseShare), judged on the sampled slots of
// preselect (for up to looseQueries of them) and the error bound of the collection's
// codes; false where ScoreExact takes no int8 product (L2, fewer than gemmMinQueries
// queries) or the collection holds fewer than preselectMin slots.
// Caller holds c.mu (read).
func (c *Collection) int8Loose(qs [][]float32, n int) bool {
	if c.metric == engine.L2 || len(qs) < gemmMinQueries || n < preselectMin {
		return false
	}
	qs = qs[:min(len(qs), looseQueries)] // enough to judge "most"
	p := vec.PackInt8Queries(qs, c.dim)
	rows, sample := c.sampleScores(p, len(qs), n)
	// The bound the product will carry: from the rows of every coded chunk, not only
	// the sampled ones (a few rows of large norm widen it for every query).
	cn, ce := c.vectors.codeBounds(n)
	rnorm, rerr := max(rows.MaxNorm(), cn), max(rows.MaxErr(), ce)
	loose := 0
	for i, xs := range sample {
		floor := float64(slices.Max(xs)) - 2*p.ErrorBound(i, rnorm, rerr)
		near := 0
		for _, x := range xs {
			if float64(x) >= floor {
				near++
			}
		}
		if near*looseShare > len(xs) {
			loose++
		}
	}
	return 2*loose > len(qs)
}

// scoreLean is ScoreExact's int8 product for a collection of preselectMin slots or more
// whose chunks all hold int8 codes, or are due to be quantized by this call (codedFor): it keeps of each query's scores only those that
// reach the query's sampled threshold (ExactScores.Above, Scores empty), as the
// product computes them (vec.Int8Queries.DotRowsAbove), instead of writing every score
// to memory and reading it back. A search that needs more than Above gives recomputes its query's
// scores (int8Scores): the same product of the same codes, bit for bit, as long as the
// vectors are those of Gen, and while they are no chunk loses its codes. It reports
// false, and does nothing, where it does not apply. Caller holds c.mu (read).
func (c *Collection) scoreLean(qs [][]float32, out []engine.ExactScores, n int) bool {
	if c.metric == engine.L2 || len(qs) < gemmMinQueries || n < preselectMin || !c.vectors.codedFor(n, len(qs)) {
		return false
	}
	p := vec.PackInt8Queries(qs, c.dim)
	thr, pres := c.preselect(p, out, len(qs), n)
	for _, ok := range pres {
		if !ok {
			return false
		}
	}
	for i := range qs {
		e := &out[i]
		e.Scores, e.Slots, e.Gen = e.Scores[:0], n, c.vecGen
		e.Preselected, e.Above = true, e.Above[:0]
	}
	idx, sc := make([][]uint32, len(qs)), make([][]float32, len(qs))
	var rnorm, rerr float64
	c.vectors.int8Rows(n, len(qs), func(first uint32, rows []float32, codes *vec.Int8Rows, count int) {
		for i := range idx {
			idx[i], sc[i] = idx[i][:0], sc[i][:0]
		}
		if codes == nil {
			// Not expected (codedFor); the same codes as the chunk would keep.
			codes = vec.QuantizeRows(rows, c.dim)
		}
		idx, sc = p.DotRowsAbove(codes.Head(count), thr, idx, sc)
		rnorm = max(rnorm, codes.MaxNorm())
		rerr = max(rerr, codes.MaxErr())
		for i := range idx {
			for k, r := range idx[i] {
				out[i].Above = append(out[i].Above, scoredKey(scored{first + r, sc[i][k]}))
			}
		}
	})
	for i := range qs {
		out[i].Tol = p.ErrorBound(i, rnorm, rerr)
	}
	return true
}

// int8Scores writes q's int8 product with every slot below n into dst (grown as needed)
// and returns it: for a search given lean scores (scoreLean) that needs more than
// their best ones. Every chunk holds its codes (see scoreLean). Caller holds c.mu.
func (c *Collection) int8Scores(q []float32, n int, dst []float32) []float32 {
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	p := vec.PackInt8Queries([][]float32{q}, c.dim)
	part := make([][]float32, 1)
	c.vectors.int8Rows(n, 0, func(first uint32, rows []float32, codes *vec.Int8Rows, count int) {
		part[0] = dst[first : int(first)+count]
		if codes == nil {
			// Not expected (see scoreLean); a row's codes are a function of the row, so
			// quantizing it again gives the product the scores came from.
			codes = vec.QuantizeRows(rows, c.dim)
		}
		p.DotRows(codes.Head(count), part)
	})
	return dst
}
