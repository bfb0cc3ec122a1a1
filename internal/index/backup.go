package index

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/hardneg/hardneg/internal/wal"
)

// Backups travel as the snapshot encoding (snapshot.go) of one collection, taken
// under the collection's locks like a snapshot, without a stream writer table. A
// restore decodes and verifies the whole encoding before it installs anything.

// BackupFormatVersion is the version of the encoding Backup writes and Restore reads:
// the snapshot format version.
const BackupFormatVersion = snapVersion

// Errors of backup and restore.
var (
	// ErrBackupInvalid: what was sent is not a backup this server can restore (an
	// unknown format version, a missing header, more bytes than the header declares).
	ErrBackupInvalid = errors.New("invalid backup")
	// ErrBackupDamaged: a backup's bytes are truncated or do not match its checksum,
	// or they do not decode.
	ErrBackupDamaged = errors.New("damaged backup")
	// ErrCollectionNotEmpty: a restore targets a collection that holds items.
	ErrCollectionNotEmpty = errors.New("collection is not empty")
)

// Backup is a consistent copy of one collection, encoded and held in an unlinked
// temporary file until Close. Read streams the encoding.
type Backup struct {
	Config   Config    // the collection's configuration
	Items    int       // live items
	LSN      uint64    // log sequence number of the last write included
	Bytes    int64     // size of the encoding
	Checksum uint32    // CRC-32C (Castagnoli) of the encoding
	TakenAt  time.Time // when the copy was taken
	f        *os.File
}

// Read reads the encoding from its start.
func (b *Backup) Read(p []byte) (int, error) { return b.f.Read(p) }

// Close releases the temporary copy.
func (b *Backup) Close() error { return b.f.Close() }

// Backup encodes the named collection as of now into a temporary file under the data
// directory. Writers to the collection wait while it is encoded (as for a snapshot);
// searches and other collections go on. The caller must Close the result.
func (db *DB) Backup(ctx context.Context, name string) (*Backup, error) {
	c, err := db.Collection(name)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(db.dir, "backup-*"+wal.TempSuffix)
	if err != nil {
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	// Unlinked at once: the open file keeps the data until Close, and nothing is left
	// behind by a crash.
	os.Remove(f.Name())
	b := &Backup{f: f}
	if err := db.encodeBackup(ctx, c, b); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup %q: %w", name, err)
	}
	db.log.Info("backup taken", "collection", name, "lsn", b.LSN, "items", b.Items, "bytes", b.Bytes)
	return b, nil
}

// encodeBackup writes c's encoding into b.f under c's write lock and shared lock.
func (db *DB) encodeBackup(ctx context.Context, c *Collection, b *Backup) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dropped {
		return fmt.Errorf("%q: %w", c.name, ErrCollectionNotFound)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h := crc32.New(castagnoli)
	cw := &countWriter{w: io.MultiWriter(b.f, h)}
	if err := c.writeSnapshot(cw, nil); err != nil {
		return err
	}
	b.Config = Config{Name: c.name, Dim: c.dim, Metric: c.metric, Params: c.params}
	b.Items, b.LSN, b.Bytes, b.Checksum, b.TakenAt = len(c.slots), c.lastSeq, cw.n, h.Sum32(), time.Now()
	return nil
}

// RestoreSource describes a backup to restore, as Backup described it.
type RestoreSource struct {
	FormatVersion uint32 // must be BackupFormatVersion
	Bytes         int64  // size of the encoding
	Checksum      uint32 // CRC-32C of the encoding
}

// RestoreResult describes a restored collection.
type RestoreResult struct {
	Collection *Collection
	Bytes      int64 // bytes verified
}

