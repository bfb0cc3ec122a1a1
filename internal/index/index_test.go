package index

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/internal/validate"
)

// fastParams build small graphs quickly in tests that are not about the graph.
var fastParams = Params{M: 8, EfConstruction: 32}

func testDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func randBatch(r *rand.Rand, prefix string, n, dim int) *Batch {
	b := &Batch{Vectors: make([]float32, n*dim)}
	for i := range n {
		b.IDs = append(b.IDs, prefix+strconv.Itoa(i))
	}
	for i := range b.Vectors {
		b.Vectors[i] = float32(r.NormFloat64())
	}
	return b
}

// bruteForce returns all live ids ordered by score, the oracle for Search.
func bruteForce(c *Collection, q []float32) []string {
	type pair struct {
		id    string
		slot  uint32
		score float32
	}
	var ps []pair
	for id, slot := range c.slots {
		ps = append(ps, pair{id, slot, c.Similarity(q, c.vectorAt(slot))})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].score != ps[j].score {
			return ps[i].score > ps[j].score
		}
		return ps[i].slot < ps[j].slot
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}

func TestExactSearchMatchesBruteForce(t *testing.T) {
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			c, err := db.CreateCollection(Config{Name: "c", Dim: 16, Metric: m, Params: fastParams})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(7, uint64(m)))
			if _, err := db.Upsert("c", randBatch(r, "a", 500, 16), "items"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Delete("c", []string{"a3", "a17", "a400"}, "ids"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Upsert("c", randBatch(r, "b", 50, 16), "items"); err != nil {
				t.Fatal(err)
			}
			q, err := c.PrepareQuery(randBatch(r, "q", 1, 16).Vectors, "q")
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForce(c, q)
			var got []string
			ranks := 0
			skipped := map[string]bool{want[0]: true, want[5]: true}
			st, err := c.Search(context.Background(), q, SearchOptions{Skip: func(_ uint32, id string, _ []string) bool { return skipped[id] }}, func(cd Candidate) bool {
				got = append(got, cd.ID)
				if cd.Rank != slices.Index(want, cd.ID) {
					t.Fatalf("rank of %s = %d, want %d", cd.ID, cd.Rank, slices.Index(want, cd.ID))
				}
				ranks++
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			wantYield := slices.DeleteFunc(slices.Clone(want), func(id string) bool { return skipped[id] })
			if !slices.Equal(got, wantYield) {
				t.Fatalf("search order differs from brute force")
			}
			if !st.Exact || st.Ordered != len(want) || len(want) != 547 {
				t.Errorf("stats %+v, %d live", st, len(want))
			}
		})
	}
}

func TestRejectedBatchChangesNothing(t *testing.T) {
	db := testDB(t)
	c, _ := db.CreateCollection(Config{Name: "c", Dim: 4, Metric: Cosine})
	r := rand.New(rand.NewPCG(1, 1))
	b := randBatch(r, "x", 10, 4)
	clear(b.Row(7, 4))
	_, err := db.Upsert("c", b, "items")
	var verr *validate.Error
	if !errors.As(err, &verr) || verr.Violations[0].Field != "items.vectors[7]" {
		t.Fatalf("err = %v, want a violation on items.vectors[7]", err)
	}
	if n := c.Stats().Items; n != 0 {
		t.Fatalf("%d items after a rejected batch", n)
	}
}

