package index

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/wal"
)

// stressEnv reads an integer knob from the environment (for longer manual runs).
func stressEnv(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if v, err := strconv.Atoi(s); err == nil {
			return v
		}
	}
	return def
}

// stressItem is the model's view of one live item.
type stressItem struct {
	vec    []float32
	groups []string
}

type stressRun struct {
	t      *testing.T
	r      *rand.Rand
	dir    string
	opts   Options
	cfg    engine.Config
	db     *DB
	c      *Collection
	model  map[string]stressItem
	nextID int
	seq    uint64            // the stream writer's last sequence
	pseq   map[string]uint64 // the parallel phases' stream writers' sequences
	phase  int
	seen   sync.Map // rowKey(id, vector) of every vector ever written
	maxN   int
	// counters
	ops                map[string]int
	reopens            int
	checks             int
	softMiss, hardMiss int
}

// TestStressCollection drives a real DB through random mixes of upserts, replacements,
// deletes (sometimes of everything), grouped upserts, stream batches, snapshots and
// reopenings, with the background compaction and snapshotter running as in production,
// and checks the collection against a model at quiescent points.
func TestStressCollection(t *testing.T) {
	seeds := stressEnv("STRESS_SEEDS", 4)
	steps := stressEnv("STRESS_STEPS", 80)
	first := stressEnv("STRESS_SEED0", 1)
	if raceEnabled {
		seeds, steps = min(seeds, 2), min(steps, 50)
	}
	for s := first; s < first+seeds; s++ {
		t.Run("seed"+strconv.Itoa(s), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(s), 0x57e55))
			metric := []engine.Metric{engine.Cosine, engine.L2, engine.Dot}[s%3]
			dim := []int{8, 16, 32}[r.IntN(3)]
			thr := []int{1, 1, 20, 300}[r.IntN(4)]
			p := engine.Params{M: 8, EfConstruction: 32, ExactThreshold: thr}
			if metric != engine.L2 && r.IntN(4) == 0 {
				p.Quantization = engine.QuantizationInt8
			}
			maxN := 12000
			if raceEnabled {
				maxN = 3000
			}
			sr := &stressRun{t: t, r: r, dir: t.TempDir(), model: map[string]stressItem{}, pseq: map[string]uint64{}, ops: map[string]int{}, maxN: maxN,
				cfg: engine.Config{Name: "c", Dim: dim, Metric: metric, Params: p}}
			sr.opts = Options{Dir: sr.dir, Sync: wal.SyncInterval, SnapshotBytes: 1 << 12, SnapshotInterval: 300 * time.Millisecond, WriterTTL: -1}
			db, err := Open(sr.opts)
			if err != nil {
				t.Fatal(err)
			}
			sr.db = db
			t.Cleanup(func() { sr.db.Close() })
			if sr.c, err = db.create(sr.cfg); err != nil {
				t.Fatal(err)
			}
			t.Logf("metric %v dim %d threshold %d quant %v", metric, dim, thr, p.Quantization)
			for step := range steps {
				sr.step(step)
				if t.Failed() {
					t.Logf("failed at step %d; ops %v", step, sr.ops)
					return
				}
			}
			sr.quiesce()
			sr.check("end")
			sr.reopen()
			t.Logf("ops %v, %d reopens, %d checks, %d items at the end, %d soft self-search misses (ef 64), %d hard (ef 2048)", sr.ops, sr.reopens, sr.checks, len(sr.model), sr.softMiss, sr.hardMiss)
		})
	}
}

func (sr *stressRun) newVectors(n int) []float32 {
	v := make([]float32, n*sr.cfg.Dim)
	for i := range v {
		v[i] = float32(sr.r.NormFloat64())
	}
	return v
}

func (sr *stressRun) liveIDs() []string {
	ids := make([]string, 0, len(sr.model))
	for id := range sr.model {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// pick returns up to k distinct random live ids.
func (sr *stressRun) pick(k int) []string {
	ids := sr.liveIDs()
	sr.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:min(k, len(ids))]
}

func (sr *stressRun) freshIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "i" + strconv.Itoa(sr.nextID)
		sr.nextID++
	}
	return ids
}

