package index

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// A snapshot holds the collection's write lock only while it captures its content:
// writes to the collection go on while the file is written (which took seconds for a
// collection of a million vectors, every write waiting), and the file still holds the
// collection as of the capture. Writes made meanwhile — a delete, an upsert that
// would take the deleted item's slot, a new vector for an item — reach the log and the
// collection, not the file, and a restart recovers them from the log.
func TestWritesGoOnWhileASnapshotIsWritten(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int // ExactThreshold: above the item count, no graph; 1, a graph
	}{{"exact", 10_000}, {"graph", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			const dim, n = 8, 300
			dir := t.TempDir()
			db := openDB(t, Options{Dir: dir})
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: tc.threshold}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 5))
			if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
				t.Fatal(err)
			}
			vectorOf := func(c *Collection, id string) []float32 {
				c.mu.RLock()
				defer c.mu.RUnlock()
				slot, ok := c.slots[id]
				if !ok {
					return nil
				}
				return slices.Clone(c.vectorAt(slot))
			}
			before := map[string][]float32{}
			for _, id := range []string{"a5", "a7", "a9"} {
				before[id] = vectorOf(c, id)
			}
			c.mu.RLock()
			captureLSN := c.lastSeq
			c.mu.RUnlock()

			release, snapshotted := snapshotPaused(t, db, "c")

			// While the snapshot waits to write its file: delete a5 and a9, add b0 and
			// b1 (without a graph each takes a slot a delete freed, unless the snapshot
			// keeps them), and give a7 a new vector.
			wrote := make(chan error, 1)
			go func() {
				if _, err := db.Delete("c", []string{"a5", "a9"}, "ids"); err != nil {
					wrote <- err
					return
				}
				b := randBatch(r, "b", 2, dim)
				b.IDs = append(b.IDs, "a7")
				for range dim {
					b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
				}
				_, err := db.Upsert("c", b, "items")
				wrote <- err
			}()
			select {
			case err := <-wrote:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				release()
				t.Fatal("a write to the collection waited for the snapshot's file to be written")
			}
			after := vectorOf(c, "a7")
			info, err := snapshotted()
			if err != nil {
				t.Fatal(err)
			}

			// The file holds the collection as of the capture.
			snap := loadSnapshotFile(t, info.Path)
			if snap.lastSeq != captureLSN || len(snap.slots) != n {
				t.Fatalf("snapshot: last write %d, %d items; want %d and %d (as captured)", snap.lastSeq, len(snap.slots), captureLSN, n)
			}
			for id, want := range before {
				if got := vectorOf(snap, id); !slices.Equal(got, want) {
					t.Errorf("snapshot: %s has vector %v, want %v as captured", id, got, want)
				}
			}
			for _, id := range []string{"b0", "b1"} {
				if _, ok := snap.slots[id]; ok {
					t.Errorf("snapshot: holds %s, written after the capture", id)
				}
			}

			// A restart loads the snapshot and replays the writes made meanwhile.
			closeDB(t, db)
			db = openDB(t, Options{Dir: dir})
			defer closeDB(t, db)
			c, err = db.lookup("c")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a5", "a9"} {
				if v := vectorOf(c, id); v != nil {
					t.Errorf("after a restart %s, deleted, is still there", id)
				}
			}
			for _, id := range []string{"b0", "b1"} {
				if v := vectorOf(c, id); v == nil {
					t.Errorf("after a restart %s is missing", id)
				}
			}
			if got := vectorOf(c, "a7"); !slices.Equal(got, after) {
				t.Errorf("after a restart a7 has vector %v, want its new one %v", got, after)
			}
			if got := len(c.slots); got != n {
				t.Errorf("after a restart %d items, want %d", got, n)
			}
		})
	}
}

