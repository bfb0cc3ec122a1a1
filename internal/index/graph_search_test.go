package index

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// clustered returns n vectors around 20 random unit centres (noise σ = 0.15 per
// coordinate), the shape of sentence embeddings.
func clustered(r *rand.Rand, prefix string, n, dim int) *engine.Batch {
	centres := randBatch(r, "c", 20, dim)
	for i := range 20 {
		vec.Normalize(centres.Row(i, dim))
	}
	b := &engine.Batch{Vectors: make([]float32, 0, n*dim)}
	for i := range n {
		b.IDs = append(b.IDs, prefix+strconv.Itoa(i))
		c := centres.Row(r.IntN(20), dim)
		for j := range dim {
			b.Vectors = append(b.Vectors, c[j]+0.15*float32(r.NormFloat64()))
		}
	}
	return b
}

// collect streams the first k candidates of a search.
func collect(t *testing.T, c *Collection, q []float32, k int, opts engine.SearchOptions) ([]string, engine.SearchStats) {
	t.Helper()
	var ids []string
	st, err := c.Search(context.Background(), q, opts, func(cd engine.Candidate) bool {
		ids = append(ids, cd.ID)
		return len(ids) < k
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, st
}

// graphSearchRecall fills a collection of metric m with n clustered items drawn with
// seed and returns recall@10 of graph searches at ef 64 over queries queries.
func graphSearchRecall(t *testing.T, m engine.Metric, seed uint64, n, dim, queries int) float64 {
	return graphSearchRecallQ(t, m, engine.QuantizationUnspecified, seed, n, dim, queries)
}

// graphSearchRecallQ is graphSearchRecall with the collection's quantization q.
func graphSearchRecallQ(t *testing.T, m engine.Metric, q engine.Quantization, seed uint64, n, dim, queries int) float64 {
	t.Helper()
	const k = 10
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "g", Dim: dim, Metric: m, Params: engine.Params{EfConstruction: 100, ExactThreshold: 1, Quantization: q}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, uint64(m)))
	if _, err := db.Upsert("g", clustered(r, "x", n, dim), "items"); err != nil {
		t.Fatal(err)
	}
	if !c.Stats().GraphSearch {
		t.Fatal("collection above its exact threshold does not search the graph")
	}
	hits := 0
	for range queries {
		q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
		got, st := collect(t, c, q, k, engine.SearchOptions{Ef: 64})
		if st.Exact {
			t.Fatal("graph search fell back to an exact scan for k=10")
		}
		want := map[string]bool{}
		for _, id := range bruteForce(c, q)[:k] {
			want[id] = true
		}
		for _, id := range got {
			if want[id] {
				hits++
			}
		}
	}
	return float64(hits) / float64(queries*k)
}

// Recall@10 at ef 64 over 3,000 items in 16 dimensions and 200 queries measured, over
// five data seeds (2026-11-30): cosine 0.9745–0.9855, dot 0.9340–0.9525, l2
// 0.9825–0.9925; repeated runs on the test's seed (the graph is built by parallel
// inserts, so it differs from run to run) 0.9805–0.9820, 0.9635–0.9640 and
// 0.9885–0.9890. The corpus is not searched exhaustively: recall at ef 64 stays below 1
// and differs by metric. Each bound lies just below the lowest measurement over the
// seeds; 200 queries × 10 neighbours put one miss at 0.0005. Cosine and dot run with
// the default int8 codes and with floats (none); l2 has floats only. With codes, the
// test's seed measured 0.9815 (cosine) and 0.9630 (dot).
func TestGraphSearchRecallAgainstExact(t *testing.T) {
	for _, tc := range []struct {
		m    engine.Metric
		want float64
	}{
		{engine.Cosine, 0.97},
		// Inner product over vectors of unequal norm is not a metric, and a graph
		// built on it recalls less than on the same data under cosine or L2.
		{engine.Dot, 0.93},
		{engine.L2, 0.978},
	} {
		for _, q := range []engine.Quantization{engine.QuantizationUnspecified, engine.QuantizationNone} {
			if tc.m == engine.L2 && q != engine.QuantizationNone {
				continue
			}
			t.Run(tc.m.String()+"/"+q.String(), func(t *testing.T) {
				recall := graphSearchRecallQ(t, tc.m, q, 11, 3000, 16, 200)
				t.Logf("%s %s recall@10 = %.4f", tc.m, q, recall)
				if recall < tc.want {
					t.Errorf("recall@10 = %.4f, want ≥ %.3f", recall, tc.want)
				}
			})
		}
	}
}

