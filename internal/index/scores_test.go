package index

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// sameAsScan checks that searches of q given scores yield exactly what plain exact
// searches yield, in full and cut at each of maxes candidates.
func sameAsScan(t *testing.T, c *Collection, q []float32, scores *engine.ExactScores, maxes ...int) {
	t.Helper()
	for _, max := range append([]int{0}, maxes...) {
		want, _ := searchAll(t, c, q, engine.SearchOptions{MaxCandidates: max})
		got, _ := searchAll(t, c, q, engine.SearchOptions{MaxCandidates: max, Scores: scores})
		sameCandidates(t, got, want)
	}
}

// preparedQueries returns nq queries of c, each filled by fill and prepared.
func preparedQueries(tb testing.TB, c *Collection, nq int, fill func([]float32)) [][]float32 {
	tb.Helper()
	qs := make([][]float32, nq)
	for i := range qs {
		raw := make([]float32, c.dim)
		fill(raw)
		q, err := c.PrepareQuery(raw, "q")
		if err != nil {
			tb.Fatal(err)
		}
		qs[i] = q
	}
	return qs
}

// gaussian fills a vector with standard normal components drawn from r.
func gaussian(r *rand.Rand) func([]float32) {
	return func(v []float32) {
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
	}
}

// searchAll returns every candidate a search yields, in order.
func searchAll(t *testing.T, c *Collection, q []float32, opts engine.SearchOptions) ([]engine.Candidate, engine.SearchStats) {
	t.Helper()
	var out []engine.Candidate
	st, err := c.Search(context.Background(), q, opts, func(cd engine.Candidate) bool {
		cd.Vector = nil
		out = append(out, cd)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func sameCandidates(t *testing.T, got, want []engine.Candidate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d candidates, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Slot != w.Slot || g.ID != w.ID || g.Score != w.Score || g.Rank != w.Rank {
			t.Fatalf("candidate %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestScoreExactMatchesSearch checks that searches given ScoreExact's scores yield
// exactly what plain exact searches yield, and that scores made stale by a write are
// recomputed rather than used.
func TestScoreExactMatchesSearch(t *testing.T) {
	for _, m := range []engine.Metric{engine.Cosine, engine.Dot, engine.L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			const dim = 37
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: m, Params: engine.Params{ExactThreshold: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, uint64(m)))
			if _, err := db.Upsert("c", randBatch(r, "a", 2500, dim), "items"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Delete("c", []string{"a5", "a1500"}, "ids"); err != nil {
				t.Fatal(err)
			}
			qs := preparedQueries(t, c, 6, func(v []float32) { copy(v, randBatch(r, "q", 1, dim).Vectors) })
			scores := make([]engine.ExactScores, len(qs))
			if !c.ScoreExact(qs, scores) {
				t.Fatal("ScoreExact declined an exact collection")
			}
			for i, q := range qs {
				want, _ := searchAll(t, c, q, engine.SearchOptions{})
				got, st := searchAll(t, c, q, engine.SearchOptions{Scores: &scores[i]})
				if !st.Exact {
					t.Fatal("search was not exact")
				}
				sameCandidates(t, got, want)
				if len(got) != 2498 {
					t.Fatalf("search ordered %d items, want the 2,498 live ones", len(got))
				}
				for _, cand := range got {
					if cand.ID == "a5" || cand.ID == "a1500" {
						t.Fatalf("deleted item %s came back", cand.ID)
					}
				}
			}
			// A replaced item reuses the freed slot with a new vector: stale scores
			// must not be used.
			if _, err := db.Upsert("c", randBatch(r, "a", 1, dim), "items"); err != nil {
				t.Fatal(err)
			}
			for i, q := range qs {
				if _, ok := currentScores(&scores[i], c); ok {
					t.Fatal("scores still current after a write")
				}
				want, _ := searchAll(t, c, q, engine.SearchOptions{})
				got, _ := searchAll(t, c, q, engine.SearchOptions{Scores: &scores[i]})
				sameCandidates(t, got, want)
			}
		})
	}
}

// TestScoreExactBuffers checks the score buffers ScoreExact gives a group: one per
// query, none overlapping another, kept while the collection grows within them, made
// anew (only for the entries too short) once it outgrows them, and every one of them
// yielding the search's own results.
func TestScoreExactBuffers(t *testing.T) {
	db := testDB(t)
	const dim = 16
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	qs := make([][]float32, 9)
	for i := range qs {
		if qs[i], err = c.PrepareQuery(randBatch(r, "q", 1, dim).Vectors, "q"); err != nil {
			t.Fatal(err)
		}
	}
	scores := make([]engine.ExactScores, len(qs))
	check := func(n int) {
		t.Helper()
		if !c.ScoreExact(qs, scores) {
			t.Fatal("ScoreExact declined an exact collection")
		}
		for i := range scores {
			s := scores[i].Scores
			if len(s) != n {
				t.Fatalf("query %d: %d scores for %d items", i, len(s), n)
			}
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
			for j := range scores {
				o := scores[j].Scores[:cap(scores[j].Scores)]
				olo := uintptr(unsafe.Pointer(unsafe.SliceData(o)))
				if j != i && lo < olo+uintptr(len(o))*4 && olo < lo+uintptr(cap(s))*4 {
					t.Fatalf("the buffers of queries %d and %d overlap", i, j)
				}
			}
			want, _ := searchAll(t, c, qs[i], engine.SearchOptions{})
			got, _ := searchAll(t, c, qs[i], engine.SearchOptions{Scores: &scores[i]})
			sameCandidates(t, got, want)
		}
	}
	upsert := func(prefix string, n int) {
		t.Helper()
		if _, err := db.Upsert("c", randBatch(r, prefix, n, dim), "items"); err != nil {
			t.Fatal(err)
		}
	}
	upsert("a", 2500)
	check(2500)
	first := unsafe.SliceData(scores[3].Scores)
	upsert("b", 100) // 2,600 items: within the buffers' room (scoreStride)
	check(2600)
	if unsafe.SliceData(scores[3].Scores) != first {
		t.Fatal("a buffer with room for the grown collection was made anew")
	}
	own := make([]float32, 8192)
	scores[0].Scores = own
	upsert("c", 1000) // 3,600: past the room; query 0 brings a buffer large enough
	check(3600)
	if unsafe.SliceData(scores[0].Scores) != unsafe.SliceData(own) {
		t.Fatal("a buffer large enough was replaced")
	}
	if unsafe.SliceData(scores[3].Scores) == first {
		t.Fatal("a buffer too short for the collection was kept")
	}
}

// TestScoreExactDeclinesGraphSearch checks that a collection searched through its
// graph is not scored exactly.
func TestScoreExactDeclinesGraphSearch(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: 8, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 100}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	if _, err := db.Upsert("c", randBatch(r, "a", 300, 8), "items"); err != nil {
		t.Fatal(err)
	}
	c.wait()
	if !c.Stats().GraphSearch {
		t.Fatal("collection above its threshold not searched through the graph")
	}
	q, err := c.PrepareQuery(randBatch(r, "q", 1, 8).Vectors, "q")
	if err != nil {
		t.Fatal(err)
	}
	if c.ScoreExact([][]float32{q}, make([]engine.ExactScores, 1)) {
		t.Fatal("ScoreExact scored a collection searched through its graph")
	}
}

// A collection whose graph needs a beam wide enough for one exact pass to cost a group
// of anchors less (leadProbe.scanBatch) scores groups of gemmMinQueries or more, and a
// search given those scores scans exactly: the same items, order and scores as an
// exact collection's. Single anchors and smaller groups keep the graph.
func TestScoreExactGroupsWhereTheGraphNeedsAWideBeam(t *testing.T) {
	db := testDB(t)
	const dim = 8
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 100}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 6))
	if _, err := db.Upsert("c", randBatch(r, "a", 600, dim), "items"); err != nil {
		t.Fatal(err)
	}
	c.wait()
	qs := preparedQueries(t, c, gemmMinQueries, func(v []float32) { copy(v, randBatch(r, "q", 1, dim).Vectors) })
	scores := make([]engine.ExactScores, len(qs))
	if c.ScansGroups(len(qs)) || c.ScoreExact(qs, scores) {
		t.Fatal("a group scored exactly on a graph that needs no wide beam")
	}
	c.probe.scanBatch.Store(true) // as a measurement of a lead of a 48th of the items sets it
	if !c.Stats().GraphSearch || c.SearchesExactly() {
		t.Fatal("single searches left the graph")
	}
	if c.ScansGroups(gemmMinQueries-1) || c.ScoreExact(qs[:gemmMinQueries-1], scores) {
		t.Fatalf("a group of %d scored exactly; groups start at %d", gemmMinQueries-1, gemmMinQueries)
	}
	if !c.ScansGroups(len(qs)) || !c.ScoreExact(qs, scores) {
		t.Fatal("ScoreExact declined a group the collection scans")
	}
	c.probe.scanBatch.Store(false) // a later measurement: the scores stay good for their searches
	exact, err := db.create(engine.Config{Name: "e", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r = rand.New(rand.NewPCG(6, 6))
	if _, err := db.Upsert("e", randBatch(r, "a", 600, dim), "items"); err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		got, st := searchAll(t, c, q, engine.SearchOptions{Scores: &scores[i]})
		if !st.Exact {
			t.Fatal("a search given the group's scores went through the graph")
		}
		want, _ := searchAll(t, exact, q, engine.SearchOptions{})
		sameCandidates(t, got, want)
		n := 0
		st, err := c.Search(context.Background(), q, engine.SearchOptions{}, func(engine.Candidate) bool { n++; return n < 10 })
		if err != nil || st.Exact {
			t.Fatalf("a search of 10 items without scores left the graph (%v)", err)
		}
	}
}

// TestScoreExactMatrixProductKeepsScanOrder scores enough queries for the matrix
// product, on vectors with a wide range of magnitudes where its sums round differently
// from Dot's, and on near-ties (items one ulp apart) and exact ties (copies, ordered
// by slot). Searches given the scores must yield exactly the plain scan's items,
// order, ranks and scores, as deep as they go and when cut short.
func TestScoreExactMatrixProductKeepsScanOrder(t *testing.T) {
	for _, pr := range []exactProduct{productFP32, productInt8} {
		for _, m := range []engine.Metric{engine.Cosine, engine.Dot} {
			// 1,200 items, and 4,400: past preselectMin, where the int8 product lists
			// the scores above a sampled threshold as it computes them (Above).
			for _, base := range []int{300, 1100} {
				t.Run(fmt.Sprintf("%s/%s/%d", pr, m, 4*base), func(t *testing.T) {
					useProduct(t, pr)
					scoreExactKeepsScanOrder(t, m, base)
				})
			}
		}
	}
}

// allCoded reports whether every chunk of c holds int8 codes.
func allCoded(c *Collection) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, cc := range c.vectors.codes {
		if cc.rows.Load() == nil {
			return false
		}
	}
	return true
}

