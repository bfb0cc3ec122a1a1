package index

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// codeOf returns the int8 code that vec.Int8Codes gives v, computed afresh.
func codeOf(v []float32) ([]int8, float32) {
	t := vec.NewInt8Codes(len(v))
	t.Set(0, v)
	return t.Code(0)
}

// checkCodes fails unless every slot that holds a vector (live, or a graph node that
// still routes) has the code of its current vector.
func checkCodes(t *testing.T, c *Collection) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for slot := range uint32(len(c.ids)) {
		if c.ids[slot] == "" && !(c.graph.Inserted(slot) && !c.graph.IsDropped(slot)) {
			continue
		}
		got, gs := c.vectors.graphCodes.Code(slot)
		want, ws := codeOf(c.vectorAt(slot))
		if gs != ws || !slices.Equal(got, want) {
			t.Fatalf("slot %d (%q): code is not its vector's", slot, c.ids[slot])
		}
	}
}

func TestQuantizationDefaultsAndValidation(t *testing.T) {
	db := testDB(t)
	for _, tc := range []struct {
		metric engine.Metric
		set    engine.Quantization
		want   engine.Quantization
	}{
		{engine.Cosine, engine.QuantizationUnspecified, engine.QuantizationInt8},
		{engine.Dot, engine.QuantizationUnspecified, engine.QuantizationInt8},
		{engine.L2, engine.QuantizationUnspecified, engine.QuantizationNone},
		{engine.Cosine, engine.QuantizationNone, engine.QuantizationNone},
		{engine.Dot, engine.QuantizationInt8, engine.QuantizationInt8},
	} {
		name := tc.metric.String() + "-" + tc.set.String()
		c, err := db.create(engine.Config{Name: name, Dim: 4, Metric: tc.metric, Params: engine.Params{Quantization: tc.set}})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Config().Params.Quantization; got != tc.want || (c.vectors.graphCodes != nil) != (tc.want == engine.QuantizationInt8) {
			t.Errorf("%s: quantization %v (codes kept: %v), want %v", name, got, c.vectors.graphCodes != nil, tc.want)
		}
	}
	for _, q := range []engine.Quantization{engine.QuantizationInt8, engine.Quantization(9), engine.Quantization(-1)} {
		m := engine.L2
		if q != engine.QuantizationInt8 {
			m = engine.Cosine
		}
		if _, err := db.create(engine.Config{Name: "bad", Dim: 4, Metric: m, Params: engine.Params{Quantization: q}}); err == nil {
			t.Errorf("%v on %v accepted", q, m)
		}
	}
}

// Upserts, replacements, deletes, compaction and slot reuse keep every slot's code that
// of its vector; a reused slot's code changes with its vector.
func TestGraphCodesFollowWrites(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: 16, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1, M: 4}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	if _, err := db.Upsert("c", randBatch(r, "a", 300, 16), "items"); err != nil {
		t.Fatal(err)
	}
	checkCodes(t, c)
	// Replace and delete enough items that compaction drops their old slots.
	if _, err := db.Upsert("c", randBatch(r, "a", 150, 16), "items"); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, 60)
	for i := 150; i < 210; i++ {
		ids = append(ids, "a"+strconv.Itoa(i))
	}
	if _, err := db.Delete("c", ids, "ids"); err != nil {
		t.Fatal(err)
	}
	c.wait()
	checkCodes(t, c)
	st := c.Stats()
	if st.FreeSlots == 0 {
		t.Fatalf("no slot freed by compaction: %+v", st)
	}
	// The next upsert reuses freed slots: their codes follow the new vectors.
	c.mu.RLock()
	c.compactedMu.Lock()
	freed := append(slices.Clone(c.free), c.compacted...)
	c.compactedMu.Unlock()
	before := map[uint32][]int8{}
	for _, s := range freed {
		before[s], _ = c.vectors.graphCodes.Code(s)
	}
	c.mu.RUnlock()
	if _, err := db.Upsert("c", randBatch(r, "b", 40, 16), "items"); err != nil {
		t.Fatal(err)
	}
	checkCodes(t, c)
	changed := 0
	for s, old := range before {
		if got, _ := c.vectors.graphCodes.Code(s); c.ids[s] != "" && !slices.Equal(got, old) {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("no reused slot got a new code")
	}
}

// idCodes returns each live id's code and scale.
func idCodes(t *testing.T, db *DB, name string) map[string]string {
	t.Helper()
	c, err := db.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]string{}
	for id, slot := range c.slots {
		codes, s := c.vectors.graphCodes.Code(slot)
		b := make([]byte, 0, len(codes)+4)
		for _, x := range codes {
			b = append(b, byte(x))
		}
		bits := math.Float32bits(s)
		out[id] = string(append(b, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)))
	}
	return out
}

// The codes are not persisted: recovery from the log, from a snapshot and from both
// rebuilds them from the vectors, identical to the codes before the restart.
func TestGraphCodesRebuiltOnRecovery(t *testing.T) {
	for _, snap := range []string{"none", "then log", "last"} {
		t.Run(snap, func(t *testing.T) {
			dir := t.TempDir()
			r := rand.New(rand.NewPCG(7, 8))
			db := openDB(t, Options{Dir: dir})
			populate(t, db, r, 0)
			if snap != "none" {
				if snap == "last" {
					populate(t, db, r, 1)
				}
				if _, err := db.Snapshot(context.Background(), "cos"); err != nil {
					t.Fatal(err)
				}
				if snap == "then log" {
					populate(t, db, r, 1)
				}
			}
			want := idCodes(t, db, "cos")
			closeDB(t, db)
			db = openDB(t, Options{Dir: dir})
			defer closeDB(t, db)
			got := idCodes(t, db, "cos")
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%d codes after restart, %d before", len(got), len(want))
			}
			for id, w := range want {
				if got[id] != w {
					t.Fatalf("code of %q differs after restart", id)
				}
			}
			c, _ := db.lookup("cos")
			checkCodes(t, c)
		})
	}
}

