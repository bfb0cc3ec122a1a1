package index

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// TestEphemeralCollectionLogsNothing: an ephemeral collection takes upserts, stream
// batches (deduplicated, gaps refused), deletes and verdicts and is searched like any
// other, without a log record or a snapshot; a restart loses it and nothing else.
func TestEphemeralCollectionLogsNothing(t *testing.T) {
	dir := t.TempDir()
	// Snapshots by size at 1 KiB: a stored collection would be snapshotted at once.
	db := openDB(t, Options{Dir: dir, SnapshotBytes: 1 << 10})
	r := rand.New(rand.NewPCG(7, 7))
	if _, err := db.create(engine.Config{Name: "kept", Dim: 8, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert("kept", randBatch(r, "k", 200, 8), "items"); err != nil {
		t.Fatal(err)
	}
	before := db.wal.LastLSN()

	c, err := db.create(engine.Config{Name: "job", Dim: 8, Metric: engine.Cosine, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Config().Ephemeral {
		t.Fatal("Config does not say ephemeral")
	}
	res, err := db.Upsert("job", randBatch(r, "a", 300, 8), "items")
	if err != nil || res.Inserted != 300 || res.Sequence != 0 {
		t.Fatalf("upsert: %+v, %v; want 300 inserted at sequence 0", res, err)
	}
	if _, err := db.UpsertDeferred("job", randBatch(r, "b", 50, 8), "items"); err != nil {
		t.Fatal(err)
	}
	sr, err := db.StreamBatch(context.Background(), "w", 1, "job", randBatch(r, "s", 10, 8), []string{"a0"})
	if err != nil || sr.Duplicate || sr.Upsert.Inserted != 10 || sr.Delete.Deleted != 1 || sr.LSN != 0 {
		t.Fatalf("stream batch 1: %+v, %v", sr, err)
	}
	if sr, err = db.StreamBatch(context.Background(), "w", 1, "job", randBatch(r, "x", 10, 8), nil); err != nil || !sr.Duplicate || sr.WriterSequence != 1 {
		t.Fatalf("stream batch 1 again: %+v, %v; want a duplicate", sr, err)
	}
	if _, err = db.StreamBatch(context.Background(), "w", 3, "job", randBatch(r, "x", 10, 8), nil); !errors.Is(err, engine.ErrSequenceGap) {
		t.Fatalf("stream batch 3 after 1: %v, want a sequence gap", err)
	}
	if _, err := db.Delete("job", []string{"a1", "a2"}, "ids"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.ReportFalseNegatives("job", []engine.FalseNegativeReport{{Key: "q", IDs: []string{"a3"}}}, "reports"); err != nil || n != 1 {
		t.Fatalf("verdicts: %d, %v", n, err)
	}
	if got := c.Stats().Items; got != 357 {
		t.Fatalf("items = %d, want 357", got)
	}
	if ids := searchIDs(t, db, "job", c.vectorAt(c.slots["a5"])); len(ids) == 0 || ids[0] != "a5" {
		t.Fatalf("search for a5's vector found %v", ids)
	}
	if got := db.wal.LastLSN(); got != before {
		t.Fatalf("the log moved from LSN %d to %d for an ephemeral collection", before, got)
	}
	if _, err := db.Snapshot(context.Background(), "job"); !errors.Is(err, engine.ErrEphemeral) {
		t.Fatalf("Snapshot: %v, want ErrEphemeral", err)
	}
	if err := db.SaveLoopState(c, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if b, err := db.LoadLoopState(c); err != nil || b != nil {
		t.Fatalf("loop state of an ephemeral collection: %q, %v; want none", b, err)
	}
	// The background snapshots (every second here) take the stored collection, never
	// the ephemeral one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, err := db.disk.Snapshots()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(files, func(f storage.SnapshotFile) bool { return f.Collection == "job" }) {
			t.Fatal("an ephemeral collection was snapshotted")
		}
		if slices.ContainsFunc(files, func(f storage.SnapshotFile) bool { return f.Collection == "kept" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background snapshot of the stored collection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeDB(t, db)

	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	if _, err := db.lookup("job"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("after a restart: %v, want the ephemeral collection gone", err)
	}
	kept, err := db.lookup("kept")
	if err != nil || kept.Stats().Items != 200 {
		t.Fatalf("stored collection after a restart: %v", err)
	}
}

// TestWriterPositionSpansStoredAndEphemeral: a writer has one position, whatever kind of
// collection each batch goes to: a batch into an ephemeral collection is neither a gap
// nor a reason to drop the writer's next batch into a stored one as a duplicate, and
// after a restart the writer goes on from its last logged batch.
func TestWriterPositionSpansStoredAndEphemeral(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	r := rand.New(rand.NewPCG(11, 11))
	if _, err := db.create(engine.Config{Name: "a", Dim: 4, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.create(engine.Config{Name: "b", Dim: 4, Metric: engine.L2, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	send := func(seq uint64, coll string, wantDup bool) {
		t.Helper()
		res, err := db.StreamBatch(ctx, "w", seq, coll, randBatch(r, coll+strconv.Itoa(int(seq))+"-", 2, 4), nil)
		if err != nil || res.Duplicate != wantDup {
			t.Fatalf("batch %d into %s: %+v, %v; want duplicate %v", seq, coll, res, err, wantDup)
		}
	}
	for seq := uint64(1); seq <= 5; seq++ {
		send(seq, "a", false)
	}
	send(6, "b", false)
	send(7, "b", false)
	send(8, "a", false)
	send(6, "a", true)
	if _, err := db.StreamBatch(ctx, "w", 10, "b", randBatch(r, "x", 1, 4), nil); !errors.Is(err, engine.ErrSequenceGap) {
		t.Fatalf("batch 10 after 8: %v, want a sequence gap", err)
	}
	if got := db.WriterSequence("w"); got != 8 {
		t.Fatalf("writer at %d, want 8", got)
	}
	a, _ := db.lookup("a")
	if got := a.Stats().Items; got != 12 {
		t.Fatalf("a holds %d items, want 12 (6 batches of 2)", got)
	}
	closeDB(t, db)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	if got := db.WriterSequence("w"); got != 8 {
		t.Fatalf("writer at %d after a restart, want 8 (its last logged batch)", got)
	}
	send(9, "a", false)
}

// TestEphemeralCollectionDeleteAndReuse: deleting an ephemeral collection logs nothing
// and frees its name, for a stored collection too, whose writer positions start afresh;
// a restore does not replace an (empty) ephemeral collection.
func TestEphemeralCollectionDeleteAndReuse(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	r := rand.New(rand.NewPCG(8, 8))
	if _, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.L2, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.L2}); !errors.Is(err, engine.ErrCollectionExists) {
		t.Fatalf("create over an ephemeral collection: %v, want ErrCollectionExists", err)
	}
	if _, err := db.StreamBatch(context.Background(), "w", 1, "c", randBatch(r, "a", 5, 4), nil); err != nil {
		t.Fatal(err)
	}
	before := db.wal.LastLSN()
	if err := db.DeleteCollection("c"); err != nil {
		t.Fatal(err)
	}
	if got := db.wal.LastLSN(); got != before {
		t.Fatalf("deleting an ephemeral collection moved the log from LSN %d to %d", before, got)
	}
	if _, err := db.Upsert("c", randBatch(r, "a", 1, 4), "items"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("upsert after the delete: %v", err)
	}
	if _, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	// The writer's position is its own, not the collection's.
	if sr, err := db.StreamBatch(context.Background(), "w", 1, "c", randBatch(r, "b", 3, 4), nil); err != nil || !sr.Duplicate {
		t.Fatalf("writer w's batch 1 again: %+v, %v; want a duplicate", sr, err)
	}
	if sr, err := db.StreamBatch(context.Background(), "w", 2, "c", randBatch(r, "b", 3, 4), nil); err != nil || sr.Duplicate {
		t.Fatalf("writer w's batch 2 into the stored collection: %+v, %v", sr, err)
	}
	closeDB(t, db)
	db = openDB(t, Options{Dir: dir})
	defer closeDB(t, db)
	if c, err := db.lookup("c"); err != nil || c.Stats().Items != 3 || c.Config().Ephemeral {
		t.Fatalf("the stored collection after a restart: %v", err)
	}

	// Restore refuses an ephemeral target, even an empty one.
	data, src := backupOf(t, db, "c")
	if _, err := db.create(engine.Config{Name: "e", Dim: 4, Metric: engine.L2, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Restore(context.Background(), bytes.NewReader(data), src, "e", nil); !errors.Is(err, engine.ErrEphemeral) {
		t.Fatalf("restore over an ephemeral collection: %v, want ErrEphemeral", err)
	}

	// A backup of an ephemeral collection says so; restored, it is a stored collection.
	if _, err := db.Upsert("e", randBatch(r, "e", 4, 4), "items"); err != nil {
		t.Fatal(err)
	}
	bk, err := db.Backup(context.Background(), "e")
	if err != nil {
		t.Fatal(err)
	}
	data, err = io.ReadAll(bk)
	bk.Close()
	if err != nil || !bk.Config.Ephemeral || bk.Items != 4 {
		t.Fatalf("backup of an ephemeral collection: config %+v, %d items, %v", bk.Config, bk.Items, err)
	}
	src = engine.RestoreSource{FormatVersion: bk.Format, Bytes: bk.Bytes, Checksum: bk.Checksum, Dim: bk.Config.Dim, Items: uint64(bk.Items)}
	if _, err := db.Restore(context.Background(), bytes.NewReader(data), src, "restored", nil); err != nil {
		t.Fatal(err)
	}
	if c, err := db.lookup("restored"); err != nil || c.Stats().Items != 4 || c.Config().Ephemeral {
		t.Fatalf("the restored copy of an ephemeral collection: %v", err)
	}
}

// TestAnEphemeralCollectionDoesNotRaiseTheLogBound: an idle stored collection that holds
// the log back is snapshotted again once the closed log passes a quarter of all stored
// collections' vector memory (holdsLogBack); a large ephemeral collection, which holds
// no log, must not count in that bound.
func TestAnEphemeralCollectionDoesNotRaiseTheLogBound(t *testing.T) {
	db := openDB(t, Options{Dir: t.TempDir(), SegmentBytes: 64 << 10, SnapshotBytes: 128 << 10})
	defer closeDB(t, db)
	r := rand.New(rand.NewPCG(12, 12))
	busyAndIdle(t, db, r)
	// 5 MiB of vectors: with it, a quarter of all the vector memory is 1.3 MiB, more
	// than the log written below; without it, about 0.2 MiB.
	if _, err := db.create(engine.Config{Name: "job", Dim: 32, Metric: engine.Cosine, Ephemeral: true,
		Params: engine.Params{ExactThreshold: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.Upsert("job", randBatch(r, "j"+strconv.Itoa(i)+"-", 4000, 32), "items"); err != nil {
			t.Fatal(err)
		}
	}
	idleSnaps := func() (lsns []uint64) {
		files, err := db.disk.Snapshots()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Collection == "idle" {
				lsns = append(lsns, f.LSN)
			}
		}
		return lsns
	}
	first := idleSnaps()
	if len(first) != 1 {
		t.Fatalf("idle has snapshots at %v, want one", first)
	}
	// About 0.9 MiB of log for busy, 19 KiB a batch, over 40 ids (busy's vectors: 0.75 MiB).
	for i := range 48 {
		if _, err := db.Upsert("busy", randBatch(r, "b"+strconv.Itoa(i%40)+"-", 150, 32), "items"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if lsns := idleSnaps(); len(lsns) > 0 && slices.Max(lsns) > first[0] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle was not snapshotted again with %d KiB of closed log; its snapshots: %v",
				db.disk.ClosedLogBytes()>>10, idleSnaps())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