func TestUpsertReplacesAndDeleteRetiresSlots(t *testing.T) {
	type slots struct{ slots, free int }
	for _, tc := range []struct {
		name      string
		threshold int
		// after the replacement (and compaction), and after a delete and an insert
		replaced, reused slots
	}{
		// With a graph the replacement takes a new slot; the old one is a tombstone
		// until the background compaction (a third of the nodes are tombstones) drops
		// it and frees it. After that, a, b, a again; c reuses a freed slot.
		{"graph", 1, slots{3, 1}, slots{3, 1}},
		// Without a graph a retired slot is free at once: the replacement reuses it,
		// and so does c after a's delete.
		{"no graph", 0, slots{2, 0}, slots{2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testDB(t)
			c, _ := db.CreateCollection(Config{Name: "c", Dim: 2, Metric: Dot, Params: Params{ExactThreshold: tc.threshold}})
			mk := func(ids []string, vs ...float32) *Batch {
				return &Batch{IDs: ids, Vectors: vs, Groups: [][]string{{"g1"}, nil}[:len(ids)]}
			}
			if res, err := db.Upsert("c", mk([]string{"a", "b"}, 1, 0, 0, 1), "items"); err != nil || res.Inserted != 2 {
				t.Fatal(res, err)
			}
			if res, err := db.Upsert("c", mk([]string{"a"}, 5, 5), "items"); err != nil || res.Replaced != 1 {
				t.Fatal(res, err)
			}
			items, missing := c.Get([]string{"a", "zz"}, true)
			if len(items) != 1 || !slices.Equal(items[0].Vector, []float32{5, 5}) || !slices.Equal(items[0].Groups, []string{"g1"}) || len(missing) != 1 {
				t.Fatalf("get = %+v, %v", items, missing)
			}
			c.wait()
			if st := c.Stats(); st.Slots != tc.replaced.slots || st.FreeSlots != tc.replaced.free || st.Tombstones != 0 || st.Items != 2 || st.GraphBuilt != (tc.threshold == 1) {
				t.Fatalf("stats after replacing = %+v, want %+v and 2 items", st, tc.replaced)
			}
			db.Delete("c", []string{"a"}, "ids")
			c.wait()
			db.Upsert("c", mk([]string{"c"}, 2, 2), "items")
			if st := c.Stats(); st.Slots != tc.reused.slots || st.FreeSlots != tc.reused.free || st.Items != 2 {
				t.Errorf("stats = %+v, want %+v and 2 items", st, tc.reused)
			}
			items, missing = c.Get([]string{"a", "b", "c"}, true)
			if len(items) != 2 || !slices.Equal(items[1].Vector, []float32{2, 2}) || items[1].Groups[0] != "g1" || len(missing) != 1 {
				t.Fatalf("get after reuse = %+v, %v", items, missing)
			}
		})
	}
}

func TestConcurrentWritersAndSearches(t *testing.T) {
	db := testDB(t)
	c, _ := db.CreateCollection(Config{Name: "c", Dim: 8, Metric: L2, Params: Params{M: 8, EfConstruction: 32, ExactThreshold: 40}})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 50 {
				b := randBatch(r, "w"+strconv.Itoa(w)+"-", 20, 8)
				if _, err := db.Upsert("c", b, "items"); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					db.Delete("c", b.IDs[:5], "ids")
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := make([]float32, 8)
			for range 100 {
				n := 0
				c.Search(context.Background(), q, SearchOptions{MaxCandidates: 50}, func(Candidate) bool { n++; return true })
			}
		}()
	}
	wg.Wait()
	// Each writer reuses its 20 ids; its last batch re-inserts any deleted ones.
	if n := c.Stats().Items; n != 80 {
		t.Errorf("items = %d, want 80", n)
	}
}

func TestConfigValidation(t *testing.T) {
	db := testDB(t)
	for _, cfg := range []Config{
		{Name: "", Dim: 4, Metric: Cosine},
		{Name: "a/b", Dim: 4, Metric: Cosine},
		{Name: "ok", Dim: 0, Metric: Cosine},
		{Name: "ok", Dim: 4},
		{Name: "ok", Dim: 4, Metric: Cosine, Params: Params{M: 1000}},
		{Name: "ok", Dim: 4, Metric: Cosine, Params: Params{ExactThreshold: -1}},
		{Name: "ok", Dim: 4, Metric: Cosine, Params: Params{ExactThreshold: math.MaxUint32 + 1}},
	} {
		if _, err := db.CreateCollection(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := db.CreateCollection(Config{Name: "ok", Dim: 4, Metric: L2}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCollection(Config{Name: "ok", Dim: 4, Metric: L2}); !errors.Is(err, ErrCollectionExists) {
		t.Errorf("duplicate: %v", err)
	}
}
