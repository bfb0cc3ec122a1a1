package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
	"github.com/hardneg/hardneg/internal/wal"
)

// DB is the set of collections of one server, stored under one data directory: a
// write-ahead log (dir/wal) that every change goes through before it is acknowledged,
// and per-collection snapshots (dir/snapshots) that bound recovery time.
type DB struct {
	disk *storage.Dir // the data directory, locked while the DB is open
	opts Options
	log  *slog.Logger
	wal  *wal.Log

	recovery engine.Recovery // what Recover found; immutable after Recover
	// Log records replayed so far and to replay in all, while Recover runs.
	replayed, toReplay atomic.Uint64
	// rejectedWhy says, for each of recovery.SnapshotsRejected, which file failed
	// and why; written by Recover only.
	rejectedWhy []string
	// orphans maps collections that log records write to without a snapshot or a
	// creation record to the first such LSN; written by Recover only.
	orphans map[string]uint64
	// fromSnapshot maps the collections loaded from a snapshot to their creation LSN,
	// and logDropped holds the names the replayed log drops: what checkCatalog checks
	// the catalog against. Written by Recover only.
	fromSnapshot map[string]uint64
	logDropped   map[string]bool
	// salvaged: Options.Salvage started past damage that settleSalvage must make
	// durable. Written by Recover only.
	salvaged bool

	// The locks below and the Collection's are taken in the order of their ranks,
	// the type arguments (lockorder.go).

	// mu guards collections, closed and started.
	mu          rwMutex[dbRank]
	collections map[string]*Collection
	closed      bool
	started     bool // Recover succeeded and the snapshotter runs

	// writersMu guards writers, writersSwept and writersExpired.
	writersMu mutex[writersRank]
	writers   map[string]storage.WriterState // stream writer id → last applied batch
	// writersSwept is when expireWritersLocked last ran; writersExpired counts the
	// writers it forgot since Open.
	writersSwept   time.Time
	writersExpired uint64
	// now is the clock of the writers' times (time.Now; tests move it).
	now func() time.Time

	// streamMu serialises stream batches so that a writer's sequence check and the
	// batch it admits are logged and applied as one step.
	streamMu mutex[streamRank]

	// snapMu serialises snapshots, snapshot file removal and log truncation.
	snapMu mutex[snapRank]
	// snapStats counts snapshots; it has its own lock, so scrapes never wait for a
	// snapshot in progress.
	snapStats snapshotStats
	// snapRetry spaces background snapshots of a collection after failures.
	snapRetry snapshotRetry
	// catalog is the live set (name → creation LSN) that pruneLocked last wrote to
	// the snapshot catalog (storage.WriteCatalog); nil until it wrote one. Guarded by
	// snapMu.
	catalog map[string]uint64
	// logLimiter names the collection whose oldest kept snapshot (or creation, when
	// it has none) set the point below which pruneLocked last truncated the log.
	logLimiter atomic.Pointer[string]

	failOnce sync.Once
	failed   chan struct{} // closed when the log fails; the owner should exit
	failure  error         // what failed it; set before failed is closed
	stop     chan struct{} // closed by Close to stop the snapshotter
	done     chan struct{} // closed when the snapshotter has exited
}

