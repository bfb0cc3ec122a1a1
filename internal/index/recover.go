package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hardneg/hardneg/internal/storage"
	"github.com/hardneg/hardneg/internal/wal"
)

// recover loads snapshots and replays the log into db. Called once by Open.
func (db *DB) recover() error {
	start := time.Now()
	rec := &db.recovery
	removed, err := db.disk.PrepareSnapshots()
	if err != nil {
		return err
	}
	rec.TempFilesRemoved = removed
	if err := db.loadSnapshots(); err != nil {
		return err
	}
	db.fromSnapshot = make(map[string]uint64, len(db.collections))
	for name, c := range db.collections {
		db.fromSnapshot[name] = c.createLSN
	}
	db.logDropped = map[string]bool{}

	l, err := db.disk.OpenLog(wal.Options{
		Sync:         db.opts.Sync,
		SyncInterval: db.opts.SyncInterval,
		SegmentSize:  db.opts.SegmentBytes,
		// A record holds at most one batch: MaxBatchItems vectors of MaxDim plus ids
		// and groups.
		MaxRecordSize: storage.MaxRecordBytes,
		Salvage:       db.opts.Salvage,
	})
	if err != nil {
		return fmt.Errorf("open write-ahead log: %w", err)
	}
	db.wal = l
	rec.Log = l.Recovery()
	if t := rec.Log.Truncated; t != nil {
		if t.Tail {
			if t.SaveError != "" {
				db.log.Warn("torn tail of the last log segment cut (expected after a crash); its bytes could not be copied aside",
					"file", t.File, "offset", t.Offset, "bytes", t.Bytes, "reason", t.Reason, "save_error", t.SaveError)
			} else {
				db.log.Warn("torn tail of the last log segment cut (expected after a crash)",
					"file", t.File, "offset", t.Offset, "bytes", t.Bytes, "reason", t.Reason, "saved_to", t.SavedTo)
			}
		} else {
			db.log.Error("log salvaged: damaged records and everything after them moved aside",
				"file", t.File, "offset", t.Offset, "bytes", t.Bytes, "reason", t.Reason,
				"moved_segments", t.MovedSegments, "saved_to", t.SavedTo)
		}
	}
	st := l.Stats()
	if err := db.checkCoverage(st.FirstLSN, st.LastLSN); err != nil {
		return err
	}
	unloaded := db.unloaded()
	db.orphans = map[string]uint64{}
	if st.LastLSN >= st.FirstLSN && st.FirstLSN > 0 {
		db.toReplay.Store(st.LastLSN - st.FirstLSN + 1)
	}
	if _, err := l.Replay(st.FirstLSN, db.replayRecord); err != nil {
		return fmt.Errorf("replay write-ahead log: %w", err)
	}
	if err := db.checkRejected(st.FirstLSN, unloaded); err != nil {
		return err
	}
	if err := db.checkCatalog(st.FirstLSN, st.LastLSN); err != nil {
		return err
	}
	if err := db.checkOrphans(); err != nil {
		return err
	}
	if err := db.undoUnfinishedRestores(); err != nil {
		return err
	}
	if err := db.setAsideRejected(); err != nil {
		return err
	}
	if err := db.dropOrphans(); err != nil {
		return err
	}
	if err := db.padLog(); err != nil {
		return err
	}
	if err := db.settleSalvage(); err != nil {
		return err
	}
	now := time.Now()
	for _, c := range db.collections {
		c.snapshotAt = now
	}
	db.settleWriters(db.now())
	rec.Duration = time.Since(start)
	db.log.Info("recovered", "collections", len(db.collections), "snapshots", rec.SnapshotsLoaded,
		"records_replayed", rec.RecordsReplayed, "records_skipped", rec.RecordsSkipped,
		"log_segments", rec.Log.Segments, "duration", rec.Duration)
	return nil
}

// checkCoverage refuses to start when the log no longer holds records that the loaded
// snapshots need: a snapshot older than the log's first record, or a snapshot newer than
// the log's last record (the log lost records it had made durable; writing on would
// hand their LSNs out again, and the snapshot would hide those writes at the next
// start). first and last are the log's first and last LSN. Options.Salvage starts
// anyway and logs the loss.
func (db *DB) checkCoverage(first, last uint64) error {
	var problems []string
	for name, c := range db.collections {
		through := max(c.through, c.lastSeq)
		if through+1 < first {
			problems = append(problems, fmt.Sprintf("snapshot of %q covers lsn %d but the log starts at %d", name, through, first))
		}
		if through > last {
			problems = append(problems, fmt.Sprintf("snapshot of %q covers lsn %d but the log ends at %d", name, through, last))
		}
	}
	return db.dataMissing(problems)
}