// Restore reads a backup's encoding from r, verifies its size and checksum against
// src and decodes it completely, then creates the collection name from it (empty: the
// name it was backed up under). Nothing is applied unless all of that succeeds. The
// target must not exist, or be empty (it is then replaced, configuration included);
// otherwise ErrCollectionNotEmpty. The restored collection is durable (logged and
// snapshotted) when Restore returns. progress, if not nil, is called with the bytes
// received so far.
func (db *DB) Restore(ctx context.Context, r io.Reader, src RestoreSource, name string, progress func(int64)) (RestoreResult, error) {
	if src.FormatVersion != BackupFormatVersion {
		return RestoreResult{}, fmt.Errorf("%w: format version %d, this server reads %d", ErrBackupInvalid, src.FormatVersion, BackupFormatVersion)
	}
	if src.Bytes <= 0 {
		return RestoreResult{}, fmt.Errorf("%w: size %d", ErrBackupInvalid, src.Bytes)
	}
	f, err := os.CreateTemp(db.dir, "restore-*"+wal.TempSuffix)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	os.Remove(f.Name())
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := copyProgress(io.MultiWriter(f, h), io.LimitReader(r, src.Bytes+1), progress)
	switch {
	case err != nil:
		return RestoreResult{}, fmt.Errorf("restore: receive: %w", err)
	case n > src.Bytes:
		return RestoreResult{}, fmt.Errorf("%w: more than the %d bytes the header declares", ErrBackupInvalid, src.Bytes)
	case n < src.Bytes:
		return RestoreResult{}, fmt.Errorf("%w: truncated: %d of %d bytes", ErrBackupDamaged, n, src.Bytes)
	case h.Sum32() != src.Checksum:
		return RestoreResult{}, fmt.Errorf("%w: checksum mismatch: crc32c %08x, header says %08x", ErrBackupDamaged, h.Sum32(), src.Checksum)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	c, sd, err := readSnapshot(f)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("%w: %v", ErrBackupDamaged, err)
	}
	if name == "" {
		name = sd.cfg.Name
	}
	cfg := sd.cfg
	cfg.Name = name
	if cfg, err = cfg.validate(); err != nil {
		c.wait()
		return RestoreResult{}, err
	}
	c.name = name
	if err := db.dropEmpty(name); err != nil {
		c.wait()
		return RestoreResult{}, err
	}
	if err := db.install(ctx, c, cfg); err != nil {
		return RestoreResult{}, err
	}
	db.log.Info("collection restored", "collection", name, "from", sd.cfg.Name, "items", c.Stats().Items, "bytes", n, "lsn", c.createLSN)
	return RestoreResult{Collection: c, Bytes: n}, nil
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

// dropEmpty removes the collection name if it exists and holds no items, so that a
// restore can take its place; ErrCollectionNotEmpty if it holds items.
func (db *DB) dropEmpty(name string) error {
	c, err := db.Collection(name)
	if errors.Is(err, ErrCollectionNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	db.mu.Lock()
	c.mu.Lock()
	unlock := func() {
		c.mu.Unlock()
		db.mu.Unlock()
		c.writeMu.Unlock()
	}
	if cur, ok := db.collections[name]; !ok || cur != c {
		unlock()
		return nil // dropped meanwhile
	}
	if n := len(c.slots); n > 0 {
		unlock()
		return fmt.Errorf("%q holds %d items: %w; restore under a new name or delete it first", name, n, ErrCollectionNotEmpty)
	}
	lsn, err := db.logAppend(encodeDrop(name))
	if err == nil {
		c.dropped = true
		delete(db.collections, name)
	}
	unlock()
	if err != nil {
		return err
	}
	c.wait()
	return db.logWait(context.Background(), lsn)
}

// install logs the creation of c (decoded from a backup) under cfg.Name and writes its
// snapshot, holding c's write lock until the snapshot is durable so that no write
// reaches c before its content is on disk. If the snapshot fails, c is deleted again.
func (db *DB) install(ctx context.Context, c *Collection, cfg Config) error {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	c.writeMu.Lock()
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		c.writeMu.Unlock()
		return ErrClosed
	}
	if _, ok := db.collections[cfg.Name]; ok {
		db.mu.Unlock()
		c.writeMu.Unlock()
		return fmt.Errorf("%q: %w", cfg.Name, ErrCollectionExists)
	}
	lsn, err := db.logAppend(encodeCreate(cfg))
	if err != nil {
		db.mu.Unlock()
		c.writeMu.Unlock()
		return err
	}
	c.mu.Lock()
	c.createLSN, c.lastSeq, c.snapshotAt, c.loggedBytes = lsn, lsn, time.Now(), 0
	c.mu.Unlock()
	db.collections[cfg.Name] = c
	db.mu.Unlock()

	c.mu.RLock()
	path := filepath.Join(db.snapDir, snapshotName(cfg.Name, lsn))
	err = wal.WriteFileAtomic(db.fs, path, 0o640, func(w io.Writer) error {
		if err := c.writeSnapshot(w, db.writerTable()); err != nil {
			return err
		}
		return db.wal.Sync(ctx)
	})
	c.mu.RUnlock()
	c.writeMu.Unlock()
	if err != nil {
		db.snapMu.Unlock()
		derr := db.DeleteCollection(cfg.Name)
		db.snapMu.Lock()
		return errors.Join(fmt.Errorf("restore %q: snapshot: %w", cfg.Name, err), derr)
	}
	return nil
}

// SnapshotFileInfo describes one snapshot file on disk.
type SnapshotFileInfo struct {
	Collection string
	LSN        uint64
	Bytes      int64
	ModTime    time.Time
	Items      int // live items; -1 if the file could not be read
}

// ListSnapshots describes the snapshot files of the named collection (every
// collection if name is empty), by collection name and newest first. Item counts are
// read from the files.
func (db *DB) ListSnapshots(name string) ([]SnapshotFileInfo, error) {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	files, err := db.listSnapshots()
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []SnapshotFileInfo
	for _, f := range files {
		if name != "" && f.collection != name {
			continue
		}
		path := filepath.Join(db.snapDir, f.name)
		info := SnapshotFileInfo{Collection: f.collection, LSN: f.lsn, Items: -1}
		if fi, err := os.Stat(path); err == nil {
			info.Bytes, info.ModTime = fi.Size(), fi.ModTime()
		}
		if n, err := db.snapshotItems(path); err == nil {
			info.Items = n
		}
		out = append(out, info)
	}
	return out, nil
}

// snapshotItems counts the live items of a snapshot file, reading its slot ids and
// skipping their vectors.
func (db *DB) snapshotItems(path string) (int, error) {
	f, err := db.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := &snapReader{r: bufio.NewReaderSize(f, 256<<10), h: crc32.New(castagnoli)}
	s.full(len(snapMagic) + 4)
	s.string(MaxNameLen, "name")
	dim := int(s.uvarint(MaxDim, "dim"))
	s.ReadByte()
	for range 4 {
		s.uvarint(math.MaxUint32, "index parameter")
	}
	s.u64()
	s.u64()
	nw := s.uvarint(math.MaxUint32, "writer count")
	for i := uint64(0); i < nw && s.err == nil; i++ {
		s.string(MaxWriterIDBytes, "writer")
		s.uvarint(math.MaxUint64, "writer sequence")
		s.uvarint(math.MaxUint64, "writer lsn")
	}
	n := s.uvarint(math.MaxUint32, "slot count")
	live := 0
	for slot := uint64(0); slot < n && s.err == nil; slot++ {
		if id := s.string(MaxIDBytes, "id"); id != "" {
			live++
			s.varint()
			for range int(s.uvarint(MaxItemGroups, "group count")) {
				s.string(MaxGroupBytes, "group")
			}
		}
		s.full(4 * dim)
	}
	return live, s.err
}