// Open opens (creating if needed) the data directory, takes its lock and recovers:
// leftover temporary files are removed, the newest snapshot of each collection that
// verifies is loaded, and the write-ahead log is replayed on top. A torn tail of the
// log (a damaged final record with nothing valid after it) is cut and logged; other
// damage fails Open (wal.ErrCorrupt, naming file and offset), and so do snapshots and
// a log that together no longer hold every acknowledged write (ErrDataMissing),
// unless Options.Salvage is set.
func Open(opts Options) (*DB, error) {
	db, err := Lock(opts)
	if err != nil {
		return nil, err
	}
	if err := db.Recover(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Lock creates the data directory if needed and takes its lock, without reading its
// contents; Recover must follow before the DB is used. A server uses the two steps to
// answer health checks (NOT_SERVING) while a large data directory recovers.
func Lock(opts Options) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	disk, err := storage.Lock(opts.Dir, opts.FS)
	if err != nil {
		return nil, err
	}
	db := &DB{
		disk:        disk,
		opts:        opts,
		log:         opts.Logger,
		collections: make(map[string]*Collection),
		writers:     make(map[string]storage.WriterState),
		now:         time.Now,
		failed:      make(chan struct{}),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	return db, nil
}

// Recover loads the newest verified snapshots and replays the write-ahead log, then
// starts background snapshots. Call it once, after Lock; on error, Close the DB.
func (db *DB) Recover() error {
	if err := db.recover(); err != nil {
		return err
	}
	// Replay leaves the measurement of each collection's first-pass lead off, so that a
	// recovering collection is measured once, at its recovered size.
	db.mu.Lock()
	colls := make([]*Collection, 0, len(db.collections))
	for _, c := range db.collections {
		colls = append(colls, c)
	}
	db.mu.Unlock()
	for _, c := range colls {
		c.writeMu.Lock()
		c.graphWorkers = db.opts.GraphWorkers
		c.setLeadRecall(db.opts.LeadRecall, db.log)
		c.writeMu.Unlock()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return engine.ErrClosed
	}
	db.started = true
	go db.snapshotLoop()
	return nil
}

// RecoveryProgress reports, while Recover runs (and after), the write-ahead log
// records replayed so far and the records to replay in all (0 until the log is open).
func (db *DB) RecoveryProgress() (replayed, total uint64) {
	return db.replayed.Load(), db.toReplay.Load()
}

// Dir returns the data directory.
func (db *DB) Dir() string { return db.disk.Path() }

// Recovery describes what Open found on disk.
func (db *DB) Recovery() engine.Recovery { return db.recovery }

// Failed is closed when the write-ahead log has failed (a write or fsync error). The
// DB then refuses writes; the owner should exit and let a restart recover from disk.
func (db *DB) Failed() <-chan struct{} { return db.failed }

// FailureCause returns the error that failed the log, once Failed has fired (nil
// before).
func (db *DB) FailureCause() error {
	select {
	case <-db.failed:
		return db.failure // written before failed was closed
	default:
		return nil
	}
}

// LogStats returns the write-ahead log's counters.
func (db *DB) LogStats() wal.Stats { return db.wal.Stats() }

// Close stops background snapshots, flushes and closes the log and releases the data
// directory. Later calls return ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return engine.ErrClosed
	}
	db.closed = true
	colls := make([]*Collection, 0, len(db.collections))
	for _, c := range db.collections {
		colls = append(colls, c)
	}
	started := db.started
	db.mu.Unlock()
	close(db.stop)
	if started {
		<-db.done
	}
	for _, c := range colls {
		c.writeMu.Lock() // a write in flight finishes first, and starts nothing later
		c.closing = true
		c.writeMu.Unlock()
		c.wait()
	}
	db.snapMu.Lock() // wait for a snapshot in progress
	defer db.snapMu.Unlock()
	var err error
	if db.wal != nil {
		err = db.wal.Close()
	}
	if errors.Is(err, wal.ErrFailed) {
		err = nil // already reported through Failed and the writes that hit it
	}
	return errors.Join(err, db.disk.Unlock())
}

// logAppend queues rec in the write-ahead log and returns its LSN. The caller holds
// the locks that order its in-memory application.
func (db *DB) logAppend(rec []byte) (uint64, error) {
	lsn, err := db.wal.Append(rec)
	if err != nil {
		return 0, db.logError(err)
	}
	return lsn, nil
}

// logRecord returns the log record encode makes for a write to c, or nil for an
// ephemeral collection, which logs nothing (and so skips the encoding). Callers make
// it before logApply, outside the collection's locks.
func (c *Collection) logRecord(encode func() []byte) []byte {
	if c.ephemeral {
		return nil
	}
	return encode()
}

