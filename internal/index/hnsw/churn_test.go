package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// churnRecall re-embeds n items 30 times over, as a trainer does: in batches of 250,
// each item gets a new vector under an id reclaimed from Compact (or a new one), its
// old id is deleted, the new ids are inserted, and Compact runs once tombstones pass
// compactRatio. Vectors sit near 20 well-separated centres, so searches between
// clusters depend on the few links that join them. It runs on one goroutine, so the
// graph, and the recall@10 at ef 64 it returns, are the same on every run.
func churnRecall(t *testing.T, n, rounds int, compactRatio float64, seed uint64) float64 {
	const dim, batch, queries = 16, 250, 200
	r := rand.New(rand.NewPCG(seed, 77))
	centres := make([][]float32, 20)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range dim {
			centres[i][j] = float32(r.NormFloat64())
		}
	}
	near := func(v []float32) {
		c := centres[r.IntN(len(centres))]
		for j := range v {
			v[j] = c[j] + 0.3*float32(r.NormFloat64())
		}
		vec.Normalize(v)
	}
	src := &memSource{dim: dim, data: make([]float32, 4*n*dim)}
	g := newGraph(t, Options{M: 8, EfConstruction: 64, Seed: 5, CompactRatio: compactRatio}, negDot, src)
	var free []uint32
	next := uint32(0)
	take := func() uint32 {
		if k := len(free); k > 0 {
			id := free[k-1]
			free = free[:k-1]
			if !g.Reclaim(id) {
				t.Fatalf("dropped id %d not reclaimed", id)
			}
			return id
		}
		next++
		return next - 1
	}
	idOf := make([]uint32, n)
	for i := range idOf {
		idOf[i] = take()
		near(src.Vector(idOf[i]))
	}
	g.InsertBatch(idOf, 1)
	for range rounds {
		for lo := 0; lo < n; lo += batch {
			var ins []uint32
			for i := lo; i < min(n, lo+batch); i++ {
				g.Delete(idOf[i])
				idOf[i] = take()
				near(src.Vector(idOf[i]))
				ins = append(ins, idOf[i])
			}
			g.InsertBatch(ins, 1)
			if g.NeedsCompact() {
				free = append(free, g.Compact(1).DroppedIDs...)
			}
		}
	}
	live := make([]bool, src.n())
	for _, id := range idOf {
		live[id] = true
	}
	var truth [][]uint32
	var got [][]Neighbor
	q := make([]float32, dim)
	for range queries {
		near(q)
		truth = append(truth, bruteForce(src, negDot, q, 10, func(id uint32) bool { return live[id] }))
		got = append(got, g.Search(q, 10, 64, nil, nil))
	}
	return recallAt(truth, got)
}

// A full list keeps its tombstones in the room its live links and the new link leave,
// so that Compact replaces each by its own links: that is how links between clusters
// survive churn. Lists that shed their tombstones when they filled cut clusters off
// from each other once every vector had been replaced: with Compact at 30% tombstones
// (a background Compact that falls behind the writer), recall@10 over these four
// corpora measured 0.9700, 0.9645, 0.9305 and 0.9525 (mean 0.9544) against 1.0000
// for a fresh graph; keeping them, 0.9735, 0.9635, 0.9610 and 0.9490 (mean 0.9618).
// The runs are deterministic; under the race detector, where one takes over a minute,
// only the third corpus runs (0.9305 against 0.9610).
func TestChurnKeepsClustersJoined(t *testing.T) {
	sum := 0.0
	seeds := []uint64{1, 2, 3, 4}
	if raceEnabled {
		seeds = seeds[2:3]
	}
	for _, seed := range seeds {
		rc := churnRecall(t, 2000, 30, 0.3, seed)
		t.Logf("corpus %d: recall@10 after churn %.4f", seed, rc)
		sum += rc
	}
	if mean := sum / float64(len(seeds)); mean < 0.958 {
		t.Errorf("mean recall@10 after churn = %.4f, want ≥ 0.958", mean)
	}
}
