package index

import (
	"errors"
	"fmt"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// The index keeps the service's training-loop state for each collection in a file of
// its own under state/ (storage.EncodeLoopState), tagged with the collection's
// creation LSN: files are written and removed under snapMu, like snapshot files, and
// one whose collection is gone is removed with the snapshots (pruneLocked).

// SaveLoopState replaces c's loop state file with data, durably.
func (db *DB) SaveLoopState(ec engine.Collection, data []byte) error {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	c, err := db.current(ec)
	if err != nil {
		return err
	}
	if c.ephemeral {
		return nil // kept by the service in memory, lost with the collection at a restart
	}
	c.mu.RLock()
	create := c.createLSN
	c.mu.RUnlock()
	return db.disk.WriteLoopState(c.name, storage.EncodeLoopState(create, data))
}

// LoadLoopState returns c's saved loop state, nil when none was saved for this
// incarnation of the collection (a file left by an earlier one is removed). A damaged
// file fails with an error wrapping storage.ErrLoopState.
func (db *DB) LoadLoopState(ec engine.Collection) ([]byte, error) {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	c, err := db.current(ec)
	if err != nil {
		return nil, err
	}
	b, err := db.disk.ReadLoopState(c.name)
	if err != nil || b == nil {
		return nil, err
	}
	create, payload, err := storage.DecodeLoopState(b)
	if err != nil {
		return nil, fmt.Errorf("collection %q: %w", c.name, err)
	}
	c.mu.RLock()
	mine := create == c.createLSN
	c.mu.RUnlock()
	if !mine {
		return nil, db.disk.RemoveLoopState(c.name)
	}
	return payload, nil
}

// current returns ec as this DB's collection if it is still the collection of its
// name.
func (db *DB) current(ec engine.Collection) (*Collection, error) {
	c, ok := ec.(*Collection)
	if !ok {
		return nil, errors.New("loop state: not a collection of the embedded index")
	}
	cur, err := db.lookup(c.name)
	if err != nil {
		return nil, err
	}
	if cur != c {
		return nil, fmt.Errorf("%q: %w", c.name, engine.ErrCollectionNotFound)
	}
	return c, nil
}

// pruneLoopStateLocked removes the loop state files of collections that no longer
// exist; db.snapMu must be held.
func (db *DB) pruneLoopStateLocked() error {
	names, err := db.disk.PrepareLoopState()
	if err != nil {
		return err
	}
	db.mu.RLock()
	var drop []string
	for _, name := range names {
		if c, ok := db.collections[name]; !ok || c.ephemeral {
			drop = append(drop, name)
		}
	}
	db.mu.RUnlock()
	for _, name := range drop {
		if err := db.disk.RemoveLoopState(name); err != nil {
			return err
		}
	}
	return nil
}
