package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// randomUnit returns n seeded random unit vectors of dimension dim: data with no
// clusters, where a graph search needs a wide beam and a stored item's own node leads
// a search for its vector straight to its neighbours.
func randomUnit(n, dim int, seed uint64) *memSource {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	src := &memSource{dim: dim, data: make([]float32, n*dim)}
	for i := range n {
		v := src.Vector(uint32(i))
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		vec.Normalize(v)
	}
	return src
}

// TestSearchWithoutMeasuresLikeANewQuery checks SearchWithout on items of a graph of
// random vectors: the hidden item is never returned; its recall@10 against the exact
// best other items is below what Search reaches for the same vectors (whose nodes lead
// the search to their neighbours) and close to what new queries from the same
// distribution reach; and an entry point cannot be hidden.
func TestSearchWithoutMeasuresLikeANewQuery(t *testing.T) {
	const dim, k, ef, queries = 48, 10, 96, 150
	n := size(8000, 3000)
	all := randomUnit(n+queries, dim, 11)
	data := &memSource{dim: dim, data: all.data[:n*dim]}
	fresh := &memSource{dim: dim, data: all.data[n*dim:]}
	for _, codes := range []bool{false, true} {
		g := newGraph(t, Options{M: 8, EfConstruction: 64, Seed: 5}, negDot, data)
		if codes {
			g.UseCodes(codesFor(data))
		}
		g.InsertBatch(idRange(0, n), 0)
		epID, _, _ := unpackEntry(g.entry.Load())

		var withSelf, without, newQueries float64
		for i := range queries {
			item := uint32(i * (n / queries))
			if item == epID {
				item++
			}
			q := data.Vector(item)
			truth := [][]uint32{bruteForce(data, negDot, q, k, func(id uint32) bool { return id != item })}
			notSelf := func(id uint32) bool { return id != item }
			withSelf += recallAt(truth, [][]Neighbor{g.Search(q, k, ef, notSelf, nil)})
			got, ok := g.SearchWithout(q, k, ef, []uint32{item}, nil, nil)
			if !ok {
				t.Fatalf("codes %v: SearchWithout(item %d) not searched; the entry point is %d", codes, item, epID)
			}
			for _, nb := range got {
				if nb.ID == item {
					t.Fatalf("codes %v: SearchWithout returned the hidden item %d", codes, item)
				}
			}
			checkSorted(t, got)
			without += recallAt(truth, [][]Neighbor{got})

			fq := fresh.Vector(uint32(i))
			ft := [][]uint32{bruteForce(data, negDot, fq, k, func(uint32) bool { return true })}
			newQueries += recallAt(ft, [][]Neighbor{g.Search(fq, k, ef, nil, nil)})
		}
		withSelf, without, newQueries = withSelf/queries, without/queries, newQueries/queries
		t.Logf("codes %v: recall@%d at ef %d: items searched with their node %.3f, hidden %.3f, new queries %.3f",
			codes, k, ef, withSelf, without, newQueries)
		if without >= withSelf-0.04 {
			t.Errorf("codes %v: hidden items' recall %.3f not below the %.3f their own nodes lead to", codes, without, withSelf)
		}
		if d := without - newQueries; d > 0.04 || d < -0.04 {
			t.Errorf("codes %v: hidden items' recall %.3f, new queries' %.3f: want within 0.04", codes, without, newQueries)
		}
		if res, ok := g.SearchWithout(data.Vector(epID), k, ef, []uint32{epID}, nil, nil); ok || len(res) != 0 {
			t.Errorf("codes %v: hiding the entry point %d: ok %v, %d results; want false, none", codes, epID, ok, len(res))
		}
	}
}
