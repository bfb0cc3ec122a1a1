package hnsw

import (
	"errors"
	"testing"
)

func TestNewValidatesOptions(t *testing.T) {
	src := clustered(1, 4, 1, 0, 1, true)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"M_too_small", Options{M: 1}},
		{"M_too_large", Options{M: 1000}},
		{"EfConstruction_below_M", Options{M: 16, EfConstruction: 8}},
		{"negative_EfSearch", Options{EfSearch: -1}},
		{"CompactRatio_above_1", Options{CompactRatio: 1.5}},
		{"negative_CompactRatio", Options{CompactRatio: -0.1}},
	} {
		t.Run(tc.name+"_is_rejected", func(t *testing.T) {
			if _, err := New(tc.opts, negDot, src); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
		})
	}
	t.Run("zero_value_means_defaults", func(t *testing.T) {
		g := newGraph(t, Options{}, negDot, src)
		want := Options{M: 16, EfConstruction: 200, EfSearch: 64, CompactRatio: 0.1}
		if g.Options() != want {
			t.Fatalf("Options = %+v, want %+v", g.Options(), want)
		}
	})
	t.Run("nil_distance_is_rejected", func(t *testing.T) {
		if _, err := New(Options{}, nil, src); !errors.Is(err, ErrNilArgument) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSmallGraphs(t *testing.T) {
	src := clustered(100, 8, 3, 0.2, 3, true)
	t.Run("empty_graph_returns_nothing", func(t *testing.T) {
		g := newGraph(t, Options{}, negDot, src)
		if res := g.Search(src.Vector(0), 5, 0, nil, nil); len(res) != 0 {
			t.Fatalf("got %v", res)
		}
	})
	t.Run("k_above_size_returns_all_exactly", func(t *testing.T) {
		g := newGraph(t, Options{}, negDot, src)
		g.InsertBatch(idRange(0, 7), 2)
		res := g.Search(src.Vector(50), 10, 0, nil, nil)
		truth := bruteForce(&memSource{8, src.data[:7*8]}, negDot, src.Vector(50), 10, func(uint32) bool { return true })
		if len(res) != 7 {
			t.Fatalf("got %d results, want 7", len(res))
		}
		for i := range res {
			if res[i].ID != truth[i] {
				t.Fatalf("result %d = %d, want %d", i, res[i].ID, truth[i])
			}
		}
	})
	t.Run("duplicate_insert_and_unknown_delete_do_nothing", func(t *testing.T) {
		g := newGraph(t, Options{}, negDot, src)
		g.Insert(3)
		g.Insert(3)
		g.Delete(99)
		g.Delete(1 << 30)
		if g.Len() != 1 || g.Deleted() != 0 {
			t.Fatalf("Len, Deleted = %d, %d", g.Len(), g.Deleted())
		}
		g.Delete(3)
		g.Delete(3)
		g.Insert(3) // ids are not reused
		if g.Len() != 0 || g.Deleted() != 1 || g.Contains(3) {
			t.Fatalf("Len, Deleted, Contains = %d, %d, %v", g.Len(), g.Deleted(), g.Contains(3))
		}
	})
	t.Run("all_deleted_then_compacted_then_reinserted", func(t *testing.T) {
		g := newGraph(t, Options{M: 4, EfConstruction: 8}, negDot, src)
		g.InsertBatch(idRange(0, 50), 2)
		for id := range uint32(50) {
			g.Delete(id)
		}
		if res := g.Search(src.Vector(0), 5, 0, nil, nil); len(res) != 0 {
			t.Fatalf("deleted ids returned: %v", res)
		}
		if st := g.Compact(0); st.Dropped != 50 {
			t.Fatalf("Compact dropped %d, want 50", st.Dropped)
		}
		g.InsertBatch(idRange(50, 100), 2)
		res := g.Search(src.Vector(70), 5, 0, nil, nil)
		if len(res) != 5 || res[0].ID != 70 {
			t.Fatalf("after re-insert got %v, want 5 results led by 70", res)
		}
	})
	t.Run("insert_beside_tombstones_still_links", func(t *testing.T) {
		g := newGraph(t, Options{M: 4, EfConstruction: 8}, negDot, src)
		g.InsertBatch(idRange(0, 50), 1)
		for id := range uint32(50) {
			g.Delete(id)
		}
		g.InsertBatch(idRange(50, 100), 1)
		for id := uint32(50); id < 100; id++ {
			if res := g.Search(src.Vector(id), 1, 0, nil, nil); len(res) != 1 || res[0].ID != id {
				t.Fatalf("search for %d got %v", id, res)
			}
		}
	})
}

func TestLevelsFollowTheMultiplier(t *testing.T) {
	g := newGraph(t, Options{M: 16, Seed: 5}, negDot, clustered(1, 4, 1, 0, 1, true))
	const n = 200000
	above := 0
	for id := range uint32(n) {
		if g.randomLevel(id) > 0 {
			above++
		}
	}
	// P(level ≥ 1) = exp(-1/mL) = 1/M.
	if got, want := float64(above)/n, 1.0/16; got < want*0.9 || got > want*1.1 {
		t.Fatalf("share of nodes above layer 0 = %.4f, want ≈ %.4f", got, want)
	}
}

func TestSearchDoesNotAllocate(t *testing.T) {
	f := sharedFixture(2)
	dst := make([]Neighbor, 0, 10)
	q := f.queries.Vector(0)
	f.g.Search(q, 10, 64, nil, dst) // warm the searcher pool
	for _, tc := range []struct {
		name   string
		accept func(uint32) bool
	}{{"unfiltered", nil}, {"filtered", rejectHalf}} {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(50, func() { dst = f.g.Search(q, 10, 64, tc.accept, dst) }); a != 0 {
				t.Fatalf("%.1f allocations per search, want 0", a)
			}
		})
	}
}

func TestMemoryBytesPerNode(t *testing.T) {
	f := sharedFixture(0)
	perNode := float64(f.g.MemoryBytes()) / float64(f.g.Len())
	t.Logf("%.0f B/node at M 16 over %d nodes", perNode, f.g.Len())
	// hnswlib holds ≈ 275 B/node at M 16; the target is at most twice that.
	if perNode > 550 {
		t.Fatalf("%.0f B/node, want ≤ 550", perNode)
	}
}