// useProduct makes ScoreExact use pr until the test ends.
func useProduct(t *testing.T, pr exactProduct) {
	old := scoreProduct
	scoreProduct = pr
	t.Cleanup(func() { scoreProduct = old })
}

func (p exactProduct) String() string {
	switch p {
	case productFP32:
		return "fp32"
	case productInt8:
		return "int8"
	}
	return "auto"
}

func scoreExactKeepsScanOrder(t *testing.T, m engine.Metric, base int) {
	{
		{
			db := testDB(t)
			const dim, nq = 64, 2 * gemmMinQueries
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: m, Params: engine.Params{ExactThreshold: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(5, uint64(m)))
			wide := func(v []float32) {
				for i := range v {
					v[i] = float32(r.NormFloat64() * math.Exp(3*r.NormFloat64()))
				}
			}
			b := &engine.Batch{Vectors: make([]float32, 4*base*dim)}
			for i := 0; i < base; i++ {
				v := b.Vectors[4*i*dim : (4*i+1)*dim]
				wide(v)
				for k := 1; k < 4; k++ {
					copy(b.Vectors[(4*i+k)*dim:], v)
				}
				d := r.IntN(dim)
				up := b.Vectors[(4*i+2)*dim:]
				up[d] = math.Nextafter32(up[d], float32(math.Inf(1)))
				down := b.Vectors[(4*i+3)*dim:]
				down[d] = math.Nextafter32(down[d], float32(math.Inf(-1)))
			}
			for i := 0; i < 4*base; i++ {
				b.IDs = append(b.IDs, "a"+strconv.Itoa(i))
			}
			if _, err := db.Upsert("c", b, "items"); err != nil {
				t.Fatal(err)
			}
			qs := preparedQueries(t, c, nq, wide)
			scores := make([]engine.ExactScores, nq)
			// The int8 product quantizes a chunk once int8BuildQueries queries have
			// been scored against it; the last of these calls scores from the codes.
			lean := scoreProduct == productInt8 && 4*base >= preselectMin
			for k := 0; k < int8BuildQueries/nq; k++ {
				if !c.ScoreExact(qs, scores) {
					t.Fatal("ScoreExact declined an exact collection")
				}
				if k == 0 && lean {
					// No chunk is quantized yet: every score is kept, with Above.
					for i, q := range qs {
						if !scores[i].Preselected || len(scores[i].Scores) != 4*base {
							t.Fatalf("query %d: preselected %v with %d scores kept, want true with all %d", i, scores[i].Preselected, len(scores[i].Scores), 4*base)
						}
						sameAsScan(t, c, q, &scores[i], 256, 257)
					}
				}
			}
			if scoreProduct == productInt8 && !allCoded(c) {
				t.Fatal("chunks not quantized: the test would check the float32 product only")
			}
			reordered := 0
			for i, q := range qs {
				if scores[i].Tol <= 0 {
					t.Fatalf("query %d: scores not from the matrix product", i)
				}
				// This call quantized the chunks as it went; past preselectMin it kept
				// only the scores above the thresholds (scoreLean).
				if scores[i].Preselected != lean || (len(scores[i].Scores) == 0) != lean {
					t.Fatalf("query %d: preselected %v with %d scores kept, want preselected %v, all kept %v", i, scores[i].Preselected, len(scores[i].Scores), lean, !lean)
				}
				sameAsScan(t, c, q, &scores[i], 1, 7, 255, 256, 257, 300, 301)
				want, _ := searchAll(t, c, q, engine.SearchOptions{})
				// The order of the product's own scores, for comparison (computed again
				// where only the best were kept).
				pre := scores[i].Scores
				if len(pre) == 0 {
					c.mu.RLock()
					pre = c.int8Scores(q, 4*base, nil)
					c.mu.RUnlock()
				}
				byPre := slices.Clone(want)
				slices.SortFunc(byPre, func(a, b engine.Candidate) int {
					sa, sb := pre[a.Slot], pre[b.Slot]
					if sa != sb {
						return cmp.Compare(sb, sa)
					}
					return cmp.Compare(a.Slot, b.Slot)
				})
				for k := range want {
					if byPre[k].Slot != want[k].Slot {
						reordered++
						break
					}
				}
			}
			// Without re-scoring, the search would have ordered some queries' items
			// differently: the test exercises the tie and rounding handling.
			if reordered == 0 {
				t.Fatal("the product's scores order every query like Dot's; the test shows nothing")
			}
			t.Logf("%d of %d queries ordered differently by the product's own scores", reordered, nq)
			if !lean {
				return
			}
			// Every chunk holds its codes now: again only the scores above the
			// thresholds are kept, and a search that goes deeper computes the rest.
			if !c.ScoreExact(qs, scores) {
				t.Fatal("ScoreExact declined an exact collection")
			}
			for i, q := range qs {
				if !scores[i].Preselected || len(scores[i].Scores) != 0 || len(scores[i].Above) < exactFirstBatch {
					t.Fatalf("query %d: preselected %v with %d scores kept and %d above the threshold: not the lean path", i, scores[i].Preselected, len(scores[i].Scores), len(scores[i].Above))
				}
				sameAsScan(t, c, q, &scores[i], 1, 7, 255, 256, 257, 300, 301)
			}
		}
	}
}