// snapshotPaused starts a snapshot of the collection name in the background and
// returns once it has captured the collection and waits to write its file. release lets
// it go on (it may be called more than once); result waits for it and returns what
// db.Snapshot returned.
func snapshotPaused(t *testing.T, db *DB, name string) (release func(), result func() (engine.SnapshotInfo, error)) {
	t.Helper()
	captured, gate := make(chan struct{}), make(chan struct{})
	testHookSnapshotCaptured = func(*Collection) {
		close(captured)
		<-gate
	}
	t.Cleanup(func() { testHookSnapshotCaptured = nil })
	type snapResult struct {
		info engine.SnapshotInfo
		err  error
	}
	done := make(chan snapResult, 1)
	go func() {
		info, err := db.Snapshot(context.Background(), name)
		done <- snapResult{info, err}
	}()
	<-captured
	testHookSnapshotCaptured = nil // the next snapshot does not wait
	released := false
	release = func() {
		if !released {
			released = true
			close(gate)
		}
	}
	return release, func() (engine.SnapshotInfo, error) {
		release()
		res := <-done
		return res.info, res.err
	}
}

// loadSnapshotFile reads the snapshot file at path into a collection.
func loadSnapshotFile(t *testing.T, path string) *Collection {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, _, err := readSnapshot(f)
	if err != nil {
		t.Fatalf("the snapshot does not load: %v", err)
	}
	return snap
}

// Writes made while a snapshot is written reuse the slots that were free when it was
// captured, and the slots they free are reused once it is written: a workload that
// keeps the live count constant keeps the slot count (the vector memory, the size of
// every later snapshot) bounded however many snapshots it meets. Before, no slot was
// reused while a snapshot was written, and every snapshot added as many slots as writes
// made meanwhile, for good.
func TestSlotsStayBoundedAcrossSnapshotsWrittenDuringWrites(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"exact", 100_000}, {"graph", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			const dim, n, during, between = 8, 1000, 200, 2000
			db := openDB(t, Options{Dir: t.TempDir()})
			defer closeDB(t, db)
			c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: tc.threshold}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
				t.Fatal(err)
			}
			next := 0
			replace := func(k int) { // new vectors for k items, in turn
				b := &engine.Batch{}
				for range k {
					b.IDs = append(b.IDs, "a"+strconv.Itoa(next%n))
					next++
					for range dim {
						b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
					}
				}
				if _, err := db.Upsert("c", b, "items"); err != nil {
					t.Fatal(err)
				}
				c.wait() // a compaction the write started
			}
			slots := func() int {
				c.mu.RLock()
				defer c.mu.RUnlock()
				return len(c.ids)
			}
			for range 2 * between / 100 { // to the steady state of replacements
				replace(100)
			}
			base := slots()
			for round := range 5 {
				_, snapshotted := snapshotPaused(t, db, "c")
				for range during / 20 {
					replace(20)
				}
				if _, err := snapshotted(); err != nil {
					t.Fatal(err)
				}
				if p := c.pins.Load(); p != 0 {
					t.Fatalf("round %d: %d snapshots still pinned after the snapshot returned", round, p)
				}
				for range between / 100 {
					replace(100)
				}
				t.Logf("round %d: %d slots for %d items (%d before the snapshots)", round, slots(), n, base)
			}
			if got := slots(); got > base+during {
				t.Errorf("slots grew from %d to %d over 5 snapshots, with %d items throughout", base, got, n)
			}
		})
	}
}

