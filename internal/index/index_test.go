package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// fastParams build small graphs quickly in tests that are not about the graph.
var fastParams = engine.Params{M: 8, EfConstruction: 32}

// testDB opens a DB whose collections do not measure their first-pass lead
// (LeadRecall -1): a measurement runs in the background and may switch a small
// collection of low-dimensional vectors to exact scan at any moment, which tests of the
// graph's own searches must not see. The measurement's tests (leadprobe_test.go) turn
// it on.
func testDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Options{Dir: t.TempDir(), LeadRecall: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func randBatch(r *rand.Rand, prefix string, n, dim int) *engine.Batch {
	b := &engine.Batch{Vectors: make([]float32, n*dim)}
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
	for _, m := range []engine.Metric{engine.Cosine, engine.Dot, engine.L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			c, err := db.create(engine.Config{Name: "c", Dim: 16, Metric: m, Params: fastParams})
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
			st, err := c.Search(context.Background(), q, engine.SearchOptions{Skip: func(_ uint32, id string, _ []string) bool { return skipped[id] }}, func(cd engine.Candidate) bool {
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
	c, _ := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine})
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
			c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot, Params: engine.Params{ExactThreshold: tc.threshold}})
			mk := func(ids []string, vs ...float32) *engine.Batch {
				return &engine.Batch{IDs: ids, Vectors: vs, Groups: [][]string{{"g1"}, nil}[:len(ids)]}
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

// rowKey identifies an (id, vector) pair by the vector's bits.
func rowKey(id string, v []float32) string {
	var b strings.Builder
	b.WriteString(id)
	for _, x := range v {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(math.Float32bits(x)), 16))
	}
	return b.String()
}

