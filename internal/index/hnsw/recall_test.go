package hnsw

import (
	"fmt"
	"testing"
)

const (
	testDim      = 64
	testClusters = 50
	testSpread   = 0.12
	testQueries  = 200
	testK        = 10
)

// queriesFrom draws query vectors from the same distribution as the data.
func queriesFrom(m metric, seed uint64) *memSource {
	return clustered(testQueries, testDim, testClusters, testSpread, seed, m.normalize)
}

func TestRecallAgainstBruteForce(t *testing.T) {
	n := size(20000, 3000)
	for _, m := range metrics {
		t.Run(m.name+"/recall_at_10_ge_0.98_at_ef_64", func(t *testing.T) {
			t.Parallel()
			src := clustered(n, testDim, testClusters, testSpread, 1, m.normalize)
			qs := queriesFrom(m, 1) // same seed: same centres, different points
			qs = clustered(n+testQueries, testDim, testClusters, testSpread, 1, m.normalize)
			g := newGraph(t, Options{Seed: 7}, m.dist, src)
			g.InsertBatch(idRange(0, n), 0)
			if g.Len() != n {
				t.Fatalf("Len = %d, want %d", g.Len(), n)
			}
			all := func(uint32) bool { return true }
			truth := make([][]uint32, testQueries)
			got := make([][]Neighbor, testQueries)
			for i := range testQueries {
				q := qs.Vector(uint32(n + i))
				truth[i] = bruteForce(src, m.dist, q, testK, all)
				got[i] = g.Search(q, testK, 64, nil, nil)
				checkSorted(t, got[i])
			}
			r := recallAt(truth, got)
			t.Logf("%s n=%d recall@10 = %.4f", m.name, n, r)
			if r < 0.98 {
				t.Fatalf("recall@10 = %.4f, want ≥ 0.98", r)
			}
		})
	}
}

// rejectHalf rejects a pseudo-random half of the ids.
func rejectHalf(id uint32) bool { return splitmix64(uint64(id))&1 == 0 }

func TestFilteredRecall(t *testing.T) {
	n := size(20000, 3000)
	for _, m := range metrics {
		t.Run(m.name+"/half_rejected_recall_ge_0.95", func(t *testing.T) {
			t.Parallel()
			all := clustered(n+testQueries, testDim, testClusters, testSpread, 2, m.normalize)
			src := &memSource{dim: testDim, data: all.data[:n*testDim]}
			g := newGraph(t, Options{Seed: 3}, m.dist, src)
			g.InsertBatch(idRange(0, n), 0)
			truth := make([][]uint32, testQueries)
			got := make([][]Neighbor, testQueries)
			for i := range testQueries {
				q := all.Vector(uint32(n + i))
				truth[i] = bruteForce(src, m.dist, q, testK, rejectHalf)
				got[i] = g.Search(q, testK, 64, rejectHalf, nil)
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
	n := size(5000, 1500)
	src := clustered(n, testDim, testClusters, testSpread, 4, true)
	g := newGraph(t, Options{}, negDot, src)
	g.InsertBatch(idRange(0, n), 0)
	for _, keepEvery := range []uint32{10, 100, 500} {
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
	n := size(20000, 3000)
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