// With a graph, a snapshot written while items are added, deleted and compacted away
// (and a backup taken meanwhile) holds the vectors of its capture: slots that a
// compaction frees while it is written are not reused before it is written.
func TestSnapshotWrittenDuringCompactionsHoldsItsCapture(t *testing.T) {
	const dim, n = 8, 3000
	db := openDB(t, Options{Dir: t.TempDir()})
	defer closeDB(t, db)
	c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
		t.Fatal(err)
	}
	deleteEvery := func(from int) {
		var ids []string
		for i := from; i < n; i += 3 {
			ids = append(ids, "a"+strconv.Itoa(i))
		}
		if _, err := db.Delete("c", ids, "ids"); err != nil {
			t.Fatal(err)
		}
		c.wait()
	}
	deleteEvery(0) // a third compacted away: free slots at the capture
	want := map[string][]float32{}
	c.mu.RLock()
	for id, slot := range c.slots {
		want[id] = slices.Clone(c.vectorAt(slot))
	}
	c.mu.RUnlock()

	release, snapshotted := snapshotPaused(t, db, "c")
	defer release()
	for round := range 3 {
		if _, err := db.Upsert("c", randBatch(r, "b"+strconv.Itoa(round)+"-", 500, dim), "items"); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			deleteEvery(1) // tombstones in the capture, compacted away while it waits
		}
	}
	bk, err := db.Backup(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	bk.Close()
	// The backup's capture came while the snapshot's was held: writes after it must
	// not take the slots the snapshot still reads either.
	if _, err := db.Upsert("c", randBatch(r, "c", 800, dim), "items"); err != nil {
		t.Fatal(err)
	}
	info, err := snapshotted()
	if err != nil {
		t.Fatal(err)
	}
	if p := c.pins.Load(); p != 0 {
		t.Fatalf("%d snapshots still pinned after the snapshot and the backup returned", p)
	}
	checkHolds(t, "the snapshot", loadSnapshotFile(t, info.Path), want)
	// Once written, the slots freed meanwhile are reused.
	st := c.Stats()
	if st.FreeSlots == 0 {
		t.Fatal("no free slot after the deletes: the test did not exercise reuse")
	}
	if _, err := db.Upsert("c", randBatch(r, "z", st.FreeSlots, dim), "items"); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats(); got.Slots != st.Slots {
		t.Errorf("%d slots after adding %d items with %d free, want %d (the free ones reused)", got.Slots, st.FreeSlots, st.FreeSlots, st.Slots)
	}
}

// captureNow captures c as a snapshot does (freeze under lockCapture's locks) and
// returns the capture with every live item's vector at that moment.
func captureNow(t *testing.T, c *Collection) (*frozenSnapshot, map[string][]float32) {
	t.Helper()
	c.lockCapture()
	defer c.writeMu.Unlock()
	defer c.mu.RUnlock()
	f, err := c.freeze(nil, c.lastSeq)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for id, slot := range c.slots {
		want[id] = slices.Clone(c.vectorAt(slot))
	}
	return f, want
}

// checkHolds checks that snap holds exactly the items of want, with their vectors.
func checkHolds(t *testing.T, name string, snap *Collection, want map[string][]float32) {
	t.Helper()
	if len(snap.slots) != len(want) {
		t.Fatalf("%s: %d items, want %d as captured", name, len(snap.slots), len(want))
	}
	for id, v := range want {
		slot, ok := snap.slots[id]
		if !ok || !slices.Equal(snap.vectorAt(slot), v) {
			t.Fatalf("%s: %s is missing or has another vector than captured", name, id)
		}
	}
}

// writeCapture writes and releases f, loads what it wrote and checks it against want.
func writeCapture(t *testing.T, name string, f *frozenSnapshot, want map[string][]float32) {
	t.Helper()
	var buf bytes.Buffer
	if err := f.write(&buf); err != nil {
		t.Fatal(err)
	}
	f.release()
	snap, _, err := readSnapshot(&buf)
	if err != nil {
		t.Fatalf("%s: does not load: %v", name, err)
	}
	checkHolds(t, name, snap, want)
	for _, s := range snap.free {
		if snap.ids[s] != "" {
			t.Fatalf("%s: loaded free slot %d holds %q", name, s, snap.ids[s])
		}
	}
}