// rejectedSnapshot is a snapshot file that failed to verify, of a collection that no
// snapshot was loaded for.
type rejectedSnapshot struct{ name, why string }

// unloaded returns, before replay, the rejected snapshots of collections that no
// snapshot was loaded for.
func (db *DB) unloaded() []rejectedSnapshot {
	var out []rejectedSnapshot
	for i, f := range db.recovery.SnapshotsRejected {
		name, _, _ := storage.ParseSnapshotName(f)
		if _, ok := db.collections[name]; !ok {
			out = append(out, rejectedSnapshot{name, db.rejectedWhy[i]})
		}
	}
	return out
}

// checkRejected refuses to start, after replay, when a collection's snapshots all
// failed to verify (unloaded) and the log does not hold its whole history: it starts
// at first > 1 and did not create the collection again (a creation record at or after
// first replays every write since). first is the log's first LSN.
func (db *DB) checkRejected(first uint64, unloaded []rejectedSnapshot) error {
	var problems []string
	for _, r := range unloaded {
		if c, ok := db.collections[r.name]; first > 1 && (!ok || c.createLSN < first) {
			problems = append(problems, fmt.Sprintf("no snapshot of %q verifies (%s) and the log starts at %d", r.name, r.why, first))
		}
	}
	return db.dataMissing(problems)
}

// dataMissing returns ErrDataMissing naming problems, if any; under Options.Salvage it
// logs them and starts anyway.
func (db *DB) dataMissing(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	if db.opts.Salvage {
		db.salvaged = true
		db.log.Error("starting with data missing (salvage)", "problems", problems)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrDataMissing, strings.Join(problems, "; "))
}

// checkOrphans refuses to start when the log holds writes to a collection that no
// snapshot and no creation record in the log accounts for, and that the log does not
// drop later: the collection's snapshot is gone (deleted, or lost by the file
// system) while the log was truncated on the strength of it. Options.Salvage starts
// anyway and logs the loss.
func (db *DB) checkOrphans() error {
	if len(db.orphans) == 0 {
		return nil
	}
	var problems []string
	for name, lsn := range db.orphans {
		problems = append(problems, fmt.Sprintf("the log writes to %q from lsn %d on, but no snapshot or creation record of it is left", name, lsn))
	}
	slices.Sort(problems)
	if db.opts.Salvage {
		db.log.Error("starting with data missing (salvage)", "problems", problems)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrDataMissing, strings.Join(problems, "; "))
}

