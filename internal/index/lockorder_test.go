//go:build lockorder

package index

import (
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// mustPanic runs f and returns its panic message, failing when it does not panic.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg, _ = r.(string)
	}()
	f()
	return ""
}

func TestLockOrderCheckPanicsOnInversion(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.L2})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("collection_write_lock_under_db_lock", func(t *testing.T) {
		db.mu.Lock()
		defer db.mu.Unlock()
		msg := mustPanic(t, func() { c.writeMu.Lock() })
		if !strings.Contains(msg, "taking Collection.writeMu while holding [DB.mu]") {
			t.Errorf("panic message %q", msg)
		}
	})
	t.Run("db_read_lock_under_collection_lock", func(t *testing.T) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		mustPanic(t, func() { db.mu.RLock() })
	})
	t.Run("two_collections_write_locks", func(t *testing.T) {
		d, err := db.create(engine.Config{Name: "d", Dim: 2, Metric: engine.L2})
		if err != nil {
			t.Fatal(err)
		}
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		mustPanic(t, func() { d.writeMu.Lock() })
	})
	t.Run("snapshot_lock_under_stream_lock", func(t *testing.T) {
		db.streamMu.Lock()
		defer db.streamMu.Unlock()
		mustPanic(t, func() { db.snapMu.Lock() })
	})
	// The locks taken in order, released out of order, then again: no panic, and
	// nothing is left recorded as held.
	db.snapMu.Lock()
	db.streamMu.Lock()
	c.writeMu.Lock()
	db.mu.RLock()
	c.mu.Lock()
	c.fbMu.RLock()
	c.compactedMu.Lock()
	db.writersMu.Lock()
	db.mu.RUnlock()
	c.fbMu.RUnlock()
	db.writersMu.Unlock()
	c.compactedMu.Unlock()
	c.mu.Unlock()
	c.writeMu.Unlock()
	db.streamMu.Unlock()
	db.snapMu.Unlock()
	held.Lock()
	n := len(held.by[goroutineID()])
	held.Unlock()
	if n != 0 {
		t.Errorf("%d locks still recorded as held", n)
	}
}