// TestScoreExactInt8CodesFollowWrites scores with the int8 product while deleting,
// replacing (reusing slots of quantized chunks) and adding items. A chunk is scored in
// float32 until int8BuildQueries queries have been scored against it since its last
// write, then from its int8 codes: every score must equal, bit for bit, the product
// its chunk is due for, computed afresh from the current vectors (so codes never
// outlive a write), and searches given the scores must yield exactly the plain scan's
// items.
func TestScoreExactInt8CodesFollowWrites(t *testing.T) {
	useProduct(t, productInt8)
	db := testDB(t)
	const dim, nq = 40, 2 * gemmMinQueries
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	if _, err := db.Upsert("c", randBatch(r, "a", 2500, dim), "items"); err != nil {
		t.Fatal(err)
	}
	qs := make([][]float32, nq)
	for i := range qs {
		if qs[i], err = c.PrepareQuery(randBatch(r, "q", 1, dim).Vectors, "q"); err != nil {
			t.Fatal(err)
		}
	}
	// score runs ScoreExact once and checks every score; it returns which chunks had
	// int8 codes.
	score := func(step string) []bool {
		t.Helper()
		scores := make([]engine.ExactScores, nq)
		if !c.ScoreExact(qs, scores) {
			t.Fatal("ScoreExact declined an exact collection")
		}
		c.mu.RLock()
		n := len(c.ids)
		all := make([]float32, 0, n*dim)
		for slot := 0; slot < n; slot++ {
			all = append(all, c.vectorAt(uint32(slot))...)
		}
		coded := make([]bool, len(c.vectors.codes))
		for i, cc := range c.vectors.codes {
			coded[i] = cc.rows.Load() != nil
		}
		c.mu.RUnlock()
		asInt8, asFP32 := make([][]float32, nq), make([][]float32, nq)
		for i := range qs {
			asInt8[i], asFP32[i] = make([]float32, n), make([]float32, n)
		}
		vec.PackInt8Queries(qs, dim).DotRows(vec.QuantizeRows(all, dim), asInt8)
		vec.PackQueries(qs, dim).DotRows(all, asFP32)
		for i, q := range qs {
			for slot := 0; slot < n; slot++ {
				want := asFP32[i][slot]
				if coded[slot/storeChunkRows] {
					want = asInt8[i][slot]
				}
				if got := scores[i].Scores[slot]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s: query %d slot %d (chunk coded: %v): score %v, want %v", step, i, slot, coded[slot/storeChunkRows], got, want)
				}
			}
			want, _ := searchAll(t, c, q, engine.SearchOptions{})
			got, _ := searchAll(t, c, q, engine.SearchOptions{Scores: &scores[i]})
			sameCandidates(t, got, want)
		}
		return coded
	}
	const calls = int8BuildQueries / nq
	for k := 1; k <= calls; k++ {
		coded := score(fmt.Sprintf("call %d", k))
		if want := k == calls; !slices.Equal(coded, []bool{want, want, want}) {
			t.Fatalf("call %d: chunks coded %v, want all %v", k, coded, want)
		}
	}
	if _, err := db.Delete("c", []string{"a3", "a2400"}, "ids"); err != nil {
		t.Fatal(err)
	}
	// The replacement of a1 and the new items fill the freed slots 1, 3 and 2400, then
	// append: chunks 0 and 2 are written, chunk 1 is not.
	b := randBatch(r, "a", 1, dim)
	b.IDs = []string{"a1"}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("c", randBatch(r, "b", 30, dim), "items"); err != nil {
		t.Fatal(err)
	}
	if coded := score("after writes"); !slices.Equal(coded, []bool{false, true, false}) {
		t.Fatalf("after writes: chunks coded %v, want [false true false]", coded)
	}
	for k := 2; k <= calls; k++ {
		score(fmt.Sprintf("after writes, call %d", k))
	}
	if coded := score("rebuilt"); !slices.Equal(coded, []bool{true, true, true}) {
		t.Fatalf("rebuilt: chunks coded %v, want all", coded)
	}
}

