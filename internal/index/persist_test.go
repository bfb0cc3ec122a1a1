package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
	"github.com/hardneg/hardneg/internal/wal"
)

// itemState is one stored item, vector as raw bits so comparisons are exact.
type itemState struct {
	vec     string
	groups  string
	version int64
}

// dbState is everything a DB must restore after a restart.
type dbState struct {
	collections map[string]engine.Config
	lastSeq     map[string]uint64
	items       map[string]map[string]itemState // collection → id → item
	writers     map[string]storage.WriterState
	feedback    map[string]string // collection → sorted "key:id" verdicts
}

func stateOf(t *testing.T, db *DB) dbState {
	t.Helper()
	st := dbState{collections: map[string]engine.Config{}, lastSeq: map[string]uint64{}, items: map[string]map[string]itemState{},
		writers: db.writerTable(), feedback: map[string]string{}}
	// Positions must survive a restart; times need not (a writer moved by a replayed
	// log record counts as written at the restart: settleWriters).
	for id, w := range st.writers {
		w.Unix = 0
		st.writers[id] = w
	}
	for _, c := range db.list() {
		st.collections[c.Name()] = c.Config()
		c.mu.RLock()
		st.lastSeq[c.Name()] = c.lastSeq
		items := map[string]itemState{}
		for id, slot := range c.slots {
			var bits []string
			for _, x := range c.vectorAt(slot) {
				bits = append(bits, fmt.Sprint(math.Float32bits(x)))
			}
			items[id] = itemState{vec: strings.Join(bits, ","), groups: strings.Join(c.groups[slot], "|"), version: c.versions[slot]}
		}
		c.mu.RUnlock()
		st.items[c.Name()] = items
		var fb []string
		c.RangeFalseNegatives(func(key string, ids []string) bool {
			for _, id := range ids {
				fb = append(fb, key+":"+id)
			}
			return true
		})
		slices.Sort(fb)
		st.feedback[c.Name()] = strings.Join(fb, ",")
	}
	return st
}

func sameState(t *testing.T, got, want dbState) {
	t.Helper()
	if fmt.Sprint(got.collections) != fmt.Sprint(want.collections) {
		t.Fatalf("collections %v, want %v", got.collections, want.collections)
	}
	if fmt.Sprint(got.lastSeq) != fmt.Sprint(want.lastSeq) {
		t.Fatalf("last sequences %v, want %v", got.lastSeq, want.lastSeq)
	}
	if fmt.Sprint(got.feedback) != fmt.Sprint(want.feedback) {
		t.Fatalf("false-negative verdicts %v, want %v", got.feedback, want.feedback)
	}
	if fmt.Sprint(got.writers) != fmt.Sprint(want.writers) {
		t.Fatalf("writers %v, want %v", got.writers, want.writers)
	}
	for name, items := range want.items {
		g := got.items[name]
		if len(g) != len(items) {
			t.Fatalf("%s: %d items, want %d", name, len(g), len(items))
		}
		for id, it := range items {
			if g[id] != it {
				t.Fatalf("%s/%s: %+v, want %+v", name, id, g[id], it)
			}
		}
	}
}

