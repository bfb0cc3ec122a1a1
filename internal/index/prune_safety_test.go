package index

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/crashfs"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
	"github.com/hardneg/hardneg/internal/wal"
)

// Under wal.SyncInterval, DeleteCollection acknowledges the drop once written (not
// fsynced) and then prunes: the collection's snapshots are removed durably while the
// drop record is not yet durable. A power failure then loses the drop (allowed under
// SyncInterval) but not the snapshot removal: the collection should come back (the
// delete was lost), instead the start is refused (or its data is gone).
func TestADropUnderSyncIntervalIsDurableBeforeItsSnapshotsGo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fsys := crashfs.New()
	open := func(f *crashfs.FS) (*DB, error) {
		return Open(Options{Dir: dir, FS: f, Sync: wal.SyncInterval, SyncInterval: time.Hour,
			SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1})
	}
	db, err := open(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"src", "b"} {
		if _, err := db.CreateCollection(engine.Config{Name: n, Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Upsert("src", &engine.Batch{IDs: []string{"x", "y", "z"}, Vectors: []float32{1, 0, 0, 1, 1, 1}}, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(ctx, "b"); err != nil { // prune: catalog {src, b}
		t.Fatal(err)
	}
	data, src := backupOf(t, db, "src")
	if _, err := db.Restore(ctx, bytes.NewReader(data), src, "r", nil); err != nil { // no prune: catalog stays {src, b}
		t.Fatal(err)
	}
	db.wal.Sync(ctx) // the interval fsync has run since the restore
	t.Logf("before delete: durable %d last %d catalog %v", db.wal.DurableLSN(), db.wal.LastLSN(), db.catalog)
	if err := db.DeleteCollection("r"); err != nil {
		t.Fatal(err)
	}
	t.Logf("after delete: durable %d last %d catalog %v", db.wal.DurableLSN(), db.wal.LastLSN(), db.catalog)
	crashed := fsys.Crash() // power failure: what no fsync covered is gone
	db.Close()

	db2, err := open(crashed)
	if err != nil {
		t.Fatalf("start after a power failure following an acknowledged (SyncInterval) delete: %v", err)
	}
	defer db2.Close()
	if c, err := db2.lookup("r"); err == nil && c.Stats().Items != 3 {
		t.Fatalf("r came back with %d items, want 3 (the drop was lost) or no collection", c.Stats().Items)
	}
}

// The same with a collection loaded at start, the only one: the catalog (cached as nil
// at start) equals the empty live set after the drop, so no sync precedes the removal
// of its snapshots and the trim of the log.
func TestADropOfTheOnlyCollectionUnderSyncIntervalIsDurableBeforeTheLogIsTrimmed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fsys := crashfs.New()
	open := func(f *crashfs.FS, p wal.SyncPolicy) (*DB, error) {
		return Open(Options{Dir: dir, FS: f, Sync: p, SyncInterval: time.Hour, SegmentBytes: 4 << 10,
			SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1})
	}
	db, err := open(fsys, wal.SyncAlways)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCollection(engine.Config{Name: "a", Dim: 256, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b := &engine.Batch{IDs: []string{string(rune('a' + i))}, Vectors: make([]float32, 256)}
		b.Vectors[0] = float32(i)
		if _, err := db.Upsert("a", b, "items"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Snapshot(ctx, "a"); err != nil { // catalog {a}, log trimmed past a's creation
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = open(fsys, wal.SyncInterval)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: durable %d last %d catalog %v first %d", db.wal.DurableLSN(), db.wal.LastLSN(), db.catalog, db.LogStats().FirstLSN)
	if err := db.DeleteCollection("a"); err != nil {
		t.Fatal(err)
	}
	t.Logf("after: durable %d last %d catalog %v first %d", db.wal.DurableLSN(), db.wal.LastLSN(), db.catalog, db.LogStats().FirstLSN)
	crashed := fsys.Crash()
	db.Close()
	db2, err := open(crashed, wal.SyncInterval)
	if err != nil {
		t.Fatalf("start after a power failure following an acknowledged (SyncInterval) delete: %v", err)
	}
	defer db2.Close()
	if c, err := db2.lookup("a"); err == nil && c.Stats().Items != 20 {
		t.Fatalf("a came back with %d items, want 20 or none", c.Stats().Items)
	}
}

// gateFS blocks fsyncs of log segments while gate is set.
type gateFS struct {
	wal.OSFS
	mu      sync.Mutex
	gate    chan struct{} // non-nil: segment fsyncs wait for it to close
	waiting atomic.Int32  // fsyncs waiting at the gate
}

func (f *gateFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !wal.IsSegment(filepath.Base(name)) {
		return file, err
	}
	return &gateFile{File: file, fs: f}, nil
}

type gateFile struct {
	wal.File
	fs *gateFS
}

func (g *gateFile) Sync() error {
	g.fs.mu.Lock()
	ch := g.fs.gate
	g.fs.mu.Unlock()
	if ch != nil {
		g.fs.waiting.Add(1)
		<-ch
		g.fs.waiting.Add(-1)
	}
	return g.File.Sync()
}

func snapNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, storage.SnapDirName))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// DeleteCollection takes snapMu for its prune only after the drop is durable; Close
// does not wait for it. A delete in flight when Close runs prunes after Close has
// returned: snapshot files removed, the catalog written and log segments deleted in a
// data directory whose lock is released (another server may have opened it).
func TestADeleteInFlightAtCloseChangesNothingAfterIt(t *testing.T) {
	dir := t.TempDir()
	fsys := &gateFS{}
	db := openDB(t, Options{Dir: dir, FS: fsys})
	for _, n := range []string{"a", "b"} {
		if _, err := db.CreateCollection(engine.Config{Name: n, Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(n, &engine.Batch{IDs: []string{"x"}, Vectors: []float32{1, 0}}, "items"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Snapshot(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{})
	fsys.mu.Lock()
	fsys.gate = gate
	fsys.mu.Unlock()
	db.snapMu.Lock() // so that Close queues on it before the delete does

	delDone := make(chan error, 1)
	go func() { delDone <- db.DeleteCollection("a") }() // waits for its fsync
	for {                                               // until the drop is applied (the delete is now in logWait)
		if _, err := db.lookup("a"); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closeDone := make(chan error, 1)
	go func() { closeDone <- db.Close() }()
	time.Sleep(100 * time.Millisecond) // Close is now waiting for snapMu
	fsys.mu.Lock()
	fsys.gate = nil
	fsys.mu.Unlock()
	close(gate)                        // the drop's fsync completes; the delete waits for snapMu
	time.Sleep(100 * time.Millisecond) // behind Close
	db.snapMu.Unlock()
	if err := <-closeDone; err != nil {
		t.Fatal(err)
	}
	atClose := snapNames(t, dir)
	// The directory is unlocked now: a new DB may open it.
	if err := <-delDone; err != nil {
		t.Logf("DeleteCollection: %v", err)
	}
	after := snapNames(t, dir)
	if strings.Join(atClose, ",") != strings.Join(after, ",") {
		t.Fatalf("snapshot files changed after Close returned: %v -> %v", atClose, after)
	}
}

// A collection whose only snapshot is damaged, while the log still holds its creation
// and every write to it (another collection holds the log back), is fully recoverable
// from the log; checkCoverage refuses it before replay because the log's first LSN > 1.
func TestARejectedSnapshotIsRebuiltFromALogThatHoldsItsCreation(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 4 << 10}
	db := openDB(t, opts)
	vec := func(i int) []float32 { v := make([]float32, 256); v[0] = float32(i + 1); return v }
	mk := func(name string) {
		if _, err := db.CreateCollection(engine.Config{Name: name, Dim: 256, Metric: engine.L2}); err != nil {
			t.Fatal(err)
		}
	}
	mk("b")
	for i := range 10 {
		if _, err := db.Upsert("b", &engine.Batch{IDs: []string{string(rune('a' + i))}, Vectors: vec(i)}, "items"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Snapshot(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	mk("c") // no snapshot: holds the log from its creation on
	mk("a")
	for i := range 5 {
		if _, err := db.Upsert("a", &engine.Batch{IDs: []string{string(rune('a' + i))}, Vectors: vec(i)}, "items"); err != nil {
			t.Fatal(err)
		}
	}
	info, err := db.Snapshot(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	st := db.LogStats()
	ca, _ := db.lookup("a")
	t.Logf("log %d..%d, a created at %d, a's snapshot through %d", st.FirstLSN, st.LastLSN, ca.createLSN, info.LSN)
	if st.FirstLSN <= 1 || ca.createLSN < st.FirstLSN {
		t.Fatalf("setup: the log runs %d..%d and a was created at %d: not trimmed as the test needs", st.FirstLSN, st.LastLSN, ca.createLSN)
	}
	closeDB(t, db)
	p := filepath.Join(dir, storage.SnapDirName, storage.SnapshotName("a", info.LSN))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o640)
	db2, err := Open(Options{Dir: dir, SegmentBytes: 4 << 10, SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1})
	if err != nil {
		t.Fatalf("Open: %v (the log holds a's creation and every write to it)", err)
	}
	defer db2.Close()
	if c, err := db2.lookup("a"); err != nil || c.Stats().Items != 5 {
		t.Fatalf("a: %v", err)
	}
}

// A write made while a snapshot's file is written and synced (after its content was
// encoded) is not in it, and stays counted: a graceful stop snapshots the collection
// again, and Unsnapshotted reports it. The counter was reset to zero once the file was
// in place.
func TestAWriteDuringASnapshotsSyncStaysUnsnapshotted(t *testing.T) {
	dir := t.TempDir()
	fsys := &gateFS{}
	// Writes are acknowledged once written (the interval fsync never comes), so the
	// snapshot's own sync of the log is what waits at the gate.
	db := openDB(t, Options{Dir: dir, FS: fsys, Sync: wal.SyncInterval, SyncInterval: time.Hour})
	if _, err := db.CreateCollection(engine.Config{Name: "a", Dim: 2, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("a", &engine.Batch{IDs: []string{"x"}, Vectors: []float32{1, 0}}, "items"); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	fsys.mu.Lock()
	fsys.gate = gate
	fsys.mu.Unlock()
	c, _ := db.lookup("a")
	snapDone := make(chan error, 1)
	go func() { _, err := db.Snapshot(context.Background(), "a"); snapDone <- err }()
	// The snapshot's content is encoded (its locks let go) before it syncs the log.
	for fsys.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	before, _ := c.Unsnapshotted()
	upDone := make(chan error, 1)
	go func() {
		_, err := db.Upsert("a", &engine.Batch{IDs: []string{"y"}, Vectors: []float32{0, 1}}, "items")
		upDone <- err
	}()
	for { // appended and counted; its write waits behind the gated fsync
		if b, _ := c.Unsnapshotted(); b > before {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fsys.mu.Lock()
	fsys.gate = nil
	fsys.mu.Unlock()
	close(gate)
	if err := <-snapDone; err != nil {
		t.Fatal(err)
	}
	if err := <-upDone; err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Unsnapshotted(); b == 0 {
		t.Fatal("the write made while the snapshot was synced counts as snapshotted")
	}
	if written, _, err := db.SnapshotChanged(context.Background()); err != nil || written != 1 {
		t.Fatalf("SnapshotChanged: %d written, %v; want the collection snapshotted again", written, err)
	}
}
