package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// Backups travel as the snapshot encoding (package storage) of one collection, taken
// under the collection's locks like a snapshot, without a stream writer table. A
// restore decodes and verifies the whole encoding before it installs anything.

var _ engine.Backups = (*DB)(nil)

// Backup encodes the named collection as of now into a temporary file under the data
// directory. Writers to the collection wait while its content is captured (as for a
// snapshot), not while the file is written; searches and other collections go on. The
// caller must Close the result.
func (db *DB) Backup(ctx context.Context, name string) (*engine.Backup, error) {
	c, err := db.lookup(name)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	need := c.encodingBytes()
	c.mu.RUnlock()
	if err := db.disk.CheckRoom(fmt.Sprintf("a backup of %q", name), need); err != nil {
		return nil, err
	}
	f, err := db.disk.TempFile("backup")
	if err != nil {
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	b := &engine.Backup{Format: storage.SnapshotVersion, ReadCloser: f}
	if err := db.encodeBackup(ctx, c, f, b); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	// A write is applied before its log record is synced, and the backup may hold it:
	// it leaves once the server's log holds everything in it as the sync policy
	// acknowledges writes, so that no copy holds a write a crash could still undo here.
	if !c.ephemeral && b.LSN > 0 {
		if err := db.logWait(ctx, b.LSN); err != nil {
			f.Close()
			return nil, fmt.Errorf("backup %q: %w", name, err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	db.log.Info("backup taken", "collection", name, "lsn", b.LSN, "items", b.Items, "bytes", b.Bytes)
	return b, nil
}

// encodeBackup writes c's encoding into w and describes it in b. The encoding is
// captured under c's write lock and shared lock and written after they are released
// (frozenSnapshot), as a snapshot's is.
func (db *DB) encodeBackup(ctx context.Context, c *Collection, w io.Writer, b *engine.Backup) error {
	f, err := db.freezeBackup(ctx, c, b)
	if err != nil {
		return err
	}
	defer f.release()
	cw := &countWriter{w: ctxWriter{ctx, w}}
	if err := f.write(cw); err != nil {
		return err
	}
	// The encoding ends with the CRC-32C of what precedes it: that is the checksum
	// (a CRC over the whole encoding would be the same constant for every backup).
	b.Bytes, b.Checksum = cw.n, cw.trailer()
	return nil
}

// freezeBackup captures c's encoding for encodeBackup and fills what b says of c.
func (db *DB) freezeBackup(ctx context.Context, c *Collection, b *engine.Backup) (*frozenSnapshot, error) {
	c.lockCapture()
	defer c.writeMu.Unlock()
	defer c.mu.RUnlock()
	if c.dropped {
		return nil, fmt.Errorf("%q: %w", c.name, engine.ErrCollectionNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := c.freeze(nil, c.lastSeq)
	if err != nil {
		return nil, err
	}
	b.Config = engine.Config{Name: c.name, Dim: c.dim, Metric: c.metric, Params: c.params, Ephemeral: c.ephemeral}
	b.Items, b.LSN, b.TakenAt = len(c.slots), c.lastSeq, time.Now()
	return f, nil
}

// crcResidue is the CRC-32C of any bytes followed by their own CRC-32C (little-endian).
var crcResidue = func() uint32 {
	h := binfmt.NewHash()
	h.Write(make([]byte, 4)) // no bytes, then their CRC (0)
	return h.Sum32()
}()

// Restore reads a backup's encoding from r, verifies its size and checksum against
// src and decodes it completely, then creates the collection name from it (empty: the
// name it was backed up under). Nothing is applied unless all of that succeeds. The
// target must not exist, or be empty (it is then replaced, configuration included);
// otherwise ErrCollectionNotEmpty. The restored collection is durable (logged and
// snapshotted) when Restore returns. progress, if not nil, is called with the bytes
// received so far.
func (db *DB) Restore(ctx context.Context, r io.Reader, src engine.RestoreSource, name string, progress func(int64)) (engine.RestoreResult, error) {
	if src.FormatVersion < storage.MinSnapshotVersion || src.FormatVersion > storage.SnapshotVersion {
		return engine.RestoreResult{}, fmt.Errorf("%w: format version %d, this server reads %d–%d", engine.ErrBackupInvalid, src.FormatVersion, storage.MinSnapshotVersion, storage.SnapshotVersion)
	}
	if src.Bytes <= 0 {
		return engine.RestoreResult{}, fmt.Errorf("%w: header.size_bytes is %d; a backup's encoding is 1 to 2^63−1 bytes", engine.ErrBackupInvalid, src.Bytes)
	}
	// The spool, then the restored collection's first snapshot beside it.
	what := fmt.Sprintf("a restore of the %d bytes header.size_bytes declares (spooled, then written as a snapshot)", src.Bytes)
	if err := db.disk.CheckRoom(what, src.Bytes+min(src.Bytes, math.MaxInt64-src.Bytes)); err != nil {
		return engine.RestoreResult{}, err
	}
	f, err := db.disk.TempFile("restore")
	if err != nil {
		return engine.RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h := binfmt.NewHash()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	n, err := copyProgress(cw, io.LimitReader(r, src.Bytes+1), progress)
	switch {
	case err != nil && (errors.Is(err, engine.ErrBackupInvalid) || errors.Is(err, engine.ErrBackupDamaged)):
		return engine.RestoreResult{}, err // the stream's own verdict, already worded for the caller
	case err != nil:
		return engine.RestoreResult{}, fmt.Errorf("restore: receive: %w", err)
	case n > src.Bytes:
		return engine.RestoreResult{}, fmt.Errorf("%w: more than the %d bytes the header declares", engine.ErrBackupInvalid, src.Bytes)
	case n < src.Bytes:
		return engine.RestoreResult{}, fmt.Errorf("%w: truncated: %d of %d bytes", engine.ErrBackupDamaged, n, src.Bytes)
	case n < 4 || cw.trailer() != src.Checksum && h.Sum32() != src.Checksum:
		// The header's CRC is the one the encoding ends with, or, from servers before
		// that rule, the CRC of all of it.
		return engine.RestoreResult{}, fmt.Errorf("%w: checksum mismatch: the data ends with crc32c %08x, header says %08x", engine.ErrBackupDamaged, cw.trailer(), src.Checksum)
	case h.Sum32() != crcResidue:
		// Data that ends with its own CRC-32C has this CRC: anything else is damage
		// between the two, found before decoding.
		return engine.RestoreResult{}, fmt.Errorf("%w: checksum mismatch: the data does not match the crc32c %08x it ends with", engine.ErrBackupDamaged, cw.trailer())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return engine.RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	c, sh, err := readSnapshot(f)
	if err != nil {
		return engine.RestoreResult{}, fmt.Errorf("%w: %v", engine.ErrBackupDamaged, err)
	}
	if items := c.Stats().Items; src.Dim != 0 && src.Dim != sh.Config.Dim || src.Items != 0 && src.Items != uint64(items) {
		c.wait()
		return engine.RestoreResult{}, fmt.Errorf("%w: the header declares %d items of dimension %d; the data holds %d of dimension %d",
			engine.ErrBackupInvalid, src.Items, src.Dim, items, sh.Config.Dim)
	}
	if src.HasMetric && src.Metric != sh.Config.Metric {
		c.wait()
		return engine.RestoreResult{}, fmt.Errorf("%w: the header declares metric %s; the data's is %s", engine.ErrBackupInvalid, src.Metric, sh.Config.Metric)
	}
	if src.Name != "" && src.Name != sh.Config.Name {
		c.wait()
		return engine.RestoreResult{}, fmt.Errorf("%w: the header names collection %q; the data is collection %q", engine.ErrBackupInvalid, src.Name, sh.Config.Name)
	}
	if name == "" {
		name = sh.Config.Name
	}
	cfg := sh.Config
	cfg.Name = name
	if cfg, err = cfg.Validate(); err != nil {
		c.wait()
		return engine.RestoreResult{}, err
	}
	c.name = name
	if err := db.install(ctx, c, cfg); err != nil {
		c.wait()
		return engine.RestoreResult{}, err
	}
	db.log.Info("collection restored", "collection", name, "from", sh.Config.Name, "items", c.Stats().Items, "bytes", n, "lsn", c.createLSN)
	return engine.RestoreResult{Collection: c, Bytes: n}, nil
}

// copyProgress copies r to w, reporting the running total to progress.
func copyProgress(w io.Writer, r io.Reader, progress func(int64)) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			if progress != nil {
				progress(n)
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// install logs the creation of c (decoded from a backup) under cfg.Name and writes its
// snapshot, holding c's write lock until the snapshot is durable so that no write
// reaches c before its content is on disk. If the snapshot fails, c is deleted again.
//
// An empty collection of that name is dropped in the same step, under the collection
// table's lock: readers see it or the restored one, never neither, and no create can
// take the name in between. One that holds items is left alone
// (ErrCollectionNotEmpty).
func (db *DB) install(ctx context.Context, c *Collection, cfg engine.Config) error {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	c.writeMu.Lock()
	db.mu.Lock()
	fail := func(err error) error {
		db.mu.Unlock()
		c.writeMu.Unlock()
		return err
	}
	if db.closed {
		return fail(engine.ErrClosed)
	}
	old := db.collections[cfg.Name]
	if old != nil {
		// Its metadata lock waits for a write in progress, whose items then refuse the
		// replacement; a write after the drop finds it dropped.
		if old.ephemeral {
			return fail(fmt.Errorf("%q: %w: restore under a new name or delete it first", cfg.Name, engine.ErrEphemeral))
		}
		old.mu.Lock()
		if n := len(old.slots); n > 0 {
			old.mu.Unlock()
			return fail(fmt.Errorf("%q holds %d items: %w; restore under a new name or delete it first", cfg.Name, n, engine.ErrCollectionNotEmpty))
		}
		_, err := db.logAppend(storage.EncodeDrop(cfg.Name))
		if err == nil {
			old.dropped = true
		}
		old.mu.Unlock()
		if err != nil {
			return fail(err)
		}
	}
	lsn, err := db.logAppend(storage.EncodeRestoreCreate(cfg))
	if err != nil {
		if old != nil { // the drop is logged: the table follows the log
			delete(db.collections, cfg.Name)
		}
		return fail(err)
	}
	c.mu.Lock()
	c.createLSN, c.lastSeq, c.through, c.snapshotAt, c.loggedBytes = lsn, lsn, lsn, time.Now(), 0
	c.mu.Unlock()
	db.collections[cfg.Name] = c
	db.mu.Unlock()
	c.graphWorkers = db.opts.GraphWorkers       // under c.writeMu, as below
	c.setLeadRecall(db.opts.LeadRecall, db.log) // under c.writeMu, held until the snapshot is written
	if old != nil {
		old.wait()
	}

	c.mu.RLock()
	start := time.Now()
	_, err = db.disk.WriteSnapshot(cfg.Name, lsn, func(w io.Writer) error {
		if err := c.writeSnapshot(w, db.writerTable(), lsn); err != nil {
			return err
		}
		return db.wal.Sync(ctx)
	})
	c.mu.RUnlock()
	if err == nil || ctx.Err() == nil { // one cut short by ctx is no failure (snapshotAndPruneLocked)
		db.snapStats.record(time.Since(start), err)
	}
	if err != nil {
		// Undone under the write lock it was installed with: no write to it is
		// acknowledged in between, and a collection created under the name later is
		// not the one dropped.
		lsn, derr := db.dropLocked(c)
		c.writeMu.Unlock()
		if derr == nil {
			c.wait()
			if derr = db.logWait(context.Background(), lsn); derr == nil {
				db.pruneAfter("restore failed", cfg.Name)
			}
		}
		return errors.Join(fmt.Errorf("restore %q: snapshot: %w", cfg.Name, err), derr)
	}
	// The restore is done once this is durable: a later start that misses the snapshot
	// then refuses instead of taking it for a restore a crash cut short (recover.go).
	// Logged before c takes writes, so that every write to c follows it in the log.
	// Waited for whatever ctx says: the collection is installed and its snapshot
	// durable, so a caller that gave up here would be told of a failure that is not
	// one (and refused when it tried again). The wait is one fsync.
	done, err := db.logAppend(storage.EncodeRestored(cfg.Name))
	if err == nil {
		err = db.logWait(context.Background(), done)
	}
	c.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("restore %q: its snapshot is written, recording that it finished failed: %w", cfg.Name, err)
	}
	return nil
}

// ListSnapshots describes the snapshot files of the named collection (every
// collection if name is empty), by collection name and newest first. Item counts are
// read from the files.
func (db *DB) ListSnapshots(name string) ([]engine.SnapshotFileInfo, error) {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	files, err := db.disk.Snapshots()
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []engine.SnapshotFileInfo
	for _, f := range files {
		if name == "" || f.Collection == name {
			out = append(out, db.disk.SnapshotFileInfo(f))
		}
	}
	return out, nil
}