// A graph search on codes returns scores bit-identical to Dot of the query and the
// stored vectors, best first, for cosine and dot, across widening passes.
func TestGraphSearchOnCodesScoresAreExact(t *testing.T) {
	for _, m := range []engine.Metric{engine.Cosine, engine.Dot} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			c, err := db.create(engine.Config{Name: "g", Dim: 24, Metric: m, Params: engine.Params{ExactThreshold: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Config().Params.Quantization != engine.QuantizationInt8 {
				t.Fatal("not quantized by default")
			}
			r := rand.New(rand.NewPCG(9, uint64(m)))
			if _, err := db.Upsert("g", clustered(r, "x", 2000, 24), "items"); err != nil {
				t.Fatal(err)
			}
			for range 20 {
				q, _ := c.PrepareQuery(clustered(r, "q", 1, 24).Vectors, "q")
				var prev float32 = float32(math.Inf(1))
				n := 0
				st, err := c.Search(context.Background(), q, engine.SearchOptions{Ef: 16}, func(cd engine.Candidate) bool {
					if want := vec.Dot(q, cd.Vector); math.Float32bits(cd.Score) != math.Float32bits(want) {
						t.Fatalf("score %v of %q, Dot %v", cd.Score, cd.ID, want)
					}
					if n < 16 && cd.Score > prev {
						t.Fatalf("first pass not best first: %v after %v", cd.Score, prev)
					}
					prev = cd.Score
					n++
					return n < 100
				})
				if err != nil || st.Widenings == 0 {
					t.Fatalf("search: %+v, %v (want widening passes)", st, err)
				}
			}
		})
	}
}

// Searches on codes run while writers replace and delete items (new slots, tombstones,
// compaction, reused slots whose codes are rewritten): under -race this checks that
// codes are published like vectors; every score stays Dot of the returned vector.
func TestGraphCodesConcurrentWritesAndSearches(t *testing.T) {
	const dim = 16
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 6, EfConstruction: 32, ExactThreshold: 50}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	if _, err := db.Upsert("c", randBatch(r, "a", 200, dim), "items"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			rr := rand.New(rand.NewPCG(uint64(w), 99))
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				q, _ := c.PrepareQuery(randBatch(rr, "q", 1, dim).Vectors, "q")
				n := 0
				var bad error
				_, err := c.Search(context.Background(), q, engine.SearchOptions{Ef: 16}, func(cd engine.Candidate) bool {
					if s := vec.Dot(q, cd.Vector); math.Float32bits(s) != math.Float32bits(cd.Score) {
						bad = fmt.Errorf("score %v of %q, Dot %v", cd.Score, cd.ID, s)
						return false
					}
					n++
					return n < 20
				})
				if err == nil {
					err = bad
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	rounds := 60
	if raceEnabled {
		rounds = 20
	}
	for i := range rounds {
		if _, err := db.Upsert("c", randBatch(r, "a", 40, dim), "items"); err != nil {
			t.Fatal(err)
		}
		ids := []string{"a" + strconv.Itoa(40+i%100), "a" + strconv.Itoa(140+i%60)}
		if _, err := db.Delete("c", ids, "ids"); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.wait()
	checkCodes(t, c)
}

// Graph codes start with the graph: a collection searched exactly encodes nothing, across
// replacements, deletes and a snapshot and restart; when the graph is built every slot
// is encoded first, so each live item's code is its vector's and graph search finds it.
func TestGraphCodesStartWithTheGraph(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	cfg := engine.Config{Name: "c", Dim: 16, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 200, M: 4}}
	if _, err := db.create(cfg); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 10))
	if _, err := db.Upsert("c", randBatch(r, "a", 150, 16), "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("c", randBatch(r, "a", 50, 16), "items"); err != nil { // replaces a0–a49
		t.Fatal(err)
	}
	if _, err := db.Delete("c", []string{"a60", "a61", "a62"}, "ids"); err != nil {
		t.Fatal(err)
	}
	noCodes := func(c *Collection, when string) {
		t.Helper()
		if c.vectors.codesOn || c.vectors.graphCodes.Bytes() != 0 || c.Stats().GraphSearch {
			t.Fatalf("%s: graph codes kept (%d bytes) for a collection searched exactly", when, c.vectors.graphCodes.Bytes())
		}
	}
	c, _ := db.lookup("c")
	noCodes(c, "below the threshold")
	if _, err := db.Snapshot(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	c, _ = db.lookup("c")
	noCodes(c, "after a restart")

	if _, err := db.Upsert("c", randBatch(r, "b", 60, 16), "items"); err != nil { // 207 live: the graph is built
		t.Fatal(err)
	}
	if !c.Stats().GraphSearch || !c.vectors.codesOn {
		t.Fatal("no graph search at 207 live items with an exact threshold of 200")
	}
	checkCodes(t, c)
	for _, id := range []string{"a0", "a49", "a100", "b59"} {
		c.mu.RLock()
		v := slices.Clone(c.vectorAt(c.slots[id]))
		c.mu.RUnlock()
		if got := searchIDs(t, db, "c", v); len(got) == 0 || got[0] != id {
			t.Fatalf("graph search for %s's vector found %v first", id, got)
		}
	}
}
