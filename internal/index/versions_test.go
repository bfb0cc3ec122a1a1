package index

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

func TestVersionStatsCountLiveItemsOnly(t *testing.T) {
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	b := &engine.Batch{IDs: []string{"a", "b", "c", "d"}, Vectors: []float32{1, 0, 0, 1, 1, 1, 2, 1}, Versions: []int64{3, 10, 7, 1}}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete("c", []string{"d"}, "ids"); err != nil {
		t.Fatal(err)
	}
	// Live: a 3, b 10, c 7 → staleness 7, 0, 3.
	st := c.VersionStats()
	if st.Items != 3 || st.Oldest != 3 || st.Newest != 10 || st.StalenessSum != 10 || c.NewestVersion() != 10 {
		t.Fatalf("stats %+v, newest %d", st, c.NewestVersion())
	}
	// Bounds 0, 1, 2, 5, 10, …: cumulative 1 (b), 1, 1, 2 (+c at 3), 3 (+a at 7), …
	if want := []uint64{1, 1, 1, 2, 3}; !slices.Equal(st.Staleness[:5], want) || st.Staleness[len(st.Staleness)-1] != 3 {
		t.Errorf("staleness histogram %v", st.Staleness)
	}
	var seen []string
	c.RangeVersions(func(id string, v int64) bool {
		seen = append(seen, id)
		return true
	})
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"a", "b", "c"}) {
		t.Errorf("ranged %v", seen)
	}
	// Candidates carry their version.
	q, _ := c.PrepareQuery([]float32{0, 1}, "q")
	got := map[string]int64{}
	if _, err := c.Search(context.Background(), q, engine.SearchOptions{}, func(cd engine.Candidate) bool {
		got[cd.ID] = cd.Version
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if got["a"] != 3 || got["b"] != 10 || got["c"] != 7 || len(got) != 3 {
		t.Errorf("candidate versions %v", got)
	}
	empty, _ := db.create(engine.Config{Name: "e", Dim: 2, Metric: engine.Dot})
	if st := empty.VersionStats(); st.Items != 0 || st.Newest != 0 || st.Staleness[len(st.Staleness)-1] != 0 {
		t.Errorf("empty collection %+v", st)
	}
}

func TestVersionsSummariseLiveItems(t *testing.T) {
	db := testDB(t)
	if _, err := db.create(engine.Config{Name: "v", Dim: 2, Metric: engine.Dot}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("v")
	if s := c.Versions(3); s.Distinct != 0 || s.Newest != nil {
		t.Fatalf("empty collection: %+v", s)
	}
	b := &engine.Batch{}
	// Versions 1 (3 items), 2 (2), 5 (1), 9 (1); item "i6" (version 9) is deleted below.
	for i, v := range []int64{1, 1, 1, 2, 2, 5, 9} {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, 1, float32(i))
		b.Versions = append(b.Versions, v)
	}
	if _, err := db.Upsert("v", b, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete("v", []string{"i6"}, "ids"); err != nil {
		t.Fatal(err)
	}
	s := c.Versions(2)
	if s.Min != 1 || s.Max != 5 || s.Distinct != 3 {
		t.Fatalf("summary %+v: want min 1, max 5, 3 distinct", s)
	}
	if want := []engine.VersionCount{{Version: 5, Items: 1}, {Version: 2, Items: 2}}; !slices.Equal(s.Newest, want) {
		t.Fatalf("newest %v, want %v", s.Newest, want)
	}
}

// TestVersionStatsAtTheEndsOfTheRange: the staleness of an item at the bottom of the
// int64 range under an item at the top is beyond every bound, not wrapped below zero.
func TestVersionStatsAtTheEndsOfTheRange(t *testing.T) {
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	b := &engine.Batch{IDs: []string{"min", "max"}, Vectors: []float32{1, 0, 0, 1}, Versions: []int64{math.MinInt64, math.MaxInt64}}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	st := c.VersionStats()
	if st.Staleness[0] != 1 || st.Staleness[len(st.Staleness)-1] != 1 || st.StalenessSum != math.MaxInt64 {
		t.Errorf("staleness histogram %v, sum %g; want max alone at 0 and min beyond every bound", st.Staleness, st.StalenessSum)
	}
}

// TestNewestVersionFollowsWrites checks the kept newest version against a scan of the
// live items after random upserts, replacements and deletes (the newest item leaving
// included), across a snapshot and a reopen, and in VersionStats.
func TestNewestVersionFollowsWrites(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	if _, err := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 9))
	live := map[string]int64{}
	check := func(step int) {
		t.Helper()
		c, _ := db.lookup("c")
		want, any := int64(0), false
		for _, v := range live {
			if !any || v > want {
				want, any = v, true
			}
		}
		if got := c.NewestVersion(); got != want {
			t.Fatalf("step %d: NewestVersion %d, want %d (%d live)", step, got, want, len(live))
		}
		if st := c.VersionStats(); st.Newest != want || st.Items != len(live) {
			t.Fatalf("step %d: VersionStats newest %d items %d, want %d %d", step, st.Newest, st.Items, want, len(live))
		}
	}
	check(-1)
	for step := range 400 {
		id := "i" + strconv.Itoa(r.IntN(20))
		switch r.IntN(3) {
		case 0, 1:
			v := int64(r.IntN(41) - 20)
			if _, err := db.Upsert("c", &engine.Batch{IDs: []string{id}, Vectors: []float32{1, float32(step)}, Versions: []int64{v}}, "items"); err != nil {
				t.Fatal(err)
			}
			live[id] = v
		case 2:
			if _, err := db.Delete("c", []string{id}, "ids"); err != nil {
				t.Fatal(err)
			}
			delete(live, id)
		}
		check(step)
		if step == 200 {
			if _, err := db.Snapshot(context.Background(), "c"); err != nil {
				t.Fatal(err)
			}
			closeDB(t, db)
			db = openDB(t, Options{Dir: dir})
			check(step)
		}
	}
	closeDB(t, db)
}