// Concurrent ScoreExact calls (each under the collection's read lock) count queries
// against the same chunks and race to quantize them at the 128th: every call's scores
// must still give exactly the plain scan's results, and the chunks end up quantized.
// Run under -race, it checks the codes' atomic hand-over.
func TestScoreExactInt8ConcurrentQuantization(t *testing.T) {
	useProduct(t, productInt8)
	db := testDB(t)
	const dim, nq, workers = 24, gemmMinQueries, 4
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	if _, err := db.Upsert("c", randBatch(r, "a", 2*storeChunkRows+100, dim), "items"); err != nil {
		t.Fatal(err)
	}
	qs := make([][]float32, nq)
	for i := range qs {
		if qs[i], err = c.PrepareQuery(randBatch(r, "q", 1, dim).Vectors, "q"); err != nil {
			t.Fatal(err)
		}
	}
	// Enough calls that the 128-query mark falls in the middle of the concurrent ones.
	const callsEach = 2 * int8BuildQueries / (nq * workers)
	results := make([][][]engine.ExactScores, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range callsEach {
				scores := make([]engine.ExactScores, nq)
				if !c.ScoreExact(qs, scores) {
					t.Error("ScoreExact declined an exact collection")
					return
				}
				results[w] = append(results[w], scores)
			}
		}()
	}
	wg.Wait()
	c.mu.RLock()
	for i, cc := range c.vectors.codes {
		if cc.rows.Load() == nil {
			t.Errorf("chunk %d not quantized after %d queries", i, workers*callsEach*nq)
		}
	}
	c.mu.RUnlock()
	for i, q := range qs {
		want, _ := searchAll(t, c, q, engine.SearchOptions{})
		for w := range results {
			for k := range results[w] {
				got, _ := searchAll(t, c, q, engine.SearchOptions{Scores: &results[w][k][i]})
				sameCandidates(t, got, want)
			}
		}
	}
}

