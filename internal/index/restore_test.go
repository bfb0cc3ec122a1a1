package index

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// Restoring over an empty collection replaces it in one step: a reader looking the name
// up meanwhile finds the empty collection or the restored one, never neither; after a
// restart the restored one is what the log holds. A collection with items is refused
// and left as it was.

// backupOf reads a whole backup of the named collection and returns its bytes and the
// RestoreSource a restore of them declares.
func backupOf(t *testing.T, db *DB, name string) ([]byte, engine.RestoreSource) {
	t.Helper()
	bk, err := db.Backup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(bk)
	bk.Close()
	if err != nil {
		t.Fatal(err)
	}
	return data, engine.RestoreSource{FormatVersion: bk.Format, Bytes: bk.Bytes, Checksum: bk.Checksum, Dim: bk.Config.Dim, Items: uint64(bk.Items)}
}

func TestRestoreReplacesAnEmptyCollectionAtOnce(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	ctx := context.Background()
	for _, name := range []string{"src", "full"} {
		if _, err := db.CreateCollection(engine.Config{Name: name, Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	b := &engine.Batch{IDs: []string{"a", "b", "c"}, Vectors: []float32{1, 0, 0, 1, 1, 1}}
	for _, name := range []string{"src", "full"} {
		if _, err := db.Upsert(name, b, "items"); err != nil {
			t.Fatal(err)
		}
	}
	data, src := backupOf(t, db, "src")

	for round := range 20 {
		if _, err := db.CreateCollection(engine.Config{Name: "t", Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
		var missing atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := db.lookup("t"); errors.Is(err, engine.ErrCollectionNotFound) {
						missing.Add(1)
					}
				}
			}()
		}
		_, err := db.Restore(ctx, bytes.NewReader(data), src, "t", nil)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := missing.Load(); n > 0 {
			t.Fatalf("round %d: the name was missing for %d lookups during the restore", round, n)
		}
		if err := db.DeleteCollection("t"); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := db.Restore(ctx, bytes.NewReader(data), src, "full", nil); !errors.Is(err, engine.ErrCollectionNotEmpty) {
		t.Fatalf("restore over a collection with items: %v, want ErrCollectionNotEmpty", err)
	}
	if _, err := db.CreateCollection(engine.Config{Name: "t", Dim: 2, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Restore(ctx, bytes.NewReader(data), src, "t", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, Options{Dir: dir})
	defer db.Close()
	for name, want := range map[string]int{"t": 3, "full": 3, "src": 3} {
		c, err := db.lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Stats().Items; got != want {
			t.Errorf("after a restart %q holds %d items, want %d", name, got, want)
		}
	}
}

// removeSnapshots deletes every snapshot file of the named collection in dir.
func removeSnapshots(t *testing.T, dir, name string) {
	t.Helper()
	snaps := filepath.Join(dir, storage.SnapDirName)
	entries, err := os.ReadDir(snaps)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if c, _, ok := storage.ParseSnapshotName(e.Name()); ok && c == name {
			if err := os.Remove(filepath.Join(snaps, e.Name())); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no snapshot of %q to remove", name)
	}
}

// A crash between a restore logging its collection's creation and its snapshot (the
// content) becoming durable leaves the creation record without the snapshot. The next
// start undoes that restore, as a drop that later starts replay too, instead of
// bringing the collection back empty. A restored collection that was written to after
// the restore and then lost its snapshots is refused: the log alone would bring it back
// with the later writes only.
func TestRestoreWithoutItsSnapshotIsUndoneOrRefused(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (string, []byte, engine.RestoreSource) {
		dir := t.TempDir()
		db := openDB(t, Options{Dir: dir})
		if _, err := db.CreateCollection(engine.Config{Name: "src", Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert("src", &engine.Batch{IDs: []string{"a", "b", "c"}, Vectors: []float32{1, 0, 0, 1, 1, 1}}, "items"); err != nil {
			t.Fatal(err)
		}
		data, src := backupOf(t, db, "src")
		if _, err := db.Restore(ctx, bytes.NewReader(data), src, "r", nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, data, src
	}

	t.Run("cut short", func(t *testing.T) {
		dir, data, src := setup(t)
		removeSnapshots(t, dir, "r") // as if the crash came before the snapshot's rename
		for start := range 2 {
			db := openDB(t, Options{Dir: dir})
			if _, err := db.lookup("r"); !errors.Is(err, engine.ErrCollectionNotFound) {
				t.Fatalf("start %d: the unfinished restore's collection: %v, want not found", start, err)
			}
			if got, want := db.Recovery().RestoresUndone, 1-start; got != want {
				t.Fatalf("start %d: RestoresUndone %d, want %d", start, got, want)
			}
			if start == 1 { // the same restore again works
				if _, err := db.Restore(ctx, bytes.NewReader(data), src, "r", nil); err != nil {
					t.Fatal(err)
				}
				if n := db.collections["r"].Stats().Items; n != 3 {
					t.Fatalf("restored again: %d items, want 3", n)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("written to, then its snapshots lost", func(t *testing.T) {
		dir, _, _ := setup(t)
		db := openDB(t, Options{Dir: dir})
		if _, err := db.Upsert("r", &engine.Batch{IDs: []string{"d"}, Vectors: []float32{1, 2}}, "items"); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		removeSnapshots(t, dir, "r")
		_, err := Open(Options{Dir: dir, SnapshotBytes: -1, SnapshotInterval: -1, LeadRecall: -1})
		if !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), `"r" was restored at lsn`) {
			t.Fatalf("Open: %v, want ErrDataMissing naming the restored collection", err)
		}
		db = openDB(t, Options{Dir: dir, Salvage: true})
		if n := db.collections["r"].Stats().Items; n != 1 {
			t.Fatalf("salvaged start: %d items, want the later write's 1", n)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