func TestGraphSearchWidensUntilKSurvive(t *testing.T) {
	const n, dim, k = 2000, 8, 10
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "g", Dim: dim, Metric: engine.L2, Params: engine.Params{M: 8, EfConstruction: 64, ExactThreshold: 1}})
	r := rand.New(rand.NewPCG(5, 5))
	db.Upsert("g", clustered(r, "x", n, dim), "items")
	q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
	// Keep only every 97th item: far fewer than k survive the first pass.
	keep := func(id string) bool { v, _ := strconv.Atoi(id[1:]); return v%97 == 0 }
	skipped := 0
	got, st := collect(t, c, q, k, engine.SearchOptions{Ef: 16, Skip: func(_ uint32, id string, _ []string) bool {
		if !keep(id) {
			skipped++
			return true
		}
		return false
	}})
	if len(got) != k {
		t.Fatalf("got %d candidates, want %d", len(got), k)
	}
	if st.Widenings == 0 {
		t.Error("search did not widen")
	}
	var want []string
	for _, id := range bruteForce(c, q) {
		if keep(id) {
			want = append(want, id)
		}
	}
	wantSet := map[string]bool{}
	for _, id := range want[:k] {
		wantSet[id] = true
	}
	hits := 0
	for _, id := range got {
		if wantSet[id] {
			hits++
		}
	}
	if hits < k-1 {
		t.Errorf("filtered top-%d overlap %d, want ≥ %d", k, hits, k-1)
	}
	if st.Ordered != skipped+len(got) {
		t.Errorf("ordered %d, skipped %d, yielded %d: an item was skipped or produced twice", st.Ordered, skipped, len(got))
	}

	// Without widening the first pass is all there is.
	got, st = collect(t, c, q, k, engine.SearchOptions{Ef: 16, NoWiden: true, Skip: func(_ uint32, id string, _ []string) bool { return !keep(id) }})
	if st.Widenings != 0 || st.Exact || len(got) >= k {
		t.Errorf("no-widen search: %d results, stats %+v", len(got), st)
	}
}

// deleteReplaceRecall fills a cosine collection with n items, deletes 20% and
// replaces another 20% with new vectors, and returns recall@10 at ef 64 over queries
// queries.
func deleteReplaceRecall(t *testing.T, seed uint64, n, queries int) float64 {
	t.Helper()
	const dim, k = 16, 10
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "g", Dim: dim, Metric: engine.Cosine, Params: engine.Params{EfConstruction: 64, ExactThreshold: 1}})
	r := rand.New(rand.NewPCG(seed, seed))
	db.Upsert("g", clustered(r, "x", n, dim), "items")
	var del []string
	for i := 0; i < n; i += 5 {
		del = append(del, "x"+strconv.Itoa(i))
	}
	db.Delete("g", del, "ids")
	re := clustered(r, "x", n, dim)
	rb := &engine.Batch{}
	for i := 1; i < n; i += 5 {
		rb.IDs = append(rb.IDs, "x"+strconv.Itoa(i))
		rb.Vectors = append(rb.Vectors, re.Row(i, dim)...)
	}
	if _, err := db.Upsert("g", rb, "items"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Items != n-len(del) {
		t.Fatalf("items = %d, want %d", st.Items, n-len(del))
	}
	hits := 0
	for range queries {
		q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
		got, st := collect(t, c, q, k, engine.SearchOptions{Ef: 64})
		if st.Exact {
			t.Fatal("graph search fell back to an exact scan for k=10")
		}
		want := map[string]bool{}
		for _, id := range bruteForce(c, q)[:k] {
			want[id] = true
		}
		for _, id := range got {
			if want[id] {
				hits++
			}
		}
	}
	return float64(hits) / float64(queries*k)
}