// TestScoreExactLeanScoresAfterDeletes keeps only the scores above each query's sampled
// threshold (scoreLean), then deletes most items: deletes leave the scores current, but
// too few live items remain above the thresholds, so searches must compute the scores
// again, and yield exactly what plain exact searches yield; also with half the items
// deleted, where the kept ones still suffice for the first items.
func TestScoreExactLeanScoresAfterDeletes(t *testing.T) {
	useProduct(t, productInt8)
	for _, keep := range []int{2, 40} {
		t.Run(fmt.Sprintf("keep one in %d", keep), func(t *testing.T) {
			db := testDB(t)
			const dim, n, nq = 32, 6000, gemmMinQueries
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(9, uint64(keep)))
			if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
				t.Fatal(err)
			}
			qs := preparedQueries(t, c, nq, gaussian(r))
			scores := make([]engine.ExactScores, nq)
			for k := 0; k <= int8BuildQueries/nq; k++ {
				c.ScoreExact(qs, scores)
			}
			if !scores[0].Preselected || len(scores[0].Scores) != 0 {
				t.Fatalf("preselected %v with %d scores kept: not the lean path", scores[0].Preselected, len(scores[0].Scores))
			}
			var ids []string
			for i := 0; i < n; i++ {
				if i%keep != 0 {
					ids = append(ids, "a"+strconv.Itoa(i))
				}
			}
			if _, err := db.Delete("c", ids, "items"); err != nil {
				t.Fatal(err)
			}
			for i, q := range qs {
				if _, ok := currentScores(&scores[i], c); !ok {
					t.Fatal("deletes made the scores stale")
				}
				sameAsScan(t, c, q, &scores[i], 1, 100, 256, 257)
			}
		})
	}
}

