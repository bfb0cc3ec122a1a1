package hnsw

import (
	"math"
	"testing"
)

// TestUseDotMatchesItsDistance checks that a graph told its Distance is −vec.Dot
// (UseDot), which scores links with vec.DotRows, builds the same graph and returns the
// same results, distances bit for bit, as one scoring each link with its Distance: for
// unit and unnormalised vectors, at a dimension with a masked tail and at 384.
func TestUseDotMatchesItsDistance(t *testing.T) {
	for _, m := range metrics[:2] {
		for _, dim := range []int{37, 384} {
			src := clustered(size(3000, 800), dim, 12, 0.3, 7, m.normalize)
			plain := newGraph(t, Options{M: 8, EfConstruction: 64, Seed: 3}, m.dist, src)
			rows := newGraph(t, Options{M: 8, EfConstruction: 64, Seed: 3}, m.dist, src)
			rows.UseDot()
			ids := idRange(0, src.n())
			plain.InsertBatch(ids, 1)
			rows.InsertBatch(ids, 1)
			queries := clustered(50, dim, 12, 0.3, 8, m.normalize)
			for i := range queries.n() {
				q := queries.Vector(uint32(i))
				want := plain.Search(q, 10, 40, nil, nil)
				got := rows.Search(q, 10, 40, nil, nil)
				if len(got) != len(want) || len(want) != 10 {
					t.Fatalf("%s, dim %d, query %d: %d results, want %d (10)", m.name, dim, i, len(got), len(want))
				}
				for j := range want {
					if got[j].ID != want[j].ID || math.Float32bits(got[j].Dist) != math.Float32bits(want[j].Dist) {
						t.Fatalf("%s, dim %d, query %d, rank %d: %+v, want %+v", m.name, dim, i, j, got[j], want[j])
					}
				}
			}
		}
	}
}

// TestUseDotPanicsOnALongerQuery checks that a graph scoring links with vec.DotRows
// refuses a query longer than its vectors, as a Distance of −vec.Dot does, instead of
// reading past them.
func TestUseDotPanicsOnALongerQuery(t *testing.T) {
	src := clustered(200, 16, 4, 0.3, 9, true)
	g := newGraph(t, Options{M: 8, EfConstruction: 32, Seed: 3}, negDot, src)
	g.UseDot()
	g.InsertBatch(idRange(0, src.n()), 1)
	defer func() {
		if recover() == nil {
			t.Fatal("a 17-float query against 16-float vectors did not panic")
		}
	}()
	g.Search(make([]float32, 17), 5, 20, nil, nil)
}