// checkCatalog refuses to start when a collection that the snapshot catalog lists
// (the live set written before the log was last trimmed, storage.WriteCatalog) came
// back neither from a snapshot of that collection nor from the log: its snapshots are
// gone while the log was trimmed past its creation, and nothing later in the log
// writes to it (checkOrphans catches the collections that it does write to). A
// directory without a catalog (written before it existed) is not checked.
// Options.Salvage starts anyway and logs the loss. first and last are the log's first
// and last LSN.
func (db *DB) checkCatalog(first, last uint64) error {
	listed, ok, err := db.disk.ReadCatalog()
	switch {
	case errors.Is(err, storage.ErrCatalogUnreadable):
		// Not damage: the start is refused until it can be read, as for a snapshot.
		return fmt.Errorf("%w (a file this server may not read is not treated as damaged: fix its ownership or mode and start again)", err)
	case err != nil && !db.opts.Salvage:
		return fmt.Errorf("%w: %w (-wal-salvage starts without the check, and writes the catalog again)", ErrDataMissing, err)
	case err != nil:
		db.salvaged = true // the catalog is written again at the end of recovery
		db.log.Error("starting without checking the snapshot catalog (salvage); it is set aside with a .corrupt suffix", "err", err)
		return db.disk.SetAsideCatalog()
	case !ok:
		return nil
	}
	var problems []string
	for name, created := range listed {
		inLog := first > 0 && created >= first && created <= last
		if inLog || db.logDropped[name] || db.fromSnapshot[name] == created {
			continue
		}
		if other, found := db.fromSnapshot[name]; found {
			problems = append(problems, fmt.Sprintf("the snapshot catalog lists %q as created at lsn %d, but its snapshot is of a collection of that name created at lsn %d, and the log, which starts at lsn %d, does not say how one became the other", name, created, other, first))
			continue
		}
		problems = append(problems, fmt.Sprintf("%q (created at lsn %d) is in the snapshot catalog, but no snapshot of it is left and the log, which starts at lsn %d, no longer holds its creation", name, created, first))
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	if !db.opts.Salvage {
		return fmt.Errorf("%w: %s", ErrDataMissing, strings.Join(problems, "; "))
	}
	db.salvaged = true // the catalog is written again, from what started, at the end of recovery
	db.log.Error("starting with data missing (salvage)", "problems", problems)
	return nil
}

// settleSalvage makes a salvaged start's decisions hold for the next start without
// -wal-salvage: it snapshots every stored collection and writes the catalog again from
// what started, so that snapshots older than the log, a damaged or stale catalog and
// restores whose snapshots are lost are not found again. It runs at the end of a
// recovery that salvaged anything (DB.salvaged).
func (db *DB) settleSalvage() error {
	if !db.salvaged {
		return nil
	}
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	names := make([]string, 0, len(db.collections))
	for name := range db.collections {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names { // db.list is empty until the DB has started
		c := db.collections[name]
		if c.ephemeral {
			continue
		}
		if _, err := db.snapshotLocked(context.Background(), c); err != nil {
			return fmt.Errorf("salvage: snapshot what started: %w", err)
		}
	}
	db.catalog = nil // written whatever it held
	if err := db.pruneLocked(); err != nil {
		return fmt.Errorf("salvage: write the snapshot catalog: %w", err)
	}
	db.log.Warn("salvage: what started is snapshotted and the catalog written again; later starts need no -wal-salvage for the damage found now")
	return nil
}

// dropOrphans records the decision of a salvaged start (checkOrphans) that started
// without the collections the log writes to but nothing else accounts for: a drop
// record for each, so that a later start without Options.Salvage replays their writes
// as dropped, not as the same damage again. Their records stay in the log until it is
// trimmed past them (the operator's copy of the data directory holds them as well).
func (db *DB) dropOrphans() error {
	if len(db.orphans) == 0 {
		return nil // nothing is left orphaned without Salvage: checkOrphans refused
	}
	names := make([]string, 0, len(db.orphans))
	for name := range db.orphans {
		if _, live := db.collections[name]; live {
			// Created again later in the log: a drop now would drop that collection
			// at the next start. Its first snapshot will account for the old writes.
			db.log.Warn("salvage: a collection the log wrote to before its creation record is kept; a later start may need -wal-salvage again until it has a snapshot", "collection", name)
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil
	}
	for _, name := range names {
		if _, err := db.wal.Append(storage.EncodeDrop(name)); err != nil {
			return fmt.Errorf("record the salvaged start's dropped collections: %w", err)
		}
	}
	if err := db.wal.Sync(context.Background()); err != nil {
		return fmt.Errorf("record the salvaged start's dropped collections: %w", err)
	}
	db.log.Warn("salvage: collections the log wrote to without a snapshot or creation record are recorded as dropped, so later starts need no -wal-salvage for them",
		"collections", names, "last_lsn", db.wal.LastLSN())
	clear(db.orphans)
	return nil
}

// undoUnfinishedRestores deals with the collections that a restore created but whose
// content, held by the snapshot the restore wrote at its creation record's LSN, no
// snapshot file brought back. One whose restore did not finish (no OpRestored record,
// which every write to it follows) is removed: a crash cut the restore short before the
// call returned,
// between logging the creation and the snapshot becoming durable (DB.install); without
// this it would come back as an empty collection. A drop record for each makes the
// decision part of the log. One whose restore finished has lost its snapshots since:
// the start is refused (ErrDataMissing), or under Options.Salvage it starts with what
// the log holds (the later writes only).
func (db *DB) undoUnfinishedRestores() error {
	var names, problems []string
	for name, c := range db.collections {
		switch {
		case !c.unrestored:
		case c.restoredAt == 0:
			names = append(names, name)
		default:
			problems = append(problems, fmt.Sprintf("%q was restored at lsn %d and the restore finished at lsn %d, but no snapshot of it that verifies is left to hold what was restored", name, c.createLSN, c.restoredAt))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		if !db.opts.Salvage {
			return fmt.Errorf("%w: %s", ErrDataMissing, strings.Join(problems, "; "))
		}
		db.salvaged = true
		db.log.Error("starting with data missing (salvage)", "problems", problems)
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	for _, name := range names {
		c := db.collections[name]
		if _, err := db.wal.Append(storage.EncodeDrop(name)); err != nil {
			return fmt.Errorf("undo an unfinished restore: %w", err)
		}
		delete(db.collections, name)
		c.wait()
		db.log.Warn("a restore that did not finish before the server stopped is undone (its creation was logged, its snapshot never written); restore it again",
			"collection", name, "lsn", c.createLSN)
	}
	if err := db.wal.Sync(context.Background()); err != nil {
		return fmt.Errorf("undo an unfinished restore: %w", err)
	}
	db.recovery.RestoresUndone = len(names)
	return nil
}

// setAsideRejected renames the snapshots that failed to verify with a ".corrupt"
// suffix. It runs only once recovery has decided to start, so a refused start leaves
// them in place and the next start refuses for the same reason.
func (db *DB) setAsideRejected() error {
	return db.disk.SetAside(db.recovery.SnapshotsRejected)
}

// padLog appends records that change nothing until the log's last LSN reaches the
// newest LSN a loaded snapshot covers, so that new writes get LSNs above it. Only a
// salvaged start (see checkCoverage) gets here with a log shorter than a snapshot.
func (db *DB) padLog() error {
	// Past every LSN the snapshots speak of: a collection's last write, the LSN its
	// snapshot is complete through (which the log's pruning trusts), and the writers'
	// positions (which replay compares LSNs with).
	var newest uint64
	for _, c := range db.collections {
		newest = max(newest, c.lastSeq, c.through)
	}
	for _, w := range db.writers {
		newest = max(newest, w.LSN)
	}
	n := 0
	for db.wal.LastLSN() < newest {
		// A drop of the empty name: no collection has it, so replay skips it.
		if _, err := db.wal.Append(storage.EncodeDrop("")); err != nil {
			return fmt.Errorf("pad write-ahead log: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := db.wal.Sync(context.Background()); err != nil {
		return fmt.Errorf("pad write-ahead log: %w", err)
	}
	db.log.Warn("log padded past the newest snapshot", "records", n, "last_lsn", db.wal.LastLSN())
	return nil
}

// loadSnapshots installs the newest snapshot that verifies of every collection.
func (db *DB) loadSnapshots() error {
	files, err := db.disk.Snapshots()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	for _, f := range files { // newest first within a collection
		if _, done := db.collections[f.Collection]; done {
			continue
		}
		var c *Collection
		var sd storage.SnapshotHeader
		modTime, err := db.disk.ReadSnapshot(f.Name, func(r io.Reader) (err error) {
			c, sd, err = readSnapshot(r)
			return err
		})
		if err == nil && (sd.Config.Name != f.Collection || sd.Through != f.LSN) {
			err = fmt.Errorf("%w: holds %q through lsn %d, name says %q at %d", storage.ErrSnapshot, sd.Config.Name, sd.Through, f.Collection, f.LSN)
		}
		if errors.Is(err, storage.ErrSnapshotUnreadable) {
			// Not damage: set aside as corrupt, an intact file would be lost to the
			// operator's view. The start is refused until it can be read.
			return fmt.Errorf("read snapshot %s: %w (a file this server may not read is not treated as damaged: fix its ownership or mode and start again)", db.disk.SnapshotPath(f.Name), err)
		}
		if err != nil {
			path := db.disk.SnapshotPath(f.Name)
			db.log.Warn("snapshot rejected; trying an older one", "file", path, "err", err)
			db.recovery.SnapshotsRejected = append(db.recovery.SnapshotsRejected, f.Name)
			db.rejectedWhy = append(db.rejectedWhy, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		db.collections[f.Collection] = c
		for id, w := range sd.Writers {
			// The position logged last wins: a writer forgotten (WriterTTL) and started
			// again at sequence 1 has a lower sequence than the one an older snapshot
			// holds, but a higher LSN.
			if old, ok := db.writers[id]; !ok || w.LSN > old.LSN || (w.LSN == old.LSN && w.Unix > old.Unix) {
				db.writers[id] = w
			}
		}
		db.recovery.SnapshotsLoaded++
		if !modTime.IsZero() {
			db.snapStats.found(modTime)
		}
	}
	return nil
}

// replayRecord applies one log record during recovery, skipping what the loaded
// snapshots already hold. Collections are told apart by the LSN that created them,
// so a record for an earlier collection of the same name never reaches a later one.
func (db *DB) replayRecord(lsn uint64, p []byte) error {
	defer db.replayed.Add(1)
	r, err := storage.DecodeRecord(p)
	if err != nil {
		return fmt.Errorf("log record %d: %w", lsn, err)
	}
	c := db.collections[r.Name]
	// A record newer than the writer's known position moves it (see loadSnapshots on
	// why by LSN); its time is not logged, so settleWriters sets it. A record that its
	// collection's snapshot holds is left alone: that snapshot's writer table was taken
	// after it, so a writer missing there was forgotten on purpose (WriterTTL), and
	// bringing it back would turn the sequence 1 it was told to start again at into a
	// duplicate.
	if r.Op == storage.OpStream && (c == nil || lsn > c.lastSeq) {
		if w, ok := db.writers[r.Writer]; !ok || lsn > w.LSN {
			db.writers[r.Writer] = storage.WriterState{Seq: r.Seq, LSN: lsn}
		}
	}
	switch r.Op {
	case storage.OpCreate:
		if c != nil && c.createLSN >= lsn {
			db.recovery.RecordsSkipped++
			return nil
		}
		cfg, _ := r.Config.Validate()
		if c != nil {
			c.wait() // a stale collection of the same name being replaced
		}
		if c, err = newCollection(cfg); err != nil {
			return fmt.Errorf("log record %d: %w", lsn, err)
		}
		c.createLSN, c.lastSeq = lsn, lsn
		c.unrestored = r.Restore
		db.collections[r.Name] = c
	case storage.OpRestored:
		if c != nil && c.unrestored && lsn > c.createLSN {
			c.restoredAt = lsn
		}
		db.recovery.RecordsSkipped++
		return nil
	case storage.OpDrop:
		db.logDropped[r.Name] = true
		if c == nil {
			delete(db.orphans, r.Name)
		}
		if c == nil || c.createLSN >= lsn {
			db.recovery.RecordsSkipped++
			return nil
		}
		delete(db.collections, r.Name)
		c.wait()
	default:
		if c == nil {
			// A write to a collection that neither a snapshot nor a creation record
			// holds: lost data, unless the log drops it later (checkOrphans).
			if _, seen := db.orphans[r.Name]; !seen {
				db.orphans[r.Name] = lsn
			}
		}
		if c == nil || lsn <= c.lastSeq {
			db.recovery.RecordsSkipped++
			return nil
		}
		if r.Batch != nil && len(r.Batch.Vectors) != r.Batch.Len()*c.dim {
			return fmt.Errorf("log record %d: %w: batch dimension does not match collection %q", lsn, storage.ErrRecord, r.Name)
		}
		if r.Op == storage.OpFeedback {
			c.applyFeedback(r.Reports, lsn)
			c.loggedBytes += int64(len(p))
			break
		}
		var w graphWork
		if r.Batch != nil {
			c.applyUpsertLocked(r.Batch, lsn, &w)
		}
		c.applyDeleteLocked(r.IDs, lsn, &w)
		c.applyGraph(&w)
		c.loggedBytes += int64(len(p))
	}
	db.recovery.RecordsReplayed++
	return nil
}

// settleWriters ends recovery's work on the stream writers: a writer whose time is not
// known (from a snapshot written before times were stored, or moved by a replayed log
// record, which holds none) counts as written now, so it lives a full WriterTTL from
// the upgrade or restart; then the expired ones are forgotten (a snapshot of one
// collection can still hold a writer that a newer snapshot of another had forgotten).
// The log's records of a forgotten writer do not bring it back when their collection's
// snapshot holds them (replayRecord); ones it does not hold do, as written now.
func (db *DB) settleWriters(now time.Time) {
	db.writersMu.Lock()
	defer db.writersMu.Unlock()
	for id, w := range db.writers {
		if w.Unix == 0 {
			w.Unix = now.Unix()
			db.writers[id] = w
		}
	}
	if n := db.expireWritersLocked(now); n > 0 {
		db.log.Info("stream writers expired", "writers", n, "ttl", db.opts.WriterTTL, "held", len(db.writers))
	}
}