// logApply logs rec for collection c and applies it with apply, in LSN order: the
// record is appended while c's write and metadata locks are held, apply changes the
// metadata under them, and the graph follows before the write lock is released. It
// does not wait for the log; callers follow with logWait. An ephemeral collection's
// writes are applied without a record, at LSN 0, which every wait for the log passes.
func (db *DB) logApply(c *Collection, rec []byte, apply func(lsn uint64, w *graphWork)) (uint64, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if c.dropped {
		c.mu.Unlock()
		return 0, fmt.Errorf("%q: %w", c.name, engine.ErrCollectionNotFound)
	}
	var lsn uint64
	if !c.ephemeral {
		var err error
		if lsn, err = db.logAppend(rec); err != nil {
			c.mu.Unlock()
			return 0, err
		}
		if c.loggedBytes == 0 {
			c.dirtySince = time.Now()
		}
		c.loggedBytes += int64(len(rec))
	}
	var w graphWork
	apply(lsn, &w)
	c.mu.Unlock()
	c.applyGraph(&w)
	return lsn, nil
}

// logWait waits until the record lsn is acknowledged by the sync policy: durable
// under wal.SyncAlways, written to the operating system under wal.SyncInterval.
func (db *DB) logWait(ctx context.Context, lsn uint64) error {
	var err error
	if db.opts.Sync == wal.SyncAlways {
		err = db.wal.WaitDurable(ctx, lsn)
	} else {
		err = db.wal.WaitWritten(ctx, lsn)
	}
	if err != nil {
		return db.logError(err)
	}
	return nil
}

// WaitDurable waits until the record lsn survives a power failure.
func (db *DB) WaitDurable(ctx context.Context, lsn uint64) error {
	if err := db.wal.WaitDurable(ctx, lsn); err != nil {
		return db.logError(err)
	}
	return nil
}

// DurableLSN returns the last LSN that survives a power failure.
func (db *DB) DurableLSN() uint64 { return db.wal.DurableLSN() }

// logError maps a log error and, for a failed log, signals Failed.
func (db *DB) logError(err error) error {
	switch {
	case errors.Is(err, wal.ErrFailed):
		db.failOnce.Do(func() {
			db.log.Error("write-ahead log failed; refusing writes until restart", "err", err)
			db.failure = err
			close(db.failed)
		})
		return fmt.Errorf("%w: %w", engine.ErrStorageFailed, err)
	case errors.Is(err, wal.ErrClosed):
		return engine.ErrClosed
	}
	return err
}

