package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
)

// DB is the set of collections of one server, stored under one data directory.
type DB struct {
	dir  string
	lock *os.File // holds an exclusive flock on dir/LOCK while open

	// mu guards collections, writers, seq and closed.
	mu          sync.RWMutex
	collections map[string]*Collection
	writers     map[string]uint64 // stream writer id → last applied sequence
	seq         uint64            // sequence of the last write
	closed      bool

	// streamMu serialises stream batches so that a writer's sequence check and the
	// batch it admits are applied as one step.
	streamMu sync.Mutex
}

// Open opens (creating if needed) the data directory and takes its lock.
func Open(opts Options) (*DB, error) {
	dir := opts.Dir
	if dir == "" {
		dir = "data"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return &DB{dir: dir, lock: f, collections: make(map[string]*Collection), writers: make(map[string]uint64)}, nil
}

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Close releases the data directory. Later calls return ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.closed = true
	return db.lock.Close()
}

// nextSeq returns the next write sequence. Caller holds db.mu.
func (db *DB) nextSeq() uint64 {
	db.seq++
	return db.seq
}

// CreateCollection creates an empty collection.
func (db *DB) CreateCollection(cfg Config) (*Collection, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	if _, ok := db.collections[cfg.Name]; ok {
		return nil, fmt.Errorf("%q: %w", cfg.Name, ErrCollectionExists)
	}
	c := newCollection(cfg)
	c.lastSeq = db.nextSeq()
	db.collections[cfg.Name] = c
	return c, nil
}

// Collection returns the named collection.
func (db *DB) Collection(name string) (*Collection, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	c, ok := db.collections[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, ErrCollectionNotFound)
	}
	return c, nil
}

// Collections returns every collection sorted by name.
func (db *DB) Collections() []*Collection {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]*Collection, 0, len(db.collections))
	for _, c := range db.collections {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// DeleteCollection removes a collection.
func (db *DB) DeleteCollection(name string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if _, ok := db.collections[name]; !ok {
		return fmt.Errorf("%q: %w", name, ErrCollectionNotFound)
	}
	delete(db.collections, name)
	db.nextSeq()
	return nil
}

// Upsert validates b and applies it to the named collection atomically: either every
// item is applied or, on error, none. prefix is the batch's field path in the request.
func (db *DB) Upsert(name string, b *Batch, prefix string) (UpsertResult, error) {
	c, err := db.Collection(name)
	if err != nil {
		return UpsertResult{}, err
	}
	if err := c.ValidateBatch(b, prefix); err != nil {
		return UpsertResult{}, err
	}
	db.mu.Lock()
	seq := db.nextSeq()
	db.mu.Unlock()
	return c.applyUpsert(b, seq), nil
}

// Delete removes ids from the named collection atomically. Unknown ids are counted.
func (db *DB) Delete(name string, ids []string, field string) (DeleteResult, error) {
	c, err := db.Collection(name)
	if err != nil {
		return DeleteResult{}, err
	}
	if err := ValidateIDs(field, ids, true); err != nil {
		return DeleteResult{}, err
	}
	db.mu.Lock()
	seq := db.nextSeq()
	db.mu.Unlock()
	return c.applyDelete(ids, seq), nil
}
