package index

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// clustered returns n vectors around 20 random unit centres (noise σ = 0.15 per
// coordinate), the shape of sentence embeddings.
func clustered(r *rand.Rand, prefix string, n, dim int) *Batch {
	centres := randBatch(r, "c", 20, dim)
	for i := range 20 {
		vec.Normalize(centres.Row(i, dim))
	}
	b := &Batch{Vectors: make([]float32, 0, n*dim)}
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
func collect(t *testing.T, c *Collection, q []float32, k int, opts SearchOptions) ([]string, SearchStats) {
	t.Helper()
	var ids []string
	st, err := c.Search(context.Background(), q, opts, func(cd Candidate) bool {
		ids = append(ids, cd.ID)
		return len(ids) < k
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, st
}

func TestGraphSearchRecallAgainstExact(t *testing.T) {
	const n, dim, k = 3000, 16, 10
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			c, err := db.CreateCollection(Config{Name: "g", Dim: dim, Metric: m, Params: Params{EfConstruction: 100, ExactThreshold: 1}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, uint64(m)))
			if _, err := db.Upsert("g", clustered(r, "x", n, dim), "items"); err != nil {
				t.Fatal(err)
			}
			if !c.Stats().GraphSearch {
				t.Fatal("collection above its exact threshold does not search the graph")
			}
			hits, total := 0, 0
			for range 50 {
				q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
				got, st := collect(t, c, q, k, SearchOptions{Ef: 64})
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
				total += k
			}
			// Inner product over vectors of unequal norm is not a metric, and a graph
			// built on it recalls less than on the same data under cosine or L2.
			want := 0.98
			if m == Dot {
				want = 0.95
			}
			if recall := float64(hits) / float64(total); recall < want {
				t.Errorf("recall@%d = %.3f, want ≥ %.2f", k, recall, want)
			}
		})
	}
}

func TestGraphSearchWidensUntilKSurvive(t *testing.T) {
	const n, dim, k = 2000, 8, 10
	db := testDB(t)
	c, _ := db.CreateCollection(Config{Name: "g", Dim: dim, Metric: L2, Params: Params{M: 8, EfConstruction: 64, ExactThreshold: 1}})
	r := rand.New(rand.NewPCG(5, 5))
	db.Upsert("g", clustered(r, "x", n, dim), "items")
	q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
	// Keep only every 97th item: far fewer than k survive the first pass.
	keep := func(id string) bool { v, _ := strconv.Atoi(id[1:]); return v%97 == 0 }
	skipped := 0
	got, st := collect(t, c, q, k, SearchOptions{Ef: 16, Skip: func(_ uint32, id string, _ []string) bool {
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
	got, st = collect(t, c, q, k, SearchOptions{Ef: 16, NoWiden: true, Skip: func(_ uint32, id string, _ []string) bool { return !keep(id) }})
	if st.Widenings != 0 || st.Exact || len(got) >= k {
		t.Errorf("no-widen search: %d results, stats %+v", len(got), st)
	}
}

func TestGraphSearchAfterDeletesAndReplacements(t *testing.T) {
	const n, dim, k = 2000, 16, 10
	db := testDB(t)
	c, _ := db.CreateCollection(Config{Name: "g", Dim: dim, Metric: Cosine, Params: Params{EfConstruction: 64, ExactThreshold: 1}})
	r := rand.New(rand.NewPCG(8, 8))
	db.Upsert("g", clustered(r, "x", n, dim), "items")
	// Delete 20% and replace another 20% with new vectors.
	var del []string
	for i := 0; i < n; i += 5 {
		del = append(del, "x"+strconv.Itoa(i))
	}
	db.Delete("g", del, "ids")
	re := clustered(r, "x", n, dim)
	keepIdx := []int{}
	for i := 1; i < n; i += 5 {
		keepIdx = append(keepIdx, i)
	}
	rb := &Batch{}
	for _, i := range keepIdx {
		rb.IDs = append(rb.IDs, "x"+strconv.Itoa(i))
		rb.Vectors = append(rb.Vectors, re.Row(i, dim)...)
	}
	if _, err := db.Upsert("g", rb, "items"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Items != n-len(del) {
		t.Fatalf("items = %d, want %d", st.Items, n-len(del))
	}
	hits, total := 0, 0
	for range 30 {
		q, _ := c.PrepareQuery(clustered(r, "q", 1, dim).Vectors, "q")
		got, _ := collect(t, c, q, k, SearchOptions{Ef: 64})
		want := map[string]bool{}
		for _, id := range bruteForce(c, q)[:k] {
			want[id] = true
		}
		for _, id := range got {
			if want[id] {
				hits++
			}
		}
		total += k
	}
	if recall := float64(hits) / float64(total); recall < 0.95 {
		t.Errorf("recall@%d after deletes and replacements = %.3f, want ≥ 0.95", k, recall)
	}
}