// Searches running while writers upsert and delete see each batch whole: every
// search holds the collection's read lock for its whole stream, so a search without a
// bound on its candidates yields exactly the live items of one moment, each with a
// vector its id was given and the score of that vector, and, of each writer, either
// none, all 20 ids or the 15 its last delete left, all from the same batch.
func TestConcurrentWritersAndSearches(t *testing.T) {
	const writers, batches, perBatch, dim = 4, 50, 20, 8
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.L2, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 40}})
	// written maps rowKey(id, vector) to the writer's batch that wrote it.
	var written sync.Map
	var wg sync.WaitGroup
	writing := make(chan struct{})
	var writersLeft atomic.Int32
	writersLeft.Store(writers)
	for w := range writers {
		wg.Go(func() {
			defer func() {
				if writersLeft.Add(-1) == 0 {
					close(writing)
				}
			}()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range batches {
				b := randBatch(r, "w"+strconv.Itoa(w)+"-", perBatch, dim)
				for j, id := range b.IDs {
					written.Store(rowKey(id, b.Row(j, dim)), i)
				}
				if _, err := db.Upsert("c", b, "items"); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if _, err := db.Delete("c", b.IDs[:5], "ids"); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}

	type hit struct {
		id     string
		score  float32
		vector []float32
	}
	// check verifies one search's candidates; full is set when the search had no
	// bound, so it yielded every live item.
	check := func(q []float32, hits []hit, st engine.SearchStats, full bool) error {
		seen := map[string]bool{}
		// batchOf[w] is the batch writer w's items came from; ids[w] how many.
		var batchOf, ids [writers]int
		for i := range batchOf {
			batchOf[i] = -1
		}
		low := [writers]int{}
		for _, h := range hits {
			if seen[h.id] {
				return fmt.Errorf("%s yielded twice", h.id)
			}
			seen[h.id] = true
			var w, j int
			if _, err := fmt.Sscanf(h.id, "w%d-%d", &w, &j); err != nil || w < 0 || w >= writers || j < 0 || j >= perBatch {
				return fmt.Errorf("unknown id %q", h.id)
			}
			b, ok := written.Load(rowKey(h.id, h.vector))
			if !ok {
				return fmt.Errorf("%s carries a vector it was never given", h.id)
			}
			if s := c.Similarity(q, h.vector); s != h.score {
				return fmt.Errorf("%s scored %v, its vector scores %v", h.id, h.score, s)
			}
			if batchOf[w] >= 0 && batchOf[w] != b.(int) {
				return fmt.Errorf("writer %d's items come from batches %d and %d in one search", w, batchOf[w], b.(int))
			}
			batchOf[w] = b.(int)
			ids[w]++
			if j < 5 {
				low[w]++
			}
		}
		if !full {
			if len(hits) > 50 || st.Ordered > 50 {
				return fmt.Errorf("%d yielded, %d ordered, with at most 50 candidates", len(hits), st.Ordered)
			}
			return nil
		}
		if st.Ordered != len(hits) {
			return fmt.Errorf("%d ordered, %d yielded", st.Ordered, len(hits))
		}
		if st.Exact && st.Widenings == 0 && !slices.IsSortedFunc(hits, func(a, b hit) int { return cmp.Compare(b.score, a.score) }) {
			return fmt.Errorf("exact scan not best-first")
		}
		for w := range writers {
			switch {
			case ids[w] == 0:
			case ids[w] == perBatch:
			case ids[w] == perBatch-5 && low[w] == 0 && batchOf[w]%5 == 0:
			default:
				return fmt.Errorf("writer %d: %d of its ids (%d of ids 0-4) from batch %d: a batch seen in part", w, ids[w], low[w], batchOf[w])
			}
		}
		return nil
	}

	var searches, graphSearches atomic.Int32
	maxSearches := 400
	if raceEnabled {
		maxSearches = 150
	}
	for s := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(s), 17))
			// Searches go on while the writers write (up to maxSearches, then wait for
			// them), and 20 more run against the final state, which is searched through
			// the graph.
			final := 0
			for n := 0; ; n++ {
				select {
				case <-writing:
					if final++; final > 20 {
						return
					}
				default:
					if n >= maxSearches {
						<-writing
					}
				}
				q, _ := c.PrepareQuery(randBatch(r, "q", 1, dim).Vectors, "q")
				full := n%2 == 0
				opts := engine.SearchOptions{Ef: 8 << (n % 3)}
				if !full {
					opts.MaxCandidates = 50
				}
				var hits []hit
				st, err := c.Search(context.Background(), q, opts, func(cd engine.Candidate) bool {
					hits = append(hits, hit{cd.ID, cd.Score, slices.Clone(cd.Vector)})
					return true
				})
				if err == nil {
					err = check(q, hits, st, full)
				}
				if err != nil {
					t.Errorf("search %d (%+v, %d yielded): %v", n, st, len(hits), err)
					return
				}
				searches.Add(1)
				if !st.Exact {
					graphSearches.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d searches checked, %d through the graph", searches.Load(), graphSearches.Load())
	if graphSearches.Load() == 0 {
		t.Error("no search went through the graph")
	}
	// Each writer reuses its 20 ids; its last batch re-inserts any deleted ones.
	if n := c.Stats().Items; n != writers*perBatch {
		t.Errorf("items = %d, want %d", n, writers*perBatch)
	}
}

func TestConfigValidation(t *testing.T) {
	db := testDB(t)
	for _, cfg := range []engine.Config{
		{Name: "", Dim: 4, Metric: engine.Cosine},
		{Name: "a/b", Dim: 4, Metric: engine.Cosine},
		{Name: "ok", Dim: 0, Metric: engine.Cosine},
		{Name: "ok", Dim: 4},
		{Name: "ok", Dim: 4, Metric: engine.Cosine, Params: engine.Params{M: 1000}},
		{Name: "ok", Dim: 4, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: -1}},
		{Name: "ok", Dim: 4, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: math.MaxUint32 + 1}},
	} {
		if _, err := db.create(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := db.create(engine.Config{Name: "ok", Dim: 4, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.create(engine.Config{Name: "ok", Dim: 4, Metric: engine.L2}); !errors.Is(err, engine.ErrCollectionExists) {
		t.Errorf("duplicate: %v", err)
	}
}

// TestEmptyWritesWriteNothing checks that an upsert of no items and a delete of no ids
// append no log record and answer with the collection's last write's sequence, on a
// stored collection and after writes to another one.
func TestEmptyWritesWriteNothing(t *testing.T) {
	db := testDB(t)
	for _, name := range []string{"a", "b"} {
		if _, err := db.create(engine.Config{Name: name, Dim: 4, Metric: engine.Cosine, Params: fastParams}); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	up, err := db.Upsert("a", randBatch(r, "x", 3, 4), "items")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("b", randBatch(r, "y", 3, 4), "items"); err != nil {
		t.Fatal(err)
	}
	last := db.wal.LastLSN()
	for i := range 3 {
		u, err := db.Upsert("a", &engine.Batch{}, "items")
		if err != nil || u.Sequence != up.Sequence || u.Inserted+u.Replaced != 0 {
			t.Fatalf("empty upsert %d: %+v, %v; want sequence %d and nothing applied", i, u, err, up.Sequence)
		}
		u, err = db.UpsertDeferred("a", &engine.Batch{}, "items")
		if err != nil || u.Sequence != up.Sequence {
			t.Fatalf("empty deferred upsert %d: %+v, %v; want sequence %d", i, u, err, up.Sequence)
		}
		d, err := db.Delete("a", nil, "ids")
		if err != nil || d.Sequence != up.Sequence || d.Deleted+d.NotFound != 0 {
			t.Fatalf("empty delete %d: %+v, %v; want sequence %d and nothing applied", i, d, err, up.Sequence)
		}
	}
	if got := db.wal.LastLSN(); got != last {
		t.Fatalf("empty writes appended log records: last LSN %d, was %d", got, last)
	}
	if st := db.collections["a"].Stats(); st.LastSequence != up.Sequence {
		t.Fatalf("last sequence %d after empty writes, want %d", st.LastSequence, up.Sequence)
	}
	if _, err := db.Upsert("nope", &engine.Batch{}, "items"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("empty upsert into a missing collection: %v, want not found", err)
	}
}