func (sr *stressRun) batch(ids []string, groups bool) *engine.Batch {
	b := &engine.Batch{IDs: ids, Vectors: sr.newVectors(len(ids))}
	if groups {
		b.Groups = make([][]string, len(ids))
		for i := range ids {
			for range sr.r.IntN(3) {
				b.Groups[i] = append(b.Groups[i], "g"+strconv.Itoa(sr.r.IntN(10)))
			}
		}
	}
	return b
}

// applied records an accepted batch (whose vectors the collection prepared in place)
// and deletes in the model.
func (sr *stressRun) applied(b *engine.Batch, deletes []string) {
	if b != nil {
		for i, id := range b.IDs {
			it := stressItem{vec: slices.Clone(b.Row(i, sr.cfg.Dim))}
			sr.seen.Store(rowKey(id, it.vec), true)
			if b.Groups != nil && len(b.Groups[i]) > 0 {
				it.groups = slices.Clone(b.Groups[i])
			}
			sr.model[id] = it
		}
	}
	for _, id := range deletes {
		delete(sr.model, id)
	}
}

func (sr *stressRun) upsert(b *engine.Batch) {
	t := sr.t
	var err error
	if sr.r.IntN(3) == 0 {
		_, err = sr.db.UpsertDeferred("c", b, "items")
	} else {
		_, err = sr.db.Upsert("c", b, "items")
	}
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	sr.applied(b, nil)
}

func (sr *stressRun) del(ids []string) {
	res, err := sr.db.Delete("c", ids, "ids")
	if err != nil {
		sr.t.Fatalf("delete: %v", err)
	}
	want := 0
	for _, id := range ids {
		if _, ok := sr.model[id]; ok {
			want++
		}
	}
	if res.Deleted != want {
		sr.t.Errorf("delete of %d ids deleted %d, the model holds %d of them", len(ids), res.Deleted, want)
	}
	sr.applied(nil, ids)
}

func (sr *stressRun) step(step int) {
	r := sr.r
	n := len(sr.model)
	room := sr.maxN - n
	size := func() int { return 1 + r.IntN([]int{5, 50, 500, 3000}[r.IntN(4)]) }
	switch x := r.IntN(100); {
	case x < 25 && room > 0: // new ids
		sr.ops["insert"]++
		sr.upsert(sr.batch(sr.freshIDs(min(size(), room)), false))
	case x < 32 && room > 0: // new ids with groups
		sr.ops["insert+groups"]++
		sr.upsert(sr.batch(sr.freshIDs(min(size(), room)), true))
	case x < 47 && n > 0: // replace existing ids with new vectors, sometimes with new ids mixed in
		sr.ops["replace"]++
		ids := sr.pick(size())
		if r.IntN(3) == 0 && room > 0 {
			ids = append(ids, sr.freshIDs(min(10, room))...)
			r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		}
		sr.upsert(sr.batch(ids, r.IntN(2) == 0))
	case x < 62 && n > 0: // delete a random subset (a few unknown ids too)
		sr.ops["delete"]++
		k := 1 + r.IntN(max(1, n*[]int{1, 10, 40, 70}[r.IntN(4)]/100))
		ids := sr.pick(k)
		if r.IntN(4) == 0 {
			ids = append(ids, "nope"+strconv.Itoa(r.IntN(100)))
		}
		sr.del(ids)
	case x < 66 && n > 0: // delete everything, then add new items at once
		sr.ops["delete-all"]++
		sr.del(sr.liveIDs())
		if r.IntN(4) != 0 {
			sr.upsert(sr.batch(sr.freshIDs(1+r.IntN(200)), false))
		}
	case x < 76: // a stream batch: upserts (new and replaced) and deletes
		sr.ops["stream"]++
		var ids []string
		if room > 0 {
			ids = sr.freshIDs(min(room, r.IntN(100)))
		}
		ids = append(ids, sr.pick(r.IntN(50))...)
		var b *engine.Batch
		if len(ids) > 0 {
			b = sr.batch(ids, r.IntN(2) == 0)
		}
		dels := sr.pick(r.IntN(max(1, n/5)))
		if b != nil && r.IntN(4) == 0 && len(b.IDs) > 0 {
			// an id both upserted and deleted by the same batch
			if id := b.IDs[r.IntN(len(b.IDs))]; !slices.Contains(dels, id) {
				dels = append(dels, id)
			}
		}
		sr.seq++
		if _, err := sr.db.StreamBatch(context.Background(), "w", sr.seq, "c", b, dels); err != nil {
			sr.t.Fatalf("stream: %v", err)
		}
		sr.applied(b, dels)
	case x < 83:
		sr.ops["snapshot"]++
		if _, err := sr.db.Snapshot(context.Background(), "c"); err != nil {
			sr.t.Fatalf("snapshot: %v", err)
		}
	case x < 89:
		sr.ops["parallel"]++
		sr.parallel()
	case x < 91:
		sr.ops["reopen"]++
		sr.reopen()
	case x < 96:
		sr.ops["check"]++
		sr.quiesce()
		sr.check(fmt.Sprintf("step %d", step))
	default:
		sr.ops["sleep"]++
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
	}
	if os.Getenv("STRESS_TRACE") != "" {
		st := sr.c.Stats()
		sr.t.Logf("step %d: ops %v live %d stats %+v compacting %v", step, sr.ops, len(sr.model), st, sr.c.compacting.Load())
	}
	sr.liveCheck()
}