// TestNewestVersionStaysKnownAcrossReplacements: replacing the item holding the newest
// version with one as new (or newer), or deleting one of several items holding it,
// keeps the kept value; only the last item of the newest version leaving needs a scan.
func TestNewestVersionStaysKnownAcrossReplacements(t *testing.T) {
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	up := func(id string, v int64) {
		t.Helper()
		if _, err := db.Upsert("c", &engine.Batch{IDs: []string{id}, Vectors: []float32{1, 2}, Versions: []int64{v}}, "items"); err != nil {
			t.Fatal(err)
		}
	}
	known := func() bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return c.newestKnown
	}
	if c.NewestVersion() != 0 || !known() {
		t.Fatal("empty collection: newest not kept as 0")
	}
	up("a", 5)
	up("b", 3)
	up("a", 5) // same version
	if !known() || c.NewestVersion() != 5 {
		t.Fatalf("after replacing a with the same version: known %v, newest %d", known(), c.NewestVersion())
	}
	up("a", 7) // newer
	if !known() || c.NewestVersion() != 7 {
		t.Fatalf("after replacing a with a newer version: known %v, newest %d", known(), c.NewestVersion())
	}
	up("c", 7)
	if _, err := db.Delete("c", []string{"a"}, "ids"); err != nil {
		t.Fatal(err)
	}
	if !known() || c.NewestVersion() != 7 {
		t.Fatalf("after deleting one of two items of the newest version: known %v, newest %d", known(), c.NewestVersion())
	}
	up("c", 1) // the last item of version 7 goes back to 1
	if known() {
		t.Fatal("the last item of the newest version left, and the kept value still reads as known")
	}
	if c.NewestVersion() != 3 || !known() {
		t.Fatalf("after the scan: newest %d, known %v; want 3, true", c.NewestVersion(), known())
	}
}
