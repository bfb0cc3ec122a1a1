package index

import (
	"context"
	"math/rand/v2"
	"testing"
)

// searchAll returns every candidate a search yields, in order.
func searchAll(t *testing.T, c *Collection, q []float32, opts SearchOptions) ([]Candidate, SearchStats) {
	t.Helper()
	var out []Candidate
	st, err := c.Search(context.Background(), q, opts, func(cd Candidate) bool {
		cd.Vector = nil
		out = append(out, cd)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func sameCandidates(t *testing.T, got, want []Candidate) {
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
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			const dim = 37
			c, err := db.CreateCollection(Config{Name: "c", Dim: dim, Metric: m, Params: Params{ExactThreshold: 1 << 20}})
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
			qs := make([][]float32, 6)
			for i := range qs {
				raw := randBatch(r, "q", 1, dim).Vectors
				if qs[i], err = c.PrepareQuery(raw, "q"); err != nil {
					t.Fatal(err)
				}
			}
			scores := make([]ExactScores, len(qs))
			if !c.ScoreExact(qs, scores) {
				t.Fatal("ScoreExact declined an exact collection")
			}
			for i, q := range qs {
				want, _ := searchAll(t, c, q, SearchOptions{})
				got, st := searchAll(t, c, q, SearchOptions{Scores: &scores[i]})
				if !st.Exact {
					t.Fatal("search was not exact")
				}
				sameCandidates(t, got, want)
			}
			// A replaced item reuses the freed slot with a new vector: stale scores
			// must not be used.
			if _, err := db.Upsert("c", randBatch(r, "a", 1, dim), "items"); err != nil {
				t.Fatal(err)
			}
			for i, q := range qs {
				if scores[i].current(c) != nil {
					t.Fatal("scores still current after a write")
				}
				want, _ := searchAll(t, c, q, SearchOptions{})
				got, _ := searchAll(t, c, q, SearchOptions{Scores: &scores[i]})
				sameCandidates(t, got, want)
			}
		})
	}
}

// TestScoreExactDeclinesGraphSearch checks that a collection searched through its
// graph is not scored exactly.
func TestScoreExactDeclinesGraphSearch(t *testing.T) {
	db := testDB(t)
	c, err := db.CreateCollection(Config{Name: "c", Dim: 8, Metric: Cosine, Params: Params{M: 8, EfConstruction: 32, ExactThreshold: 100}})
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
	if c.ScoreExact([][]float32{q}, make([]ExactScores, 1)) {
		t.Fatal("ScoreExact scored a collection searched through its graph")
	}
}