// tightCluster creates an exact cosine collection of n vectors of dimension 64 around
// one centre, each component spread by spread, and nq queries from the same
// distribution.
func tightCluster(t *testing.T, db *DB, n, nq int, spread float32) (*Collection, [][]float32) {
	t.Helper()
	const dim = 64
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	centre := make([]float32, dim)
	for i := range centre {
		centre[i] = float32(r.NormFloat64())
	}
	vec.Normalize(centre)
	around := func(v []float32) {
		for i := range v {
			v[i] = centre[i] + spread*float32(r.NormFloat64())
		}
	}
	b := randBatch(r, "a", n, dim)
	for i := range n {
		around(b.Vectors[i*dim : (i+1)*dim])
	}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	qs := preparedQueries(t, c, nq, around)
	return c, qs
}

// On vectors the int8 product cannot tell apart (one tight cluster: cosines of 0.9999
// between items) ScoreExact takes the float32 product: the search re-scores every item
// within the product's error bound of what it yields, which after the int8 product was
// most of the collection, one item at a time. The results are the scan's either way;
// the times of both products are logged. On ordinary data the int8 product stays.
func TestScoreExactTightClusterTakesTheFloatProduct(t *testing.T) {
	const n, nq = 2 * preselectMin, 2 * gemmMinQueries
	for _, tc := range []struct {
		spread float32
		loose  bool
	}{{0.0025, true}, {1, false}} {
		db := testDB(t)
		c, qs := tightCluster(t, db, n, nq, tc.spread)
		c.mu.RLock()
		loose := c.int8Loose(qs, n)
		c.mu.RUnlock()
		if loose != tc.loose {
			t.Fatalf("spread %g: int8Loose %v, want %v", tc.spread, loose, tc.loose)
		}
		for _, pr := range []exactProduct{productInt8, productAuto} {
			useProduct(t, pr)
			took := readExactScores(t, c, qs, 20)
			t.Logf("spread %g, product %v: %d queries reading 20 items each took %v", tc.spread, pr, nq, took)
		}
		db.Close()
	}
}