// quiesce waits for the background compaction, bounded.
func (sr *stressRun) quiesce() {
	done := make(chan struct{})
	go func() { sr.c.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		var sb strings.Builder
		pprof.Lookup("goroutine").WriteTo(&sb, 2)
		sr.t.Fatalf("the background compaction did not finish in 2 minutes:\n%s", sb.String())
	}
}

// liveCheck runs between writes, while a compaction may run: searches return only
// live items with their current vectors.
func (sr *stressRun) liveCheck() {
	t := sr.t
	q, err := sr.c.PrepareQuery(sr.newVectors(1), "q")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []engine.SearchOptions{{MaxCandidates: 20}, {MaxCandidates: 20, NoWiden: true}} {
		seen := map[string]bool{}
		got := 0
		st, err := sr.c.Search(context.Background(), q, opts, func(cd engine.Candidate) bool {
			got++
			it, ok := sr.model[cd.ID]
			if !ok {
				t.Errorf("search (%+v) returned %q, which is not live", opts, cd.ID)
			} else if !bitsEqual(it.vec, cd.Vector) {
				t.Errorf("search returned %q with a vector it does not hold", cd.ID)
			}
			if seen[cd.ID] {
				t.Errorf("search returned %q twice", cd.ID)
			}
			seen[cd.ID] = true
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(20, len(sr.model)); !opts.NoWiden && got != want {
			t.Errorf("search for 20 returned %d of %d live items (stats %+v)", got, len(sr.model), st)
		}
		if opts.NoWiden && len(sr.model) > 0 && got == 0 {
			t.Errorf("NoWiden search returned nothing with %d live items (stats %+v, graph stats %+v)", len(sr.model), st, sr.c.Stats())
		}
	}
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// check compares the collection with the model; the caller quiesced it.
func (sr *stressRun) check(where string) {
	t := sr.t
	c := sr.c
	sr.checks++
	st := c.Stats()
	if st.Items != len(sr.model) {
		t.Errorf("%s: %d items, the model holds %d", where, st.Items, len(sr.model))
	}
	c.mu.RLock()
	live := 0
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		live++
		if c.slots[id] != uint32(slot) {
			t.Errorf("%s: slot %d holds %q but slots maps it to %d", where, slot, id, c.slots[id])
		}
	}
	if live != len(c.slots) {
		t.Errorf("%s: %d live slots, %d ids", where, live, len(c.slots))
	}
	for id, it := range sr.model {
		slot, ok := c.slots[id]
		if !ok {
			t.Errorf("%s: %q is missing", where, id)
			continue
		}
		if !bitsEqual(c.vectorAt(slot), it.vec) {
			t.Errorf("%s: %q holds another vector", where, id)
		}
		if !slices.Equal(c.groups[slot], it.groups) {
			t.Errorf("%s: %q groups %v, want %v", where, id, c.groups[slot], it.groups)
		}
	}
	for id := range c.slots {
		if _, ok := sr.model[id]; !ok {
			t.Errorf("%s: %q is live, the model deleted it", where, id)
		}
	}
	graphOn := c.graphOn
	if graphOn {
		if u := c.unsynced.Load(); u != 0 {
			t.Errorf("%s: unsynced %d at rest", where, u)
		}
		if gl := c.graph.Len(); gl != len(c.slots) {
			t.Errorf("%s: the graph holds %d live nodes, the collection %d items", where, gl, len(c.slots))
		}
		for id, slot := range c.slots {
			if !c.graph.Contains(slot) {
				t.Errorf("%s: %q (slot %d) is not a live graph node", where, id, slot)
			}
		}
		for _, slot := range c.free {
			if c.graph.Contains(slot) {
				t.Errorf("%s: free slot %d is a live graph node", where, slot)
			}
		}
		// (1) every live item is reachable through the graph (self search; not under
		// dot product, where an item need not be its own best match).
		if sr.cfg.Metric != engine.Dot {
			var bad []uint32
			for _, slot := range c.slots {
				found := false
				for _, nb := range c.graph.Search(c.vectorAt(slot), 10, 64, nil, nil) {
					found = found || nb.ID == slot
				}
				if found {
					continue
				}
				sr.softMiss++
				for _, nb := range c.graph.Search(c.vectorAt(slot), 10, 2048, nil, nil) {
					found = found || nb.ID == slot
				}
				if !found {
					sr.hardMiss++
					bad = append(bad, slot)
				}
			}
			// Inserts at M 8 leave a few nodes without incoming links (the heuristic
			// prunes the reverse link; ~0.5% of random 32-d vectors under L2) until
			// the next compaction links them in (hnsw linkUnreachable), so only more than
			// that is a defect (a lost entry point, a component cut off).
			if len(bad) > 2+len(c.slots)/20 {
				t.Errorf("%s: %d of %d live items are not found by a graph search for their own vector, even at ef 2048 (%d tombstones)", where, len(bad), len(c.slots), c.graph.Deleted())
			}
		}
	}
	useGraph := c.useGraph()
	c.mu.RUnlock()

	// (2), (5): searches return live items only; a NoWiden search at/above the
	// threshold goes through the graph and yields something.
	for range 5 {
		q, _ := c.PrepareQuery(sr.newVectors(1), "q")
		var got []string
		st, err := c.Search(context.Background(), q, engine.SearchOptions{NoWiden: true, Ef: 32}, func(cd engine.Candidate) bool {
			got = append(got, cd.ID)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if useGraph && (st.Exact || st.Fallback) {
			t.Errorf("%s: a NoWiden search with the graph in use scanned exactly: %+v", where, st)
		}
		if useGraph && len(sr.model) > 0 && len(got) == 0 {
			t.Errorf("%s: a NoWiden graph search returned nothing of %d items", where, len(sr.model))
		}
		for _, id := range got {
			if _, ok := sr.model[id]; !ok {
				t.Errorf("%s: NoWiden search returned deleted %q", where, id)
			}
		}
		// A search without bounds yields every live item exactly once.
		seen := map[string]bool{}
		if _, err := c.Search(context.Background(), q, engine.SearchOptions{}, func(cd engine.Candidate) bool {
			if seen[cd.ID] {
				t.Errorf("%s: unbounded search returned %q twice", where, cd.ID)
			}
			seen[cd.ID] = true
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(sr.model) {
			t.Errorf("%s: unbounded search returned %d items, %d are live", where, len(seen), len(sr.model))
		}
		for id := range seen {
			if _, ok := sr.model[id]; !ok {
				t.Errorf("%s: unbounded search returned deleted %q", where, id)
			}
		}
	}
	// (2) Mine through the collection returns only live ids, never the anchor.
	if len(sr.model) > 1 {
		var anchors []mining.Anchor
		for _, id := range sr.pick(4) {
			anchors = append(anchors, mining.Anchor{ID: id})
		}
		anchors = append(anchors, mining.Anchor{Vector: sr.newVectors(1)})
		pol := mining.DefaultPolicy()
		pol.NumNegatives = 10
		res, err := mining.Mine(context.Background(), c, mining.Request{Anchors: anchors, Policy: pol})
		if err != nil {
			t.Fatalf("%s: mine: %v", where, err)
		}
		for i, r := range res {
			for _, n := range r.Negatives {
				if _, ok := sr.model[n.ID]; !ok {
					t.Errorf("%s: mine returned deleted %q", where, n.ID)
				}
				if n.ID == anchors[i].ID {
					t.Errorf("%s: mine returned the anchor %q", where, n.ID)
				}
			}
		}
	}
}

// reopen closes the DB and opens it again from its directory; the collection must
// hold the same items, vectors and counts.
func (sr *stressRun) reopen() {
	t := sr.t
	sr.reopens++
	if err := sr.db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := Open(sr.opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	sr.db = db
	if sr.c, err = db.lookup("c"); err != nil {
		t.Fatal(err)
	}
	if got := db.WriterSequence("w"); got != sr.seq {
		t.Errorf("after reopen the stream writer is at %d, want %d", got, sr.seq)
	}
	for w, seq := range sr.pseq {
		if got := db.WriterSequence(w); got != seq {
			t.Errorf("after reopen stream writer %s is at %d, want %d", w, got, seq)
		}
	}
	sr.quiesce()
	sr.check(fmt.Sprintf("reopen %d", sr.reopens))
}

// parallel runs a phase of concurrent writers, each over its own ids (existing ones
// split by owner, new ones with its own prefix), and concurrent searchers, which check
// that every candidate carries a vector that was written for its id. The model is
// brought up to date from the writers' own models afterwards.
func (sr *stressRun) parallel() {
	const writers, readers = 3, 2
	t := sr.t
	sr.phase++
	parts := make([]map[string]stressItem, writers)
	for k := range parts {
		parts[k] = map[string]stressItem{}
	}
	for _, id := range sr.liveIDs() {
		parts[len(id)%writers][id] = sr.model[id] // any stable split
	}
	seeds := make([]uint64, writers+readers)
	for i := range seeds {
		seeds[i] = sr.r.Uint64()
	}
	dim := sr.cfg.Dim
	var stop atomic.Bool
	var rwg, wwg sync.WaitGroup
	errs := make(chan string, 100)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Sprintf(format, args...):
		default:
		}
	}
	c := sr.c
	for k := range readers {
		rwg.Go(func() {
			r := rand.New(rand.NewPCG(seeds[writers+k], 9))
			for !stop.Load() {
				v := make([]float32, dim)
				for i := range v {
					v[i] = float32(r.NormFloat64())
				}
				q, _ := c.PrepareQuery(v, "q")
				ids := map[string]bool{}
				opts := engine.SearchOptions{MaxCandidates: 1 + r.IntN(50), NoWiden: r.IntN(2) == 0}
				_, err := c.Search(context.Background(), q, opts, func(cd engine.Candidate) bool {
					if ids[cd.ID] {
						report("concurrent search returned %q twice", cd.ID)
					}
					ids[cd.ID] = true
					if _, ok := sr.seen.Load(rowKey(cd.ID, cd.Vector)); !ok {
						report("concurrent search returned %q with a vector never written for it", cd.ID)
					}
					return true
				})
				if err != nil {
					report("concurrent search: %v", err)
				}
				if r.IntN(10) == 0 {
					pol := mining.DefaultPolicy()
					pol.NumNegatives = 5
					if _, err := mining.Mine(context.Background(), c, mining.Request{Anchors: []mining.Anchor{{Vector: v}}, Policy: pol}); err != nil {
						report("concurrent mine: %v", err)
					}
				}
			}
		})
	}
	seqs := make([]uint64, writers)
	for k := range writers {
		w := "p" + strconv.Itoa(k)
		seqs[k] = sr.pseq[w]
	}
	for k := range writers {
		wwg.Go(func() {
			r := rand.New(rand.NewPCG(seeds[k], 7))
			model := parts[k]
			next := 0
			fresh := func(n int) []string {
				ids := make([]string, n)
				for i := range ids {
					ids[i] = fmt.Sprintf("p%d.%d.%d", k, sr.phase, next)
					next++
				}
				return ids
			}
			pick := func(n int) []string {
				var ids []string
				for id := range model {
					if len(ids) >= n {
						break
					}
					ids = append(ids, id)
				}
				return ids
			}
			batch := func(ids []string) *engine.Batch {
				b := &engine.Batch{IDs: ids, Vectors: make([]float32, len(ids)*dim)}
				for i := range b.Vectors {
					b.Vectors[i] = float32(r.NormFloat64())
				}
				// Known before the write, so that searchers may meet it at once.
				for i, id := range ids {
					v := slices.Clone(b.Row(i, dim))
					engine.PrepareVector(v, dim, sr.cfg.Metric)
					sr.seen.Store(rowKey(id, v), true)
				}
				return b
			}
			record := func(b *engine.Batch, dels []string) {
				if b != nil {
					for i, id := range b.IDs {
						it := stressItem{vec: slices.Clone(b.Row(i, dim))}
						sr.seen.Store(rowKey(id, it.vec), true)
						model[id] = it
					}
				}
				for _, id := range dels {
					delete(model, id)
				}
			}
			for range 10 + r.IntN(20) {
				var b *engine.Batch
				var dels []string
				switch x := r.IntN(10); {
				case x < 3:
					b = batch(fresh(1 + r.IntN(200)))
				case x < 5:
					b = batch(pick(1 + r.IntN(200)))
				case x < 7:
					dels = pick(1 + r.IntN(max(1, len(model)/2)))
				case x < 8:
					dels = pick(len(model))
				default: // stream
					b = batch(append(fresh(r.IntN(50)), pick(r.IntN(20))...))
					dels = pick(r.IntN(20))
					// pick returns map order: drop deletes of ids b upserts only
					// when they coincide, which the stream applies upsert-first.
				}
				if b != nil && len(b.IDs) == 0 {
					b = nil
				}
				var err error
				switch {
				case b != nil && dels != nil:
					seqs[k]++
					// ids both upserted and deleted: deleted (upserts apply first)
					_, err = sr.db.StreamBatch(context.Background(), "p"+strconv.Itoa(k), seqs[k], "c", b, dedupe(dels))
				case b != nil:
					_, err = sr.db.Upsert("c", b, "items")
				case len(dels) > 0:
					_, err = sr.db.Delete("c", dels, "ids")
				}
				if err != nil {
					report("writer %d: %v", k, err)
					return
				}
				// (cosine vectors were normalised in place by the call)
				record(b, dedupe(dels))
			}
		})
	}
	wwg.Wait()
	stop.Store(true)
	rwg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	sr.model = map[string]stressItem{}
	for k, part := range parts {
		maps.Copy(sr.model, part)
		sr.pseq["p"+strconv.Itoa(k)] = seqs[k]
	}
}

func dedupe(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