// Recall@10 at ef 64 after deleting 20% of 2,000 items and replacing another 20%
// measured 0.9810–0.9900 over five data seeds and 0.9895–0.9900 in repeated runs on
// the test's seed (200 queries, 2026-11-30).
func TestGraphSearchAfterDeletesAndReplacements(t *testing.T) {
	recall := deleteReplaceRecall(t, 8, 2000, 200)
	t.Logf("recall@10 after deletes and replacements = %.4f", recall)
	if recall < 0.977 {
		t.Errorf("recall@10 after deletes and replacements = %.4f, want ≥ 0.977", recall)
	}
}

// A search that runs after a batch retired slots but before applyGraph made them graph
// tombstones (the writer releases mu first) must not produce them: graphSearch checks
// liveness itself while such slots exist, and skips the check once none are left.
func TestSearchBetweenRetireAndGraphDelete(t *testing.T) {
	const n, dim = 600, 16
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Dot, Params: engine.Params{M: 8, EfConstruction: 64, ExactThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(rand.New(rand.NewPCG(3, 4)), "d", n, dim)
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	var gone []string
	for i := 0; i < n; i += 2 {
		gone = append(gone, b.IDs[i])
	}
	check := func(when string) {
		t.Helper()
		for i := range 20 {
			q, _ := c.PrepareQuery(slices.Clone(b.Row(i, dim)), "q")
			ids, st := collect(t, c, q, 40, engine.SearchOptions{Ef: 64, NoWiden: true})
			if st.Exact {
				t.Fatal("search did not go through the graph")
			}
			for _, id := range ids {
				if id == "" || slices.Contains(gone, id) {
					t.Fatalf("%s: search produced retired item %q", when, id)
				}
			}
		}
	}
	c.writeMu.Lock()
	c.mu.Lock()
	var w graphWork
	c.applyDeleteLocked(gone, 0, &w)
	c.mu.Unlock()
	if got := c.unsynced.Load(); got != int64(len(gone)) {
		t.Errorf("unsynced = %d after retiring %d slots", got, len(gone))
	}
	check("before the graph deletes")
	c.applyGraph(&w)
	c.writeMu.Unlock()
	if got := c.unsynced.Load(); got != 0 {
		t.Errorf("unsynced = %d after applyGraph", got)
	}
	check("after the graph deletes")
}

// A candidate's Vector stays the item's stored vector until Search returns, on the
// graph and the exact path: mining's diversity checks compare a candidate with the
// negatives chosen earlier in the same search without copying them.
func TestCandidateVectorsLastTheSearch(t *testing.T) {
	const n, dim = 600, 24
	for _, exact := range []bool{false, true} {
		db := testDB(t)
		threshold := 1
		if exact {
			threshold = n + 1
		}
		c, err := db.create(engine.Config{Name: "v", Dim: dim, Metric: engine.Cosine, Params: engine.Params{EfConstruction: 64, ExactThreshold: threshold}})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		if _, err := db.Upsert("v", clustered(r, "x", n, dim), "items"); err != nil {
			t.Fatal(err)
		}
		q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
		var got []engine.Candidate
		var seen [][]float32
		st, err := c.Search(context.Background(), q, engine.SearchOptions{Ef: 64}, func(cd engine.Candidate) bool {
			got = append(got, cd)
			seen = append(seen, slices.Clone(cd.Vector))
			return len(got) < 40
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.Exact != exact {
			t.Fatalf("exact=%v: the search's Exact is %v", exact, st.Exact)
		}
		if len(got) != 40 {
			t.Fatalf("exact=%v: %d candidates", exact, len(got))
		}
		items, _ := c.Get([]string{got[0].ID}, true)
		for i, cd := range got {
			if !slices.Equal(cd.Vector, seen[i]) {
				t.Fatalf("exact=%v: candidate %d (%s): its Vector changed after its yield", exact, i, cd.ID)
			}
			if i == 0 && !slices.Equal(cd.Vector, items[0].Vector) {
				t.Fatalf("exact=%v: candidate %s: Vector is not the stored vector", exact, cd.ID)
			}
		}
	}
}