// A few rows of large norm widen the int8 product's error bound for every query (it is
// set by the largest row), so under dot a search that reads past them re-scored most
// of the collection; the float32 product is taken once the codes show it. Judged on the
// sample alone, which rarely holds such a row, the int8 product looked fine.
func TestScoreExactLargeNormRowsTakeTheFloatProduct(t *testing.T) {
	const dim, n, nq = 64, 2 * preselectMin, 2 * gemmMinQueries
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Dot, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	b := randBatch(r, "a", n, dim)
	for i := range n {
		vec.Normalize(b.Vectors[i*dim : (i+1)*dim])
	}
	for i := 1; i < 30; i++ { // slot 0 and every 64th are sampled; these rows are not
		b.Vectors[(i*101)*dim+i%dim] = 800
	}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	qs := make([][]float32, nq)
	for i := range qs {
		qs[i] = randBatch(r, "q", 1, dim).Vectors
		vec.Normalize(qs[i])
	}
	useProduct(t, productInt8)
	took := readExactScores(t, c, qs, 40) // builds the chunks' codes
	t.Logf("product int8: %d queries reading 40 items each took %v", nq, took)
	c.mu.RLock()
	loose := c.int8Loose(qs, n)
	c.mu.RUnlock()
	if !loose {
		t.Fatal("int8Loose false with rows of norm 800 among unit rows")
	}
	useProduct(t, productAuto)
	t.Logf("product auto: %d queries reading 40 items each took %v", nq, readExactScores(t, c, qs, 40))
}

