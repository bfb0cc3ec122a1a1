package index

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
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