// Captures that overlap (a snapshot and a backup, say), with random deletes, inserts,
// replacements and compactions between and while they are written, released in either
// order: each file holds its capture. Without a graph, with one, and with the graph
// built at the exact threshold part-way.
func TestOverlappingCapturesEachHoldTheirOwn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"exact", 100_000}, {"graph", 1}, {"built-part-way", 1300}} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(6) {
				const dim, n = 8, 1200
				db := openDB(t, Options{Dir: t.TempDir()})
				c, err := db.create(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{M: 8, EfConstruction: 32, ExactThreshold: tc.threshold}})
				if err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(seed, 7))
				if _, err := db.Upsert("c", randBatch(r, "a", n, dim), "items"); err != nil {
					t.Fatal(err)
				}
				next := 0
				step := func() {
					var err error
					switch r.IntN(3) {
					case 0:
						var ids []string
						for range 40 {
							if id := "a" + strconv.Itoa(r.IntN(n)); !slices.Contains(ids, id) {
								ids = append(ids, id)
							}
						}
						_, err = db.Delete("c", ids, "ids")
					case 1:
						next++
						_, err = db.Upsert("c", randBatch(r, "n"+strconv.Itoa(next)+"-", 30, dim), "items")
					default: // new vectors for up to 30 items, live or deleted
						b, seen := &engine.Batch{}, map[string]bool{}
						for range 30 {
							id := "a" + strconv.Itoa(r.IntN(n))
							if seen[id] {
								continue
							}
							seen[id] = true
							b.IDs = append(b.IDs, id)
							for range dim {
								b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
							}
						}
						_, err = db.Upsert("c", b, "items")
					}
					if err != nil {
						t.Fatal(err)
					}
					if r.IntN(2) == 0 {
						c.wait() // a compaction the write started
					}
				}
				steps := func(k int) {
					for range k {
						step()
					}
				}
				steps(10)
				c.wait()
				f1, w1 := captureNow(t, c)
				steps(8)
				f2, w2 := captureNow(t, c)
				steps(8)
				if seed%2 == 0 {
					writeCapture(t, "first", f1, w1)
					steps(8)
					f3, w3 := captureNow(t, c)
					steps(8)
					writeCapture(t, "second", f2, w2)
					steps(4)
					writeCapture(t, "third", f3, w3)
				} else {
					writeCapture(t, "second", f2, w2)
					steps(8)
					writeCapture(t, "first", f1, w1)
				}
				c.wait()
				closeDB(t, db)
			}
		})
	}
}

// A write is applied before its log record is synced. A backup captured in between
// holds it, and leaves only once the log holds it as durably as writes are
// acknowledged: no backup holds a write a crash of the server could still undo.
func TestABackupLeavesOnceWhatItHoldsIsDurable(t *testing.T) {
	dir := t.TempDir()
	fsys := &gateFS{}
	db := openDB(t, Options{Dir: dir, FS: fsys})
	defer closeDB(t, db)
	c, err := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("c", &engine.Batch{IDs: []string{"x"}, Vectors: []float32{1, 0}}, "items"); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	fsys.mu.Lock()
	fsys.gate = gate
	fsys.mu.Unlock()
	opened := false
	open := func() {
		if !opened {
			opened = true
			fsys.mu.Lock()
			fsys.gate = nil
			fsys.mu.Unlock()
			close(gate)
		}
	}
	defer open()
	upserted := make(chan error, 1)
	go func() { // applied at once, acknowledged once its fsync passes the gate
		_, err := db.Upsert("c", &engine.Batch{IDs: []string{"y"}, Vectors: []float32{0, 1}}, "items")
		upserted <- err
	}()
	for c.Items() < 2 {
		time.Sleep(time.Millisecond)
	}
	type backupResult struct {
		lsn, durable uint64
		err          error
	}
	backedUp := make(chan backupResult, 1)
	go func() {
		b, err := db.Backup(context.Background(), "c")
		if err != nil {
			backedUp <- backupResult{err: err}
			return
		}
		durable := db.wal.DurableLSN()
		b.Close()
		backedUp <- backupResult{b.LSN, durable, nil}
	}()
	var res backupResult
	select {
	case res = <-backedUp:
	case <-time.After(2 * time.Second): // still waiting for the fsync: let it through
		open()
		res = <-backedUp
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.lsn > res.durable {
		t.Fatalf("the backup (through write %d) left while the log was durable through %d only", res.lsn, res.durable)
	}
	open()
	if err := <-upserted; err != nil {
		t.Fatal(err)
	}
}
