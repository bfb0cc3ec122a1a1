package index

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

func TestLoopStateBelongsToOneIncarnationOfItsCollection(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir})
	cfg := engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine}
	c, err := db.CreateCollection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := db.LoadLoopState(c); err != nil || b != nil {
		t.Fatalf("nothing saved: %q, %v", b, err)
	}
	if err := db.SaveLoopState(c, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLoopState(c, []byte("second")); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)

	// It survives a restart.
	db = openDB(t, Options{Dir: dir})
	c, err = db.Collection("c")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := db.LoadLoopState(c); err != nil || !bytes.Equal(b, []byte("second")) {
		t.Fatalf("after a restart: %q, %v", b, err)
	}

	// A recreated collection does not inherit it, and the old handle is refused.
	if err := db.DeleteCollection("c"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, storage.StateDirName, "c"+storage.StateSuffix)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted collection's state file is still there: %v", err)
	}
	if err := db.SaveLoopState(c, []byte("late")); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("save for a deleted collection: %v, want ErrCollectionNotFound", err)
	}
	// A file left from the earlier incarnation (a crash between the drop and the file's
	// removal) is ignored and removed.
	c2, err := db.CreateCollection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stale := storage.EncodeLoopState(1, []byte("stale"))
	if err := db.disk.WriteLoopState("c", stale); err != nil {
		t.Fatal(err)
	}
	if b, err := db.LoadLoopState(c2); err != nil || b != nil {
		t.Fatalf("recreated collection: %q, %v, want nothing", b, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale state file was not removed: %v", err)
	}

	// A damaged file is reported, not taken for an empty state.
	if err := db.SaveLoopState(c2, []byte("payload")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-6] ^= 0xff
	if err := os.WriteFile(path, raw, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LoadLoopState(c2); !errors.Is(err, storage.ErrLoopState) {
		t.Fatalf("damaged file: %v, want ErrLoopState", err)
	}
	closeDB(t, db)
}

func TestLoopStateFraming(t *testing.T) {
	for _, payload := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte{7}, 300)} {
		enc := storage.EncodeLoopState(42, payload)
		lsn, got, err := storage.DecodeLoopState(enc)
		if err != nil || lsn != 42 || !bytes.Equal(got, payload) {
			t.Fatalf("round trip: %d %q %v", lsn, got, err)
		}
		for n := range len(enc) {
			if _, _, err := storage.DecodeLoopState(enc[:n]); !errors.Is(err, storage.ErrLoopState) {
				t.Fatalf("prefix %d of %d: %v", n, len(enc), err)
			}
		}
		for i := range enc {
			b := bytes.Clone(enc)
			b[i] ^= 0x10
			if _, _, err := storage.DecodeLoopState(b); !errors.Is(err, storage.ErrLoopState) {
				t.Fatalf("byte %d flipped: %v", i, err)
			}
		}
	}
}
