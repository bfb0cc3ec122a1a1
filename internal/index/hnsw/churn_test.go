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
func churnRecall(t *testing.T, n, rounds int, compactRatio, alpha float64, seed uint64) float64 {
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
	g.UseSpace(SpaceUnitNegDot, alpha)
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

// A churned graph keeps its regions joined at layer 0. With the plain heuristic
// (alpha 1) it did not: after 10 to 30 rounds only about 100 of the 2,000 live nodes
// were reachable at layer 0 from the entry point (one cluster of 20; a fresh graph
// reaches all), searches between clusters relied on the upper layers alone, and
// recall@10 over these four corpora measured 0.9735, 0.9635, 0.9610 and 0.9490 (mean
// 0.9618) against 1.0000 for a fresh graph. The cause: a repair drops the link that
// bridged to another region for a nearer node that has no link there. With
// DefaultPruneAlpha in the repairs: 1.0000, 0.9995, 1.0000 and 1.0000 (2026-12-01).
// Before the lists kept their tombstones in the room left (a full list re-selects
// its live links and keeps its tombstones so that Compact replaces each by its own
// links), the plain heuristic measured 0.9700, 0.9645, 0.9305 and 0.9525.
// The runs are deterministic; under the race detector, where one takes over a minute,
// only the third corpus runs, with DefaultPruneAlpha alone (make test runs the whole
// test without the race detector as well).
func TestChurnKeepsClustersJoined(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if raceEnabled {
		seeds = seeds[2:3]
	}
	mean := func(alpha float64) float64 {
		sum := 0.0
		for _, seed := range seeds {
			rc := churnRecall(t, 2000, 30, 0.3, alpha, seed)
			t.Logf("alpha %.2f, corpus %d: recall@10 after churn %.4f", alpha, seed, rc)
			sum += rc
		}
		return sum / float64(len(seeds))
	}
	if m := mean(DefaultPruneAlpha); m < 0.995 {
		t.Errorf("mean recall@10 after churn = %.4f with alpha %.2f, want ≥ 0.995", m, DefaultPruneAlpha)
	}
	if raceEnabled {
		return
	}
	// The plain heuristic on the same corpora: the churn reaches the case the
	// relaxation is for.
	if m := mean(1); m >= 0.99 {
		t.Errorf("mean recall@10 after churn = %.4f with alpha 1, want < 0.99: the corpus no longer splits the plain heuristic's graph", m)
	}
}