// CreateCollection creates an empty collection.
func (db *DB) CreateCollection(cfg engine.Config) (engine.Collection, error) {
	c, err := db.create(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// create is CreateCollection returning the concrete collection.
func (db *DB) create(cfg engine.Config) (*Collection, error) {
	cfg, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, engine.ErrClosed
	}
	if _, ok := db.collections[cfg.Name]; ok {
		db.mu.Unlock()
		return nil, fmt.Errorf("%q: %w", cfg.Name, engine.ErrCollectionExists)
	}
	c, err := newCollection(cfg)
	if err != nil {
		db.mu.Unlock()
		return nil, err
	}
	c.probe.target, c.probe.log = db.opts.LeadRecall, db.log // not shared yet, and no graph to measure
	c.graphWorkers = db.opts.GraphWorkers
	if cfg.Ephemeral {
		db.collections[cfg.Name] = c
		db.mu.Unlock()
		return c, nil
	}
	lsn, err := db.logAppend(storage.EncodeCreate(cfg))
	if err != nil {
		db.mu.Unlock()
		return nil, err
	}
	c.createLSN, c.lastSeq, c.snapshotAt = lsn, lsn, time.Now()
	db.collections[cfg.Name] = c
	db.mu.Unlock()
	if err := db.logWait(context.Background(), lsn); err != nil {
		return nil, err
	}
	return c, nil
}

// Collection returns the named collection.
func (db *DB) Collection(name string) (engine.Collection, error) {
	c, err := db.lookup(name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lookup is Collection returning the concrete collection.
func (db *DB) lookup(name string) (*Collection, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, engine.ErrClosed
	}
	if !db.started {
		return nil, engine.ErrRecovering
	}
	c, ok := db.collections[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, engine.ErrCollectionNotFound)
	}
	return c, nil
}

// Collections returns every collection sorted by name; none before Recover has
// finished.
func (db *DB) Collections() []engine.Collection {
	cs := db.list()
	out := make([]engine.Collection, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// list is Collections returning the concrete collections.
func (db *DB) list() []*Collection {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if !db.started {
		return nil
	}
	out := make([]*Collection, 0, len(db.collections))
	for _, c := range db.collections {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// DeleteCollection removes a collection and, once the removal is durable, its
// snapshots.
func (db *DB) DeleteCollection(name string) error {
	c, err := db.lookup(name)
	if err != nil {
		return err
	}
	// The collection's write lock first, without db.mu: a long write or snapshot of
	// this collection must not hold up every other collection's calls. A graph build
	// that the write holding it runs stops early (dropping): a build of 60,000 items
	// held a delete for 27 s.
	c.dropping.Store(true)
	c.writeMu.Lock()
	lsn, err := db.dropLocked(c)
	c.writeMu.Unlock()
	if err != nil {
		c.dropping.Store(false)
		return err
	}
	c.wait()
	if c.ephemeral {
		return nil
	}
	if err := db.logWait(context.Background(), lsn); err != nil {
		return err
	}
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	db.pruneAfter("collection deleted", name)
	return nil
}

// dropLocked logs c's drop and removes it from the table, if the table still holds c
// under its name. It returns the drop's LSN (0 for an ephemeral collection, which logs
// nothing). Caller holds c.writeMu, so no write to c is applied after the drop.
func (db *DB) dropLocked(c *Collection) (uint64, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, engine.ErrClosed
	}
	if cur, ok := db.collections[c.name]; !ok || cur != c {
		return 0, fmt.Errorf("%q: %w", c.name, engine.ErrCollectionNotFound)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var lsn uint64
	if !c.ephemeral {
		var err error
		if lsn, err = db.logAppend(storage.EncodeDrop(c.name)); err != nil {
			return 0, err
		}
	}
	c.dropped = true
	delete(db.collections, c.name)
	return lsn, nil
}

// Upsert validates b and applies it to the named collection atomically: either every
// item is applied or, on error, none. prefix is the batch's field path in the request.
// It returns once the batch is logged as the sync policy requires.
func (db *DB) Upsert(name string, b *engine.Batch, prefix string) (engine.UpsertResult, error) {
	return db.upsert(name, b, prefix, true)
}

// UpsertDeferred is Upsert acknowledged once the batch is written to the operating
// system, without waiting for an fsync: it survives a crash of the process at once and
// a power failure once a later write is acknowledged as durable (the write-ahead log is
// synced in order, so that write's sync covers it) or the log is synced on its
// interval. A bulk upload sends every batch but the last this way and does not wait
// for an fsync per batch: the log's fsyncs overlap with the next batches.
func (db *DB) UpsertDeferred(name string, b *engine.Batch, prefix string) (engine.UpsertResult, error) {
	return db.upsert(name, b, prefix, false)
}

func (db *DB) upsert(name string, b *engine.Batch, prefix string, durable bool) (engine.UpsertResult, error) {
	c, err := db.lookup(name)
	if err != nil {
		return engine.UpsertResult{}, err
	}
	if err := c.ValidateBatch(b, prefix); err != nil {
		return engine.UpsertResult{}, err
	}
	if len(b.IDs) == 0 {
		seq := c.lastSequence()
		return engine.UpsertResult{Sequence: seq}, db.ack(seq, durable)
	}
	rec := c.logRecord(func() []byte { return storage.EncodeUpsert(name, b, c.dim) })
	var res engine.UpsertResult
	lsn, err := db.logApply(c, rec, func(lsn uint64, w *graphWork) { res = c.applyUpsertLocked(b, lsn, w) })
	if err != nil {
		return engine.UpsertResult{}, err
	}
	return res, db.ack(lsn, durable)
}

// ack waits until the record lsn is acknowledged: by the sync policy when durable
// (logWait), else once written to the operating system. A write that changes nothing
// (an upsert of no items, a delete of no ids) logs no record and acks the collection's
// last write instead (Collection.lastSequence), as a write at that point would be.
func (db *DB) ack(lsn uint64, durable bool) error {
	if durable {
		return db.logWait(context.Background(), lsn)
	}
	if err := db.wal.WaitWritten(context.Background(), lsn); err != nil {
		return db.logError(err)
	}
	return nil
}

// lastSequence is the sequence of the last write applied to c.
func (c *Collection) lastSequence() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.lastSeq
}

// Delete removes ids from the named collection atomically. Unknown ids are counted.
func (db *DB) Delete(name string, ids []string, field string) (engine.DeleteResult, error) {
	return db.delete(name, ids, field, false)
}

// delete is Delete; with mark set, a delete of no ids is logged all the same (replayed
// as nothing), which moves the collection's position in the log to its end.
func (db *DB) delete(name string, ids []string, field string, mark bool) (engine.DeleteResult, error) {
	c, err := db.lookup(name)
	if err != nil {
		return engine.DeleteResult{}, err
	}
	if err := engine.ValidateIDs(field, ids, true); err != nil {
		return engine.DeleteResult{}, err
	}
	if len(ids) == 0 && !mark {
		seq := c.lastSequence()
		return engine.DeleteResult{Sequence: seq}, db.ack(seq, true)
	}
	rec := c.logRecord(func() []byte { return storage.EncodeDelete(name, ids) })
	var res engine.DeleteResult
	lsn, err := db.logApply(c, rec, func(lsn uint64, w *graphWork) { res = c.applyDeleteLocked(ids, lsn, w) })
	if err != nil {
		return engine.DeleteResult{}, err
	}
	return res, db.logWait(context.Background(), lsn)
}

// ReportFalseNegatives records false-negative verdicts in the named collection (see
// Collection.AddFalseNegatives) durably and returns how many (key, id) pairs were new.
func (db *DB) ReportFalseNegatives(name string, reports []engine.FalseNegativeReport, field string) (int, error) {
	c, err := db.lookup(name)
	if err != nil {
		return 0, err
	}
	if err := engine.ValidateFalseNegatives(reports, field); err != nil {
		return 0, err
	}
	recorded := 0
	rec := c.logRecord(func() []byte { return storage.EncodeFeedback(name, reports) })
	lsn, err := db.logApply(c, rec, func(lsn uint64, _ *graphWork) {
		recorded = c.applyFeedback(reports, lsn)
	})
	if err != nil {
		return 0, err
	}
	return recorded, db.logWait(context.Background(), lsn)
}

// applyFeedback adds verdicts as the write at lsn; caller holds mu.
func (c *Collection) applyFeedback(reports []engine.FalseNegativeReport, lsn uint64) int {
	recorded := 0
	for _, r := range reports {
		recorded += c.AddFalseNegatives(r.Key, r.IDs)
	}
	c.lastSeq = max(c.lastSeq, lsn)
	return recorded
}

// The embedded engine implements the engine boundary, with local storage.
var (
	_ engine.Engine           = (*DB)(nil)
	_ engine.Storage          = (*DB)(nil)
	_ engine.Collection       = (*Collection)(nil)
	_ engine.StoredCollection = (*Collection)(nil)
)