func openDB(t testing.TB, opts Options) *DB {
	t.Helper()
	if opts.SnapshotBytes == 0 {
		opts.SnapshotBytes = -1 // snapshots only when a test asks
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = -1
	}
	if opts.LeadRecall == 0 {
		opts.LeadRecall = -1 // no lead measurement (see testDB) unless a test asks
	}
	db, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func closeDB(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// populate makes every kind of change the log records.
func populate(t *testing.T, db *DB, r *rand.Rand, round int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := fmt.Sprintf("r%d-", round)
	if round == 0 {
		_, err := db.create(engine.Config{Name: "cos", Dim: 8, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1}})
		must(err)
		_, err = db.create(engine.Config{Name: "l2", Dim: 3, Metric: engine.L2, Params: engine.Params{M: 8, EfSearch: 20}})
		must(err)
		_, err = db.create(engine.Config{Name: "gone", Dim: 2, Metric: engine.Dot})
		must(err)
	}
	b := randBatch(r, p+"a", 200, 8)
	b.Groups = make([][]string, 200)
	b.Versions = make([]int64, 200)
	for i := range 200 {
		if i%3 == 0 {
			b.Groups[i] = []string{"doc" + fmt.Sprint(i/10), "label"}
		}
		b.Versions[i] = int64(round*1000 - i)
	}
	_, err := db.Upsert("cos", b, "items")
	must(err)
	_, err = db.Upsert("l2", randBatch(r, p+"x", 50, 3), "items")
	must(err)
	_, err = db.Delete("cos", []string{p + "a1", p + "a2", "missing"}, "ids")
	must(err)
	// Replace some items.
	_, err = db.Upsert("cos", randBatch(r, p+"a", 20, 8), "items")
	must(err)
	n, err := db.ReportFalseNegatives("cos", []engine.FalseNegativeReport{{Key: p + "a5", IDs: []string{p + "a6", p + "a7"}}, {Key: "q", IDs: []string{p + "a8"}}}, "reports")
	if err != nil || n != 3 {
		t.Fatalf("ReportFalseNegatives = %d, %v", n, err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		_, err := db.StreamBatch(context.Background(), "trainer", uint64(round)*5+seq, "l2", randBatch(r, fmt.Sprintf("%ss%d-", p, seq), 10, 3), []string{p + "x0"})
		must(err)
	}
	if round == 0 {
		must(db.DeleteCollection("gone"))
		_, err = db.create(engine.Config{Name: "gone", Dim: 4, Metric: engine.L2})
		must(err)
		_, err = db.Upsert("gone", randBatch(r, "g", 5, 4), "items")
		must(err)
	}
}

func TestReopenRestoresState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		snapshot func(t *testing.T, db *DB, r *rand.Rand) // between populating and closing
	}{
		{"from the log alone", nil},
		{"from snapshots and the log after them", func(t *testing.T, db *DB, r *rand.Rand) {
			for _, name := range []string{"cos", "l2", "gone"} {
				if _, err := db.Snapshot(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			}
			populate(t, db, r, 1)
		}},
		{"from snapshots alone", func(t *testing.T, db *DB, r *rand.Rand) {
			populate(t, db, r, 1)
			for _, name := range []string{"cos", "l2", "gone"} {
				if _, err := db.Snapshot(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := rand.New(rand.NewPCG(1, 2))
			db := openDB(t, Options{Dir: dir})
			populate(t, db, r, 0)
			if tc.snapshot != nil {
				tc.snapshot(t, db, r)
			}
			want := stateOf(t, db)
			q := randBatch(r, "q", 1, 8).Vectors
			wantHits := searchIDs(t, db, "cos", q)
			closeDB(t, db)

			db = openDB(t, Options{Dir: dir})
			defer closeDB(t, db)
			sameState(t, stateOf(t, db), want)
			if got := searchIDs(t, db, "cos", q); !slices.Equal(got, wantHits) {
				t.Fatalf("graph search after restart %v, before %v", got, wantHits)
			}
			if c, _ := db.lookup("cos"); !c.Stats().GraphSearch {
				t.Fatal("collection cos is not searched through its graph")
			}
			rec := db.Recovery()
			if tc.snapshot != nil && rec.SnapshotsLoaded != 3 {
				t.Fatalf("Recovery = %+v, want 3 snapshots loaded", rec)
			}
			// The restored DB keeps working: sequences continue and duplicates
			// of old stream batches are recognised.
			res, err := db.StreamAppend("trainer", 1, "l2", nil, nil)
			if err != nil || !res.Duplicate {
				t.Fatalf("old stream batch after restart = %+v, %v; want a duplicate", res, err)
			}
			up, err := db.Upsert("l2", randBatch(r, "new", 1, 3), "items")
			if err != nil || up.Sequence <= want.lastSeq["cos"] {
				t.Fatalf("upsert after restart = %+v, %v", up, err)
			}
		})
	}
}

func searchIDs(t *testing.T, db *DB, name string, v []float32) []string {
	t.Helper()
	c, err := db.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.PrepareQuery(v, "q")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if _, err := c.Search(context.Background(), q, engine.SearchOptions{MaxCandidates: 50}, func(cd engine.Candidate) bool {
		ids = append(ids, cd.ID)
		return len(ids) < 20
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSnapshotTruncatesLogAndKeepsTwo(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 16 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(5, 6))
	if _, err := db.create(engine.Config{Name: "c", Dim: 16, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 20 {
			if _, err := db.Upsert("c", randBatch(r, fmt.Sprintf("%d-%d-", round, i), 20, 16), "items"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Snapshot(context.Background(), "c"); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := db.disk.Snapshots()
	if len(files) != snapKeep {
		t.Fatalf("%d snapshot files, want %d", len(files), snapKeep)
	}
	st := db.LogStats()
	if st.TruncatedSegments == 0 || st.FirstLSN > files[1].LSN+1 {
		t.Fatalf("log stats %+v: want segments below the older snapshot (%d) truncated, the rest kept", st, files[1].LSN)
	}
	want := stateOf(t, db)
	closeDB(t, db)

	// The newest snapshot is damaged: the older one and the log replace it.
	newest := filepath.Join(dir, storage.SnapDirName, files[0].Name)
	b, _ := os.ReadFile(newest)
	b[len(b)/2] ^= 0x10
	os.WriteFile(newest, b, 0o640)
	db = openDB(t, opts)
	rec := db.Recovery()
	if len(rec.SnapshotsRejected) != 1 || rec.SnapshotsLoaded != 1 || rec.RecordsReplayed == 0 {
		t.Fatalf("Recovery = %+v, want the newest rejected and the older one loaded", rec)
	}
	if _, err := os.Stat(newest + storage.CorruptSuffix); err != nil {
		t.Fatalf("damaged snapshot not set aside: %v", err)
	}
	sameState(t, stateOf(t, db), want)
	closeDB(t, db)

	// With no snapshot left that verifies, the truncated log cannot rebuild the
	// collection: Open refuses rather than start without it.
	older := filepath.Join(dir, storage.SnapDirName, files[1].Name)
	b, _ = os.ReadFile(older)
	b[len(b)-1] ^= 0x10
	os.WriteFile(older, b, 0o640)
	if _, err := Open(opts); !errors.Is(err, ErrDataMissing) {
		t.Fatalf("Open without a valid snapshot = %v, want ErrDataMissing", err)
	}
}

func TestRecoveryRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	closeDB(t, db)
	tmp := filepath.Join(dir, storage.SnapDirName, storage.SnapshotName("c", 9)+wal.TempSuffix)
	os.WriteFile(tmp, []byte("half a snapshot"), 0o640)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	if rec := db.Recovery(); len(rec.TempFilesRemoved) != 1 {
		t.Fatalf("Recovery = %+v", rec)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still there: %v", err)
	}
}

func TestDamagedLogRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 4 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(8, 9))
	db.create(engine.Config{Name: "c", Dim: 8, Metric: engine.L2})
	for i := range 100 {
		if _, err := db.Upsert("c", randBatch(r, fmt.Sprint(i, "-"), 5, 8), "items"); err != nil {
			t.Fatal(err)
		}
	}
	closeDB(t, db)
	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "wal-*.log"))
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	b, _ := os.ReadFile(segs[0])
	b[len(b)-10] ^= 1
	os.WriteFile(segs[0], b, 0o640)
	if _, err := Open(opts); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("Open = %v, want wal.ErrCorrupt", err)
	}
	opts.Salvage = true
	db = openDB(t, opts)
	defer closeDB(t, db)
	rec := db.Recovery()
	if rec.Log.Truncated == nil || rec.Log.Truncated.Tail {
		t.Fatalf("Recovery = %+v, want a salvage cut", rec)
	}
	c, err := db.lookup("c")
	if err != nil || c.Stats().Items == 0 || c.Stats().Items >= 500 {
		t.Fatalf("salvaged collection: %v, %+v", err, c.Stats())
	}
}

// failingFS fails every fsync once armed.
type failingFS struct {
	wal.OSFS
	armed atomic.Bool
}

func (f *failingFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &failingFile{File: file, fs: f}, nil
}

type failingFile struct {
	wal.File
	fs *failingFS
}

func (f *failingFile) Sync() error {
	if f.fs.armed.Load() {
		return errors.New("injected fsync failure")
	}
	return f.File.Sync()
}

func TestFailedFsyncStopsWrites(t *testing.T) {
	dir := t.TempDir()
	fsys := &failingFS{}
	db := openDB(t, Options{Dir: dir, FS: fsys})
	r := rand.New(rand.NewPCG(3, 3))
	db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.L2})
	acked := randBatch(r, "ok", 10, 4)
	if _, err := db.Upsert("c", acked, "items"); err != nil {
		t.Fatal(err)
	}
	fsys.armed.Store(true)
	if _, err := db.Upsert("c", randBatch(r, "lost", 10, 4), "items"); !errors.Is(err, engine.ErrStorageFailed) {
		t.Fatalf("Upsert with failing fsync = %v, want ErrStorageFailed", err)
	}
	select {
	case <-db.Failed():
	default:
		t.Fatal("Failed() not closed")
	}
	if _, err := db.Upsert("c", randBatch(r, "later", 1, 4), "items"); !errors.Is(err, engine.ErrStorageFailed) {
		t.Fatalf("later Upsert = %v", err)
	}
	if _, err := db.Snapshot(context.Background(), "c"); err == nil {
		t.Fatal("snapshot succeeded on a failed log")
	}
	db.Close()

	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	c, _ := db.lookup("c")
	items, missing := c.Get(acked.IDs, true)
	if len(missing) != 0 || len(items) != 10 {
		t.Fatalf("acknowledged items missing after restart: %v", missing)
	}
}

func TestBackgroundSnapshotBySize(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, SnapshotBytes: 1 << 10, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	r := rand.New(rand.NewPCG(4, 4))
	db.create(engine.Config{Name: "c", Dim: 8, Metric: engine.L2})
	if _, err := db.Upsert("c", randBatch(r, "a", 100, 8), "items"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		files, err := db.disk.Snapshots()
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 1 && files[0].Collection == "c" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no background snapshot after the log grew past SnapshotBytes")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestEmptyStreamBatchMovesLastSequence: a stream batch without items or deletes is a
// logged write; the collection's last applied sequence includes it at once, as after
// a restart that replays it.
func TestEmptyStreamBatchMovesLastSequence(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	c, err := db.CreateCollection(engine.Config{Name: "c", Dim: 2, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.StreamBatch(context.Background(), "w", 1, "c", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().LastSequence; got != res.LSN {
		t.Fatalf("last sequence %d after an empty batch logged at %d", got, res.LSN)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, Options{Dir: dir})
	t.Cleanup(func() { db.Close() })
	c2, err := db.Collection("c")
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Stats().LastSequence; got != res.LSN {
		t.Errorf("after a restart: last sequence %d, want %d", got, res.LSN)
	}
}

// TestSnapshotChanged snapshots the changed collections and skips unchanged ones; cut
// short by its context, or by a snapshot in progress that outlasts its context, it
// writes no partial file, counts no failure and loses nothing.
func TestSnapshotChanged(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(7, 7))
	for _, name := range []string{"small", "big", "same"} {
		if _, err := db.create(engine.Config{Name: name, Dim: 8, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	db.Upsert("small", randBatch(r, "s", 10, 8), "items")
	db.Upsert("big", randBatch(r, "b", 300, 8), "items")
	db.Upsert("same", randBatch(r, "x", 10, 8), "items")
	if _, err := db.Snapshot(context.Background(), "same"); err != nil {
		t.Fatal(err)
	}

	// A context that has ended leaves every changed collection, counting no failure.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if w, left, err := db.SnapshotChanged(done); w != 0 || left != 2 || err != nil {
		t.Fatalf("SnapshotChanged(ended) = %d, %d, %v; want 0, 2, nil", w, left, err)
	}
	// A snapshot in progress (snapMu held) that outlasts the context: it gives up.
	locked, release, released := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // another goroutine, as the background snapshotter is
		db.snapMu.Lock()
		close(locked)
		<-release
		db.snapMu.Unlock()
		close(released)
	}()
	<-locked
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	w, left, err := db.SnapshotChanged(short)
	cancelShort()
	close(release)
	<-released
	if w != 0 || left != 2 || err != nil {
		t.Fatalf("SnapshotChanged behind a held snapshot lock = %d, %d, %v; want 0, 2, nil", w, left, err)
	}
	// A write that finds the context ended abandons the snapshot: no file, no failure.
	if _, err := db.Snapshot(done, "big"); !errors.Is(err, context.Canceled) {
		t.Fatalf("snapshot with an ended context: %v", err)
	}
	if files, _ := db.disk.Snapshots(); len(files) != 1 || files[0].Collection != "same" {
		t.Fatalf("snapshot files after the abandoned ones: %+v", files)
	}
	if st := db.DurabilityStats(); st.SnapshotFailures != 0 {
		t.Fatalf("abandoned snapshots counted as failures: %+v", st)
	}
	want := stateOf(t, db)

	w, left, err = db.SnapshotChanged(context.Background())
	if w != 2 || left != 0 || err != nil {
		t.Fatalf("SnapshotChanged = %d, %d, %v; want 2, 0, nil", w, left, err)
	}
	files, _ := db.disk.Snapshots()
	var names []string
	for _, f := range files {
		names = append(names, f.Collection)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"big", "same", "small"}) {
		t.Fatalf("snapshots of %v, want big, same, small", names)
	}
	if w, left, err := db.SnapshotChanged(context.Background()); w != 0 || left != 0 || err != nil {
		t.Fatalf("SnapshotChanged with nothing changed = %d, %d, %v", w, left, err)
	}
	closeDB(t, db)
	db = openDB(t, opts)
	defer closeDB(t, db)
	if rec := db.Recovery(); rec.SnapshotsLoaded != 3 || rec.RecordsReplayed != 0 {
		t.Fatalf("Recovery = %+v, want 3 snapshots loaded and nothing replayed", rec)
	}
	sameState(t, stateOf(t, db), want)
}

// busyAndIdle creates the cosine collections "busy", "idle" and more (32-d), writes 50
// items to idle and snapshots it; it returns idle's batch.
func busyAndIdle(t *testing.T, db *DB, r *rand.Rand, more ...string) *engine.Batch {
	t.Helper()
	for _, name := range append([]string{"busy", "idle"}, more...) {
		if _, err := db.create(engine.Config{Name: name, Dim: 32, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	idle := randBatch(r, "i", 50, 32)
	if _, err := db.Upsert("idle", idle, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(context.Background(), "idle"); err != nil {
		t.Fatal(err)
	}
	return idle
}

// TestIdleCollectionDoesNotHoldTheLog: a collection without writes (one never written,
// one written once and snapshotted) must not keep the write-ahead log from being
// truncated while another collection is written: the background snapshots take them
// again, complete through the log's end, once the log has grown past SnapshotBytes,
// and a restart finds every collection whole although the log no longer reaches back
// to their writes.
func TestIdleCollectionDoesNotHoldTheLog(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 64 << 10, SnapshotBytes: 128 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(5, 5))
	idle := busyAndIdle(t, db, r, "empty")
	// 1.2 MiB of batches into busy, 20 KiB each; the background snapshotter runs
	// meanwhile (it checks every second).
	deadline := time.Now().Add(60 * time.Second)
	var logBytes int64
	for i := 0; ; i++ {
		if _, err := db.Upsert("busy", randBatch(r, "b"+strconv.Itoa(i%40)+"-", 150, 32), "items"); err != nil {
			t.Fatal(err)
		}
		if i < 60 {
			continue
		}
		logBytes = db.disk.LogBytes()
		if logBytes < 512<<10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if logBytes >= 512<<10 {
		t.Fatalf("the log holds %d bytes after a minute; the idle collections keep it", logBytes)
	}
	want := map[string]int{}
	for _, name := range []string{"busy", "idle", "empty"} {
		c, _ := db.Collection(name)
		want[name] = c.Stats().Items
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, Options{Dir: dir})
	defer db.Close()
	for name, n := range want {
		c, err := db.Collection(name)
		if err != nil {
			t.Fatalf("after a restart: %v", err)
		}
		if got := c.Stats().Items; got != n {
			t.Errorf("after a restart %q holds %d items, want %d", name, got, n)
		}
	}
	c, _ := db.Collection("idle")
	if items, missing := c.(*Collection).Get(idle.IDs, true); len(missing) > 0 || !slices.Equal(items[7].Vector, idle.Row(7, 32)) {
		t.Errorf("after a restart idle misses %v of its items, or item 7 changed", missing)
	}
}

// After a start with Salvage that lost the log's last segments, the log goes on past
// every LSN a snapshot speaks of (padLog): a collection's snapshot that is complete
// through a later LSN than the log now ends at must not see its LSNs handed out again,
// or the next start would be refused (the snapshot covering more than the log holds)
// or, once the log had grown past it, the pruning would trust the snapshot and drop
// the collection's writes made after the salvaged start.
func TestSalvagedStartPadsPastSnapshotsThrough(t *testing.T) {
	for _, grow := range []bool{false, true} {
		t.Run(fmt.Sprintf("grown past it %v", grow), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: 16 << 10}
			db := openDB(t, opts)
			r := rand.New(rand.NewPCG(1, 2))
			for _, n := range []string{"x", "y"} {
				if _, err := db.create(engine.Config{Name: n, Dim: 8, Metric: engine.L2}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Upsert("x", randBatch(r, "x0-", 10, 8), "items"); err != nil {
				t.Fatal(err)
			}
			for i := range 60 {
				if _, err := db.Upsert("y", randBatch(r, "y"+strconv.Itoa(i)+"-", 20, 8), "items"); err != nil {
					t.Fatal(err)
				}
			}
			// x's snapshot is complete through the log's end, far past its last write.
			if _, err := db.Snapshot(context.Background(), "x"); err != nil {
				t.Fatal(err)
			}
			through := db.wal.LastLSN()
			closeDB(t, db)
			// Lose the last two log segments: the log ends below x's Through.
			segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*"))
			segs = slices.DeleteFunc(segs, func(p string) bool { fi, _ := os.Stat(p); return fi.IsDir() })
			slices.Sort(segs)
			for _, p := range segs[len(segs)-2:] {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			db = openDB(t, Options{Dir: dir, SegmentBytes: 16 << 10, Salvage: true})
			if _, err := db.Upsert("x", randBatch(r, "x1-", 10, 8), "items"); err != nil {
				t.Fatal(err)
			}
			if lsn := db.wal.LastLSN(); lsn <= through {
				t.Fatalf("the write after the salvaged start took lsn %d, at or below x's snapshot's %d", lsn, through)
			}
			for i := 0; grow && db.wal.LastLSN() <= through+5; i++ {
				if _, err := db.Upsert("y", randBatch(r, "yz"+strconv.Itoa(i)+"-", 20, 8), "items"); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // y twice, so the pruning moves past y's older snapshot
				if _, err := db.Upsert("y", randBatch(r, "yy-", 20, 8), "items"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Snapshot(context.Background(), "y"); err != nil {
					t.Fatal(err)
				}
			}
			closeDB(t, db)
			db = openDB(t, Options{Dir: dir, SegmentBytes: 16 << 10}) // no Salvage
			defer closeDB(t, db)
			c, _ := db.lookup("x")
			if _, missing := c.Get([]string{"x1-0"}, false); len(missing) > 0 {
				t.Error("x lost the write acknowledged after the salvaged start")
			}
		})
	}
}

// Once writes stop, an idle collection whose older kept snapshot holds the log back
// does not keep it: its newest snapshot is already complete through the log's end, so
// the background snapshots log an empty record for it and take it again, the log
// shrinks, and then a server that receives no writes takes no more snapshots.
func TestQuietServerLetsTheLogGoThenTakesNoSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 64 << 10, SnapshotBytes: 128 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(5, 5))
	idle := busyAndIdle(t, db, r)
	for i := range 25 {
		if _, err := db.Upsert("busy", randBatch(r, "b"+strconv.Itoa(i)+"-", 150, 32), "items"); err != nil {
			t.Fatal(err)
		}
	}
	// idle's second snapshot, complete through the log's end: its first still holds
	// the log back, and nothing more is written.
	for _, name := range []string{"busy", "idle"} {
		if _, err := db.Snapshot(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.disk.LogBytes(); n < 256<<10 {
		t.Fatalf("the log holds %d bytes before the wait; the test needs more", n)
	}
	taken := func() uint64 {
		db.snapStats.mu.Lock()
		defer db.snapStats.mu.Unlock()
		return db.snapStats.taken
	}
	deadline := time.Now().Add(20 * time.Second)
	for db.disk.LogBytes() >= 256<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("the log still holds %d bytes after 20 s without writes", db.disk.LogBytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a snapshot pass in progress ends
	before := taken()
	time.Sleep(3 * time.Second) // nothing is written
	if n := taken() - before; n > 0 {
		t.Errorf("a server that receives no writes took %d snapshots in 3 s once the log was small", n)
	}
	closeDB(t, db)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	c, _ := db.lookup("idle")
	if _, missing := c.Get(idle.IDs, false); len(missing) > 0 {
		t.Errorf("after a restart idle misses %d of its items", len(missing))
	}
}

// With many idle collections, one round of the background snapshots lets the log go
// past all of them: it does not take a round (a second) per idle collection while the
// log, written fast elsewhere, grows on.
func TestOneSnapshotRoundLetsTheLogGoPastEveryIdleCollection(t *testing.T) {
	dir := t.TempDir()
	// Background snapshots by size only, checked every second: the test's own round
	// (snapshotPass) runs before the next check, or alongside it.
	opts := Options{Dir: dir, SegmentBytes: 32 << 10, SnapshotBytes: 64 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(7, 7))
	const idle = 20
	for i := range idle {
		name := "idle" + strconv.Itoa(i)
		if _, err := db.create(engine.Config{Name: name, Dim: 8, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(name, randBatch(r, "i", 20, 8), "items"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Snapshot(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.create(engine.Config{Name: "busy", Dim: 32, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	for i := range 60 { // about 1 MiB of log, all of it behind the idle collections' snapshots
		if _, err := db.Upsert("busy", randBatch(r, "b"+strconv.Itoa(i%10)+"-", 100, 32), "items"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Snapshot(context.Background(), "busy"); err != nil {
		t.Fatal(err)
	}
	before := db.disk.LogBytes()
	db.snapMu.Lock() // wait out a background round in progress, as the next one would
	db.snapMu.Unlock()
	db.snapshotPass()
	after := db.disk.LogBytes()
	if limit := max(opts.SnapshotBytes, before/4); after >= limit {
		l := db.logLimiter.Load()
		t.Fatalf("after one round the log holds %d bytes (%d before), held back by %q; want under %d", after, before, *l, limit)
	}
	closeDB(t, db)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	for i := range idle {
		c, err := db.lookup("idle" + strconv.Itoa(i))
		if err != nil || c.Stats().Items != 20 {
			t.Fatalf("after a restart idle%d: %v", i, err)
		}
	}
}

// A collection whose background snapshot fails is tried again after 2 s, then after
// twice as long each time up to 5 minutes, and from the next round once it succeeds.
func TestFailedBackgroundSnapshotsBackOff(t *testing.T) {
	var r snapshotRetry
	t0 := time.Unix(1000, 0)
	if err := r.wait("a", t0); err != nil {
		t.Fatalf("never failed: %v", err)
	}
	at := t0
	var delays []time.Duration
	for range 10 {
		d := r.failed("a", at)
		delays = append(delays, d)
		if err := r.wait("a", at.Add(d-time.Millisecond)); !errors.Is(err, errSnapshotBackoff) {
			t.Fatalf("before the delay: %v", err)
		}
		if err := r.wait("b", at); err != nil {
			t.Fatalf("another collection waits: %v", err)
		}
		at = at.Add(d)
		if err := r.wait("a", at); err != nil {
			t.Fatalf("at the delay: %v", err)
		}
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if !r.succeeded("a") || r.succeeded("a") {
		t.Error("succeeded should report the failures once")
	}
	if d := r.failed("a", at); d != 2*time.Second {
		t.Errorf("after a success the first delay is %v", d)
	}
}

// noReadFS refuses to open files whose name ends in suffix, as a file of another owner
// would be refused.
type noReadFS struct {
	wal.FS
	suffix string
}

func (f noReadFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	if strings.HasSuffix(name, f.suffix) && flag == os.O_RDONLY {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f.FS.OpenFile(name, flag, perm)
}

// A snapshot the server may not read is not damage: the start is refused naming it,
// and the file keeps its name (not set aside as .corrupt).
func TestUnreadableSnapshotRefusesWithoutSettingItAside(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	if _, err := db.create(engine.Config{Name: "x", Dim: 4, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("x", randBatch(rand.New(rand.NewPCG(1, 1)), "a", 10, 4), "items"); err != nil {
		t.Fatal(err)
	}
	info, err := db.Snapshot(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	name := filepath.Base(info.Path)
	_, err = Open(Options{Dir: dir, FS: noReadFS{wal.OSFS{}, name}})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "is not treated as damaged") {
		t.Fatalf("Open = %v, want a refusal naming the permission problem", err)
	}
	if _, err := os.Stat(info.Path); err != nil {
		t.Fatalf("the snapshot was moved: %v", err)
	}
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	if c, err := db.lookup("x"); err != nil || c.Stats().Items != 10 {
		t.Fatalf("readable again: %v", err)
	}
}

// Only closed log segments can be freed: a log whose bytes are in the segment being
// appended to does not make an idle server's rounds snapshot its collections again
// and again.
func TestIdleRoundsTakeNoSnapshotsForTheActiveSegment(t *testing.T) {
	db := openDB(t, Options{Dir: t.TempDir(), SegmentBytes: 4 << 20, SnapshotBytes: 64 << 10, SnapshotInterval: -1})
	defer closeDB(t, db)
	r := rand.New(rand.NewPCG(9, 9))
	for _, name := range []string{"a", "b", "c"} {
		if _, err := db.create(engine.Config{Name: name, Dim: 8, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 { // about 1 MiB, all in the first segment
		if _, err := db.Upsert("a", randBatch(r, "a"+strconv.Itoa(i%4)+"-", 200, 32/4), "items"); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.disk.LogBytes(); n < 256<<10 || db.disk.ClosedLogBytes() != 0 {
		t.Fatalf("log %d bytes, %d in closed segments; the test needs one large segment", n, db.disk.ClosedLogBytes())
	}
	taken := func() uint64 {
		db.snapStats.mu.Lock()
		defer db.snapStats.mu.Unlock()
		return db.snapStats.taken
	}
	// Two snapshots of each, a write apart: each one's older snapshot holds the log.
	for round := range 2 {
		for _, name := range []string{"a", "b", "c"} {
			if _, err := db.Upsert("a", randBatch(r, "x"+strconv.Itoa(round)+name, 1, 8), "items"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Snapshot(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.snapMu.Lock() // a background round in progress ends
	db.snapMu.Unlock()
	db.snapshotPass()
	before := taken()

	for range 3 {
		db.snapshotPass()
	}
	if n := taken() - before; n != 0 {
		t.Errorf("three rounds without writes took %d snapshots", n)
	}
}

// A collection whose creation the log was trimmed past exists only in its snapshots.
// When they are gone and the log does not write to it again, only the snapshot
// catalog, written before the trim, says it existed: the start is refused, naming it,
// instead of coming up without it. A dropped collection is not missed, a directory
// without a catalog (from before catalogs) is not checked, and -wal-salvage starts.
func TestLostSnapshotsOfAQuietCollectionRefuseTheStart(t *testing.T) {
	dir, opts := quietCollections(t)
	removeSnapshots(t, dir, "keep")
	_, err := Open(Options{Dir: dir, SegmentBytes: 16 << 10, SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1})
	if !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), `"keep" (created at lsn 1) is in the snapshot catalog`) {
		t.Fatalf("Open without keep's snapshots = %v, want ErrDataMissing naming keep", err)
	}
	if strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("Open names the dropped collection: %v", err)
	}

	salvaged := opts
	salvaged.Salvage = true
	db := openDB(t, salvaged)
	if _, err := db.lookup("keep"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("salvaged start: keep %v, want not found", err)
	}
	if _, err := db.lookup("busy"); err != nil {
		t.Fatal(err)
	}
	db.Close() // a crash would do: the salvaged start wrote the catalog again already
	closeDB(t, openDB(t, opts))

	// A directory from before catalogs is not checked.
	if err := os.Remove(filepath.Join(dir, "wal", storage.CatalogFile)); err != nil {
		t.Fatal(err)
	}
	closeDB(t, openDB(t, opts))
}

// The catalog lives beside the log: losing snapshots/ as a whole is refused too. A
// damaged catalog is refused naming it; -wal-salvage starts and writes it again, and
// the next start needs no flag.
func TestLostSnapshotDirectoryAndDamagedCatalogRefuseTheStart(t *testing.T) {
	dir, opts := quietCollections(t)
	saved := filepath.Join(t.TempDir(), "snapshots")
	if err := os.Rename(filepath.Join(dir, storage.SnapDirName), saved); err != nil {
		t.Fatal(err)
	}
	strict := Options{Dir: dir, SegmentBytes: 16 << 10, SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1}
	if _, err := Open(strict); !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), `"keep"`) || !strings.Contains(err.Error(), `"busy"`) {
		t.Fatalf("Open without snapshots/ = %v, want ErrDataMissing naming keep and busy", err)
	}
	os.RemoveAll(filepath.Join(dir, storage.SnapDirName))
	if err := os.Rename(saved, filepath.Join(dir, storage.SnapDirName)); err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "wal", storage.CatalogFile)
	b, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(catalog, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(strict); !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), "catalog") {
		t.Fatalf("Open with a damaged catalog = %v, want ErrDataMissing naming it", err)
	}
	salvaged := opts
	salvaged.Salvage = true
	db := openDB(t, salvaged)
	db.Close()
	closeDB(t, openDB(t, opts))

	// A directory in the catalog's place: refused, and a salvage moves it aside.
	if err := os.Remove(catalog); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(catalog, "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(strict); !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), "catalog") {
		t.Fatalf("Open with a directory for the catalog = %v, want ErrDataMissing naming it", err)
	}
	db = openDB(t, salvaged)
	db.Close()
	if fi, err := os.Stat(catalog); err != nil || fi.IsDir() {
		t.Fatalf("after a salvage the catalog is %v, %v; want a file", fi, err)
	}
	closeDB(t, openDB(t, opts))
}

// quietCollections leaves a closed data directory whose log was trimmed past the
// creation of "keep" (2 items, no writes since) and "busy" (written to), after "gone"
// was created, snapshotted and deleted.
func quietCollections(t *testing.T) (string, Options) {
	t.Helper()
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 16 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(7, 8))
	for _, name := range []string{"keep", "gone", "busy"} {
		if _, err := db.create(engine.Config{Name: name, Dim: 16, Metric: engine.L2}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(name, randBatch(r, name, 2, 16), "items"); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		for i := range 20 {
			if _, err := db.Upsert("busy", randBatch(r, fmt.Sprintf("%d-%d-", round, i), 20, 16), "items"); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"keep", "gone", "busy"} {
			if _, err := db.Snapshot(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.DeleteCollection("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(context.Background(), "busy"); err != nil { // a trim after the drop
		t.Fatal(err)
	}
	if st := db.LogStats(); st.FirstLSN <= 2 {
		t.Fatalf("log starts at lsn %d: want it trimmed past the creation records", st.FirstLSN)
	}
	closeDB(t, db)
	return dir, opts
}

// A snapshot or a delete that took effect is not reported as failed when the prune
// after it fails (here: the catalog cannot be written): the failure leaves old files and
// log segments in place, which a later prune removes, and the log is not trimmed on the
// strength of a catalog that was not written.
func TestFailedPruneDoesNotFailWhatTookEffect(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 16 << 10}
	db := openDB(t, opts)
	r := rand.New(rand.NewPCG(9, 10))
	for _, name := range []string{"a", "b"} {
		if _, err := db.create(engine.Config{Name: name, Dim: 16, Metric: engine.L2}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(name, randBatch(r, name, 20, 16), "items"); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where the catalog goes: writing it fails.
	if err := os.MkdirAll(filepath.Join(dir, "wal", storage.CatalogFile, "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	first := db.LogStats().FirstLSN
	if _, err := db.Snapshot(context.Background(), "a"); err != nil {
		t.Fatalf("Snapshot with the prune failing: %v, want success (the snapshot is written)", err)
	}
	if err := db.DeleteCollection("b"); err != nil {
		t.Fatalf("DeleteCollection with the prune failing: %v, want success (the drop is logged)", err)
	}
	if got := db.LogStats().FirstLSN; got != first {
		t.Fatalf("the log was trimmed from %d to %d without a catalog written", first, got)
	}
	closeDB(t, db)
	if err := os.RemoveAll(filepath.Join(dir, "wal", storage.CatalogFile)); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, opts)
	defer closeDB(t, db)
	if _, err := db.lookup("b"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("b after a restart: %v, want deleted", err)
	}
	if c, err := db.lookup("a"); err != nil || c.Stats().Items != 20 {
		t.Fatalf("a after a restart: %v", err)
	}
}