// readExactScores scores qs with ScoreExact and reads the first read items of each
// query's search from those scores, as many times as builds every chunk's int8 codes
// (the last time scores from them), checks two queries' results against the plain
// scan, and returns how long the last time took.
func readExactScores(t *testing.T, c *Collection, qs [][]float32, read int) time.Duration {
	t.Helper()
	var took time.Duration
	for range int8BuildQueries/len(qs) + 1 {
		scores := make([]engine.ExactScores, len(qs))
		start := time.Now()
		if !c.ScoreExact(qs, scores) {
			t.Fatal("ScoreExact declined an exact collection")
		}
		for i, q := range qs {
			got := 0
			if _, err := c.Search(context.Background(), q, engine.SearchOptions{Scores: &scores[i]}, func(engine.Candidate) bool {
				got++
				return got < read
			}); err != nil {
				t.Fatal(err)
			}
		}
		took = time.Since(start)
		for i, q := range qs[:2] {
			sameAsScan(t, c, q, &scores[i], read, read+1)
		}
	}
	return took
}

// A query whose search wants a deep window (ExactScores.Want) gets an Above deep enough
// for it: every item within twice the error bound of the wanted depth's score, which the
// search re-scores on the way, so that it does not score the whole collection again
// (which made a rank window of 200 cost 11 times one of 50: BenchmarkMineExactJob).
// The order is the scan's whatever Above holds.
func TestScoreExactAboveReachesTheWantedDepth(t *testing.T) {
	useProduct(t, productInt8)
	db := testDB(t)
	const dim, n, nq = 32, 20_000, gemmMinQueries
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 12))
	for _, part := range []string{"a", "b"} {
		if _, err := db.Upsert("c", randBatch(r, part, n/2, dim), "items"); err != nil {
			t.Fatal(err)
		}
	}
	qs := preparedQueries(t, c, nq, gaussian(r))
	for _, want := range []int{0, 400} {
		scores := make([]engine.ExactScores, nq)
		for k := 0; k <= int8BuildQueries/nq; k++ {
			for i := range scores {
				scores[i].Want = want
			}
			c.ScoreExact(qs, scores)
		}
		if !scores[0].Preselected || len(scores[0].Scores) != 0 {
			t.Fatalf("preselected %v with %d scores kept: not the lean path", scores[0].Preselected, len(scores[0].Scores))
		}
		short := 0
		for i, q := range qs {
			exact, _ := searchAll(t, c, q, engine.SearchOptions{MaxCandidates: 401})
			low := float32(math.Inf(1))
			for _, k := range scores[i].Above {
				low = min(low, keyScored(k).score)
			}
			if float64(low) > float64(exact[400].Score)-2*scores[i].Tol {
				short++
			}
			if want > 0 {
				sameAsScan(t, c, q, &scores[i], 1, 400, 401)
			}
		}
		t.Logf("want %d: %d of %d queries' Above end above the 400th best less twice the bound (%d entries in the first)", want, short, nq, len(scores[0].Above))
		if want > 0 && short > 0 {
			t.Fatalf("want %d: %d of %d queries' Above end short of the band the search re-scores", want, short, nq)
		}
		if want == 0 && short == 0 {
			t.Fatal("a search wanting a few items gets an Above as deep as one wanting 400: the test shows nothing")
		}
	}
}
