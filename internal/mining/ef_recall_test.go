package mining

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// clusteredWorld stores n vectors of dimension dim drawn around nc cluster centres in
// a cosine collection searched through its HNSW graph, and returns it with the
// prepared vectors.
func clusteredWorld(t testing.TB, n, dim, nc int, spread float64, seed uint64) (engine.Collection, [][]float32) {
	return clusteredWorldQ(t, engine.QuantizationUnspecified, n, dim, nc, spread, seed)
}

// clusteredWorldQ is clusteredWorld with the collection's graph quantization q.
func clusteredWorldQ(t testing.TB, q engine.Quantization, n, dim, nc int, spread float64, seed uint64) (engine.Collection, [][]float32) {
	r := rand.New(rand.NewPCG(seed, 11))
	centers := make([][]float32, nc)
	for i := range centers {
		centers[i] = randVec(r, dim, 1)
	}
	b := &engine.Batch{}
	for i := range n {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, jitter(r, centers[r.IntN(nc)], spread)...)
	}
	db, err := index.Open(index.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1, Quantization: q}})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < n; lo += 10000 {
		hi := min(lo+10000, n)
		part := &engine.Batch{IDs: b.IDs[lo:hi], Vectors: b.Vectors[lo*dim : hi*dim]}
		if _, err := db.Upsert("c", part, "items"); err != nil {
			t.Fatal(err)
		}
	}
	vecs := make([][]float32, n)
	for i := range n {
		vecs[i] = b.Vectors[i*dim : (i+1)*dim]
	}
	return c, vecs
}

// exactTop returns, for each anchor (a stored item), the ids of its k most similar other
// items by exact scoring, best first (ties: lower index first).
func exactTop(c engine.Collection, vecs [][]float32, anchors []int, k int) [][]string {
	type sc struct {
		i int
		s float32
	}
	out := make([][]string, len(anchors))
	top := make([]sc, 0, k+1)
	for ai, a := range anchors {
		top = top[:0]
		for i, v := range vecs {
			if i == a { // the anchor itself is never a negative
				continue
			}
			s := c.Similarity(vecs[a], v)
			if len(top) == k && !(s > top[k-1].s) {
				continue
			}
			p := len(top)
			for p > 0 && top[p-1].s < s {
				p--
			}
			top = slices.Insert(top, p, sc{i, s})
			if len(top) > k {
				top = top[:k]
			}
		}
		for _, x := range top {
			out[ai] = append(out[ai], "i"+strconv.Itoa(x.i))
		}
	}
	return out
}

// windowRecall mines k negatives for each anchor (stored items) under pol and returns
// the share of the exact top k that came back and the share of anchors whose exact top
// k came back whole.
func windowRecall(t testing.TB, c engine.Collection, anchors []int, exact [][]string, pol Policy) (recall, whole float64) {
	req := Request{Policy: pol}
	for _, a := range anchors {
		req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a)})
	}
	res, err := Mine(context.Background(), c, req)
	if err != nil {
		t.Fatal(err)
	}
	hit, wholeN, total := 0, 0, 0
	for ai := range anchors {
		got := negIDs(res[ai].Negatives)
		n := 0
		for _, id := range exact[ai] {
			if slices.Contains(got, id) {
				n++
			}
		}
		hit += n
		total += len(exact[ai])
		if n == len(exact[ai]) {
			wholeN++
		}
	}
	return float64(hit) / float64(total), float64(wholeN) / float64(len(anchors))
}

// windowRecallEach is windowRecall with each anchor mined in a request of its own.
func windowRecallEach(t testing.TB, c engine.Collection, anchors []int, exact [][]string, pol Policy) float64 {
	hit, total := 0, 0
	for ai, a := range anchors {
		res, err := Mine(context.Background(), c, Request{Policy: pol, Anchors: []Anchor{{ID: "i" + strconv.Itoa(a)}}})
		if err != nil {
			t.Fatal(err)
		}
		got := negIDs(res[0].Negatives)
		for _, id := range exact[ai] {
			if slices.Contains(got, id) {
				hit++
			}
		}
		total += len(exact[ai])
	}
	return float64(hit) / float64(total)
}

