package mining

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// filteredWorld stores near items around a query q, all in group "near", and far items
// spread at random, in a cosine collection searched through its HNSW graph, and
// returns it with q. An anchor q in group "near" has its best near candidates removed
// by group exclusion: the first survivors come after them.
func filteredWorld(t testing.TB, near, far, dim int) (engine.Collection, []float32) {
	r := rand.New(rand.NewPCG(21, 3))
	q := randVec(r, dim, 1)
	b := &engine.Batch{}
	for i := range near + far {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		if i < near {
			b.Vectors = append(b.Vectors, jitter(r, q, 0.3)...)
			b.Groups = append(b.Groups, []string{"near"})
		} else {
			b.Vectors = append(b.Vectors, randVec(r, dim, 1)...)
			b.Groups = append(b.Groups, nil)
		}
	}
	db, err := index.Open(index.Options{Dir: t.TempDir(), LeadRecall: -1}) // the graph searched, widening, however weak
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// A small graph builds quickly (under the race detector too); the test is about how
	// the search widens, not about the graph's recall.
	params := engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 1}
	c, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(b.IDs); lo += 10000 {
		hi := min(lo+10000, len(b.IDs))
		part := &engine.Batch{IDs: b.IDs[lo:hi], Vectors: b.Vectors[lo*dim : hi*dim], Groups: b.Groups[lo:hi]}
		if _, err := db.Upsert("c", part, "items"); err != nil {
			t.Fatal(err)
		}
	}
	return c, q
}

// TestHeavyFilteringWidensOnlyAsDeepAsTheFloor mines an anchor whose 4,500 best
// candidates share its group. With a hardness floor of 5,000 ranks the graph passes
// widen to the floor and find the survivors beyond the group without an exact scan of
// the collection (before, widening doubled to ef 2,048 and then scanned everything);
// with the default floor (200) the anchor stops there, short, also without one. Both
// read the Recorder's counters, which the server exports as
// hardneg_mine_exact_fallbacks_total.
func TestHeavyFilteringWidensOnlyAsDeepAsTheFloor(t *testing.T) {
	const near = 4500
	c, q := filteredWorld(t, near, 15500, 32)
	mine := func(t *testing.T, maxRank int) (Result, Stats) {
		pol := DefaultPolicy()
		pol.NumNegatives, pol.MaxRank = 8, maxRank
		res, err := Mine(context.Background(), c, Request{Anchors: []Anchor{{Vector: q, Groups: []string{"near"}}}, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		var rec Recorder
		rec.Record(res)
		return res[0], rec.Snapshot()
	}
	t.Run("a floor beyond the filtered candidates is reached through the graph", func(t *testing.T) {
		res, st := mine(t, 5000)
		if st.ExactFallbacks != 0 || st.ExactScans != 0 || res.ExactScan {
			t.Errorf("exact fallbacks %d, exact scans %d; want 0 (widenings %d, examined %d)", st.ExactFallbacks, st.ExactScans, res.Widenings, res.Examined)
		}
		if len(res.Negatives) != 8 || res.Removed.SameGroup < near*9/10 {
			t.Errorf("%d negatives after %d same-group removals; want 8 after most of the %d", len(res.Negatives), res.Removed.SameGroup, near)
		}
		if res.Widenings == 0 {
			t.Errorf("no widening: the first pass cannot reach past %d filtered candidates", near)
		}
	})
	t.Run("the default floor stops the search short without a scan", func(t *testing.T) {
		res, st := mine(t, 0)
		if st.ExactFallbacks != 0 || res.ExactScan {
			t.Errorf("exact fallbacks %d; want 0", st.ExactFallbacks)
		}
		if !res.FloorReached || st.FloorsReached != 1 || res.Shortfall != 8 {
			t.Errorf("floor reached %v (counted %d), shortfall %d; want true, 1, 8", res.FloorReached, st.FloorsReached, res.Shortfall)
		}
	})
	t.Run("with the floor off the search falls back and counts it", func(t *testing.T) {
		res, st := mine(t, NoMaxRank)
		if st.ExactFallbacks != 1 || !res.ExactFallback || len(res.Negatives) != 8 {
			t.Errorf("exact fallbacks %d (%v), %d negatives; want 1, true, 8", st.ExactFallbacks, res.ExactFallback, len(res.Negatives))
		}
	})
}
