package hnsw

import (
	"fmt"
	"sync"
	"testing"
)

const (
	testDim      = 64
	testClusters = 50
	testSpread   = 0.17
	testQueries  = 200
	testK        = 10
)

// fixture is a graph built once per metric and shared by read-only tests: n data
// vectors (ids 0…n-1) and testQueries queries from the same clusters.
type fixture struct {
	g       *Graph
	data    *memSource // the graph's vectors
	queries *memSource
}

var (
	fixtureOnce [3]sync.Once
	fixtures    [3]fixture
)

func sharedFixture(mi int) fixture {
	fixtureOnce[mi].Do(func() {
		m := metrics[mi]
		n := size(20000, 3000)
		all := clustered(n+testQueries, testDim, testClusters, testSpread, uint64(1+mi), m.normalize)
		data := &memSource{dim: testDim, data: all.data[:n*testDim]}
		queries := &memSource{dim: testDim, data: all.data[n*testDim:]}
		g, err := New(Options{Seed: 7}, m.dist, data)
		if err != nil {
			panic(err)
		}
		g.InsertBatch(idRange(0, n), 0)
		fixtures[mi] = fixture{g, data, queries}
	})
	return fixtures[mi]
}

func TestRecallAgainstBruteForce(t *testing.T) {
	for mi, m := range metrics {
		t.Run(m.name+"/recall_at_10_ge_0.98_at_ef_64", func(t *testing.T) {
			t.Parallel()
			f := sharedFixture(mi)
			if f.g.Len() != f.data.n() {
				t.Fatalf("Len = %d, want %d", f.g.Len(), f.data.n())
			}
			all := func(uint32) bool { return true }
			truth := make([][]uint32, testQueries)
			got := make([][]Neighbor, testQueries)
			for i := range testQueries {
				q := f.queries.Vector(uint32(i))
				truth[i] = bruteForce(f.data, m.dist, q, testK, all)
				got[i] = f.g.Search(q, testK, 64, nil, nil)
				checkSorted(t, got[i])
			}
			r := recallAt(truth, got)
			t.Logf("%s n=%d recall@10 = %.4f", m.name, f.data.n(), r)
			if r < 0.98 {
				t.Fatalf("recall@10 = %.4f, want ≥ 0.98", r)
			}
		})
	}
}

// rejectHalf rejects a pseudo-random half of the ids.
func rejectHalf(id uint32) bool { return splitmix64(uint64(id))&1 == 0 }

func TestFilteredRecall(t *testing.T) {
	for mi, m := range metrics {
		t.Run(m.name+"/half_rejected_recall_ge_0.95", func(t *testing.T) {
			t.Parallel()
			f := sharedFixture(mi)
			truth := make([][]uint32, testQueries)
			got := make([][]Neighbor, testQueries)
			for i := range testQueries {
				q := f.queries.Vector(uint32(i))
				truth[i] = bruteForce(f.data, m.dist, q, testK, rejectHalf)
				got[i] = f.g.Search(q, testK, 64, rejectHalf, nil)
				for _, nb := range got[i] {
					if !rejectHalf(nb.ID) {
						t.Fatalf("returned rejected id %d", nb.ID)
					}
				}
				if len(got[i]) != testK {
					t.Fatalf("got %d results, want %d", len(got[i]), testK)
				}
			}
			r := recallAt(truth, got)
			t.Logf("%s filtered recall@10 = %.4f", m.name, r)
			if r < 0.95 {
				t.Fatalf("filtered recall@10 = %.4f, want ≥ 0.95", r)
			}
		})
	}
}

// A selective filter still yields k results: the beam widens until enough accepted
// nodes are found.
func TestSelectiveFilterStillReturnsK(t *testing.T) {
	f := sharedFixture(0)
	g, src := f.g, f.data
	for _, keepEvery := range []uint32{10, 100, 1000} {
		t.Run(fmt.Sprintf("one_in_%d_accepted", keepEvery), func(t *testing.T) {
			accept := func(id uint32) bool { return id%keepEvery == 0 }
			q := src.Vector(1)
			truth := bruteForce(src, negDot, q, testK, accept)
			got := g.Search(q, testK, 16, accept, nil)
			if len(got) != len(truth) {
				t.Fatalf("got %d results, want %d", len(got), len(truth))
			}
			if r := recallAt([][]uint32{truth}, [][]Neighbor{got}); r < 0.9 {
				t.Fatalf("recall %.2f, want ≥ 0.9", r)
			}
		})
	}
}

func TestRecallAfterDeletesAndReinserts(t *testing.T) {
	n := size(10000, 2000)
	for _, m := range metrics {
		t.Run(m.name+"/20pct_deleted_and_reinserted", func(t *testing.T) {
			t.Parallel()
			// ids n…n+n/5 hold copies of the vectors of the deleted ids: a re-insert is
			// a new id for the (new) vector, the old id is deleted.
			del := n / 5
			base := clustered(n+testQueries, testDim, testClusters, testSpread, 5, m.normalize)
			src := &memSource{dim: testDim, data: make([]float32, (n+del)*testDim)}
			copy(src.data, base.data[:n*testDim])
			g := newGraph(t, Options{Seed: 11}, m.dist, src)
			g.InsertBatch(idRange(0, n), 0)

			deleted := make([]bool, n+del)
			for i := range del {
				old := uint32(i * 5) // every fifth id
				copy(src.Vector(uint32(n+i)), src.Vector(old))
				g.Delete(old)
				deleted[old] = true
				g.Insert(uint32(n + i))
			}
			if g.Len() != n || g.Deleted() != del {
				t.Fatalf("Len, Deleted = %d, %d, want %d, %d", g.Len(), g.Deleted(), n, del)
			}
			if !g.NeedsCompact() {
				t.Fatal("NeedsCompact false with 16% tombstones")
			}
			alive := func(id uint32) bool { return !deleted[id] }
			check := func(stage string) {
				truth := make([][]uint32, testQueries)
				got := make([][]Neighbor, testQueries)
				for i := range testQueries {
					q := base.Vector(uint32(n + i))
					truth[i] = bruteForce(src, m.dist, q, testK, alive)
					got[i] = g.Search(q, testK, 64, nil, nil)
					for _, nb := range got[i] {
						if deleted[nb.ID] {
							t.Fatalf("%s: deleted id %d returned", stage, nb.ID)
						}
					}
				}
				r := recallAt(truth, got)
				t.Logf("%s %s recall@10 = %.4f", m.name, stage, r)
				if r < 0.98 {
					t.Fatalf("%s: recall@10 = %.4f, want ≥ 0.98", stage, r)
				}
			}
			check("with tombstones")
			st := g.Compact(0)
			if st.Dropped != del || g.Deleted() != 0 || g.NeedsCompact() {
				t.Fatalf("Compact: %+v, Deleted = %d", st, g.Deleted())
			}
			check("after compaction")
		})
	}
}