// TestDefaultEfRecallOfTheTopWindow checks that mining's default first pass finds the
// exact rank window: on 20,000 vectors in broad clusters, the negatives of a top-k policy
// (window [0, k)) hold at least 99% of the exact top k for windows of 8 to 512 ranks. A
// beam only a little wider than the window (max(collection ef, end + 1), the rule before
// mining sized its own) misses that at 32 and 64 ranks. It logs the sweep over explicit
// ef values that the default was chosen from (the default's lead, engine.Params.FixedLead: 2 × 64,
// was chosen on make bench's larger sets, where a lead of 64 fell short; see firstPass). Under the race detector it checks windows
// of 8 and 32 only; make test-go runs it in full without.
func TestDefaultEfRecallOfTheTopWindow(t *testing.T) {
	c, vecs := clusteredWorld(t, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(5, 5))
	anchors := make([]int, 300)
	for i := range anchors {
		anchors[i] = r.IntN(len(vecs))
	}
	windows := []int{8, 32, 64, 128, 512}
	if raceEnabled {
		windows = []int{8, 32} // the full sweep runs without the race detector (make test-go)
	}
	widest := exactTop(c, vecs, anchors, windows[len(windows)-1])
	for _, k := range windows {
		exact := make([][]string, len(widest))
		for i, w := range widest {
			exact[i] = w[:k]
		}
		efs := []int{0, k + 8, max(engine.DefaultEfSearch, k+1), 2 * k, max(128, 8*k), k + engine.DefaultEfSearch}
		if raceEnabled {
			efs = []int{0, max(engine.DefaultEfSearch, k+1)}
		}
		for i, ef := range efs {
			if slices.Contains(efs[:i], ef) {
				continue
			}
			pol := DefaultPolicy()
			pol.NumNegatives, pol.Ef, pol.InBatchExclusion = k, ef, false
			rec, whole := windowRecall(t, c, anchors, exact, pol)
			t.Logf("window %d ef %d: recall %.4f, whole window %.4f", k, ef, rec, whole)
			if ef == 0 && rec < 0.99 {
				t.Errorf("window %d, default ef: recall of the exact top %d is %.4f, want ≥ 0.99", k, k, rec)
			}
		}
	}
}

// TestGrowingFirstPassRecall checks mining through the beam that starts at the window
// of k and widens as the anchor reads (firstPass): the default first pass under a score
// filter (max_score 1, which removes nothing but makes the window 10·k ranks) starts
// below the whole window's width, at a width whose reliable part (width less the
// lead) ends before the 32 ranks read here; with 3 of every 4 of each anchor's
// exact top 128 excluded, so that an anchor reads past that part to choose 8, its
// negatives hold at least 99% of the exact ones (ranks 3, 7, …, 31). It logs the same
// for a beam of the whole window's width. (hnsw's TestSearchOrderedGrowing compares
// growing and fixed beams where their recall differs.)
func TestGrowingFirstPassRecall(t *testing.T) {
	c, vecs := clusteredWorld(t, 20000, 128, 20, 1.5, 2)
	r := rand.New(rand.NewPCG(6, 6))
	anchors := make([]int, 300)
	if raceEnabled {
		anchors = anchors[:100]
	}
	for i := range anchors {
		anchors[i] = r.IntN(len(vecs))
	}
	const k = 8
	top := exactTop(c, vecs, anchors, 128)
	want := make([][]string, len(anchors))
	excl := make([][]string, len(anchors))
	for i, ids := range top {
		for j, id := range ids {
			if j%4 == 3 && len(want[i]) < k {
				want[i] = append(want[i], id)
			} else {
				excl[i] = append(excl[i], id)
			}
		}
	}
	band := float32(1)
	pol := DefaultPolicy()
	pol.NumNegatives, pol.MaxScore, pol.InBatchExclusion, pol.NearDuplicates = k, &band, false, false
	m := &anchorMiner{s: c, pol: &pol, a: &prepared{}, end: pol.EffectiveRangeMax(0)}
	full, start, lead := m.firstPass()
	if start == 0 || start >= full || start-lead >= 4*k {
		t.Fatalf("first pass: start %d, full width %d; want a start below the full width whose lead ends before rank %d", start, full, 4*k)
	}
	for _, ef := range []int{0, full} {
		p := pol
		p.Ef = ef
		req := Request{Policy: p}
		for i, a := range anchors {
			req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a), ExcludeIDs: excl[i]})
		}
		res, err := Mine(context.Background(), c, req)
		if err != nil {
			t.Fatal(err)
		}
		hit, total, read := 0, 0, 0
		for i := range anchors {
			got := negIDs(res[i].Negatives)
			for _, id := range want[i] {
				if slices.Contains(got, id) {
					hit++
				}
			}
			total += len(want[i])
			read += res[i].Examined
		}
		rec := float64(hit) / float64(total)
		t.Logf("ef %d (0: growing from %d): recall of the exact negatives %.4f, %.1f candidates read per anchor", ef, start, rec, float64(read)/float64(len(anchors)))
		if rec < 0.99 {
			t.Errorf("ef %d: recall of the exact negatives %.4f, want ≥ 0.99", ef, rec)
		}
	}
}

// TestMeasuredLeadReachesTheExactWindow checks that mining's first pass reaches as far
// as the collection measured its graph to need (index.Collection.FirstPassLead): on a
// deliberately poor graph of random vectors (M 8, ef_construction 32, ef_search 8, so
// that the fixed lead is 16 ranks), the default policy's negatives hold at least 98%
// of the exact top 8 with the measurement on, through the graph, and far less with it
// off, one anchor per request; in one request of them all, the lead being more than a
// 48th of the items, groups of anchors are scored by exact passes and find the whole
// exact top 8. On a still poorer graph (M 4, ef_construction 16), whose measured beam
// is a large share of the collection, the collection scans exactly and mining finds
// the whole exact top 8. The graphs are built on one worker: built on several, a graph
// depends on the order the workers happen to insert in, and the measured lead of the
// second case came out 512 (recall@10 0.9961) or, now and then under load, 1,024,
// which sends 12,000 items to exact scans.
func TestMeasuredLeadReachesTheExactWindow(t *testing.T) {
	n, dim, na := 12000, 32, 200
	if raceEnabled {
		n, na = 10000, 50 // the measured lead, 512, stays under a sixteenth of the items
	}
	r := rand.New(rand.NewPCG(21, 21))
	b := &engine.Batch{}
	vecs := make([][]float32, n)
	for i := range n {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		vecs[i] = randVec(r, dim, 1)
		b.Vectors = append(b.Vectors, vecs[i]...)
	}
	anchors := make([]int, na)
	for i := range anchors {
		anchors[i] = r.IntN(n)
	}
	recall := map[string]float64{}
	for _, cs := range []struct {
		name   string
		target float64
		m, efc int
		scan   bool
	}{{"fixed", -1, 8, 32, false}, {"measured", 0.995, 8, 32, false}, {"scan", 0.995, 4, 16, true}} {
		db, err := index.Open(index.Options{Dir: t.TempDir(), LeadRecall: cs.target, GraphWorkers: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ec, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine,
			Params: engine.Params{M: cs.m, EfConstruction: cs.efc, EfSearch: 8, ExactThreshold: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert("c", b, "items"); err != nil {
			t.Fatal(err)
		}
		c := ec.(*index.Collection)
		c.WaitIdle()
		for i, v := range vecs { // as stored: normalised
			if vecs[i], err = c.PrepareQuery(v, "v"); err != nil {
				t.Fatal(err)
			}
		}
		exact := exactTop(c, vecs, anchors, 8)
		pol := DefaultPolicy()
		pol.NumNegatives, pol.InBatchExclusion = 8, false
		// One anchor per request: the graph with the lead (or the collection's scan).
		recall[cs.name] = windowRecallEach(t, c, anchors, exact, pol)
		lead, measured := c.FirstPassLead()
		t.Logf("%s: measured lead %d (recall@10 %.4f), scans exactly %v, mining recall of the exact top 8 %.4f", cs.name, lead, measured, c.SearchesExactly(), recall[cs.name])
		if c.SearchesExactly() != cs.scan {
			t.Errorf("%s: scans exactly %v, want %v (lead %d of %d items)", cs.name, c.SearchesExactly(), cs.scan, lead, n)
		}
		// All anchors in one request: where the measured lead is a 48th of the items or
		// more, scored in groups by exact passes, which find the whole exact top 8.
		if cs.name == "measured" {
			batched, _ := windowRecall(t, c, anchors, exact, pol)
			t.Logf("%s, one request: groups scanned exactly %v, mining recall %.4f", cs.name, c.ScansGroups(8), batched)
			if !c.ScansGroups(8) || batched < 1 {
				t.Errorf("one request of %d anchors at a lead of %d of %d items: groups scanned %v, recall %.4f, want exact passes and 1",
					len(anchors), lead, n, c.ScansGroups(8), batched)
			}
		}
	}
	if recall["measured"] < 0.98 {
		t.Errorf("with the measured lead, mining recall of the exact top 8 is %.4f, want ≥ 0.98", recall["measured"])
	}
	if recall["scan"] < 1 {
		t.Errorf("scanning exactly, mining recall of the exact top 8 is %.4f, want 1", recall["scan"])
	}
	if recall["fixed"] > 0.9 {
		t.Errorf("with the fixed lead, mining recall is %.4f: the graph is not poor enough for this test", recall["fixed"])
	}
}

// The first pass's lead is at least as wide as the ranks the anchor needs: a beam finds
// its best items reliably up to a share of its width, so a fixed lead of 128 held only
// 0.94–0.97 of the exact top 500 (50k 64-d clusters, through the server); twice the
// window held 0.988. Windows short of the fixed lead keep it.
func TestFirstPassLeadGrowsWithTheRanksNeeded(t *testing.T) {
	c, _ := clusteredWorld(t, 2000, 16, 4, 1.5, 3)
	fixed := c.Params().FixedLead()
	for _, k := range []int{8, fixed / 2, 500} {
		pol := DefaultPolicy()
		pol.NumNegatives = k
		m := &anchorMiner{s: c, pol: &pol, a: &prepared{}, end: pol.EffectiveRangeMax(0)}
		ef, start, lead := m.firstPass()
		want := max(fixed, k)
		if lead < want || ef < m.end+want {
			t.Errorf("k %d (window end %d): first pass ef %d, start %d, lead %d; want a lead of at least %d", k, m.end, ef, start, lead, want)
		}
		if k < fixed && lead != fixed {
			t.Errorf("k %d: lead %d, want the fixed lead %d", k, lead, fixed)
		}
	}
}

// Where the graph needs a beam of a 48th of the items or more, a request of 8 or more
// anchors is scored by exact passes: every anchor of it, whatever the request's size
// against the workers (no group left too small for a pass), and under rotation and
// the exposure cap too, which mine the anchors in order. Its results are an exact
// collection's, negative for negative and score for score.
func TestGroupsScoredExactlyCoverEveryAnchor(t *testing.T) {
	const n, dim = 12000, 32
	r := rand.New(rand.NewPCG(21, 21))
	b := &engine.Batch{}
	for i := range n {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, randVec(r, dim, 1)...)
	}
	open := func(lead float64, threshold int) *index.Collection {
		db, err := index.Open(index.Options{Dir: t.TempDir(), LeadRecall: lead})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ec, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine,
			Params: engine.Params{M: 8, EfConstruction: 32, EfSearch: 8, ExactThreshold: threshold}})
		if err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < n; lo += 10000 {
			hi := min(lo+10000, n)
			if _, err := db.Upsert("c", &engine.Batch{IDs: b.IDs[lo:hi], Vectors: b.Vectors[lo*dim : hi*dim]}, "items"); err != nil {
				t.Fatal(err)
			}
		}
		c := ec.(*index.Collection)
		c.WaitIdle()
		return c
	}
	graph, exact := open(0.995, 1000), open(-1, n+1)
	if lead, _ := graph.FirstPassLead(); graph.SearchesExactly() || !graph.ScansGroups(8) || graph.ScansGroups(7) {
		t.Fatalf("lead %d of %d items: scans exactly %v, groups of 8 %v, of 7 %v; want the graph for single anchors and exact passes from 8",
			lead, n, graph.SearchesExactly(), graph.ScansGroups(8), graph.ScansGroups(7))
	}
	pol := DefaultPolicy()
	pol.NumNegatives, pol.RangeMin, pol.RangeMax, pol.InBatchExclusion = 10, 100, 400, false
	inOrder := pol
	inOrder.Rotate, inOrder.MaxExposures = true, 1000
	for _, p := range []Policy{pol, inOrder} {
		for _, size := range []int{8, 9, 12, 15, 16, 20, 33, 100} {
			req := Request{Policy: p}
			for a := range size {
				req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a*53), Key: "k" + strconv.Itoa(a)})
			}
			mine := func(c *index.Collection) []Result {
				r := req
				if p.MaxExposures > 0 || p.Rotate {
					r.Exposure = NewExposure(0)
				}
				res, err := Mine(context.Background(), c, r)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			got, want := mine(graph), mine(exact)
			for a := range got {
				if !got[a].ExactScan {
					t.Errorf("rotate %v, %d anchors: anchor %d went through the graph", p.Rotate, size, a)
				}
				if !slices.Equal(negIDs(got[a].Negatives), negIDs(want[a].Negatives)) {
					t.Errorf("rotate %v, %d anchors: anchor %d got %v, the exact collection %v", p.Rotate, size, a,
						negIDs(got[a].Negatives), negIDs(want[a].Negatives))
				}
				for j := range min(len(got[a].Negatives), len(want[a].Negatives)) {
					if g, w := got[a].Negatives[j], want[a].Negatives[j]; g.Score != w.Score || g.Rank != w.Rank {
						t.Errorf("anchor %d negative %d: score %v rank %d, exact %v rank %d", a, j, g.Score, g.Rank, w.Score, w.Rank)
					}
				}
			}
		}
	}
}
