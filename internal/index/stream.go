package index

import (
	"context"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// WriterSequence returns the last sequence applied for a writer (0 when unknown, or idle
// for longer than Options.WriterTTL).
func (db *DB) WriterSequence(writer string) uint64 {
	db.writersMu.Lock()
	defer db.writersMu.Unlock()
	if w := db.writers[writer]; !db.writerExpired(w, db.now()) {
		return w.Seq
	}
	return 0
}

// StreamAppend logs and applies one batch of a writer's stream — upserts b, then
// deletes ids, in the named collection — at most once per (writer, seq), without
// waiting for the log: the caller waits for res.LSN (WaitLogged, WaitDurable) before
// acknowledging, which lets a stream keep several batches in flight. A seq at or below
// the writer's last applied sequence is reported as a duplicate without being applied;
// a seq above last+1 is rejected with an engine.SequenceGapError. b may be nil.
func (db *DB) StreamAppend(writer string, seq uint64, name string, b *engine.Batch, deletes []string) (engine.StreamResult, error) {
	c, err := db.lookup(name)
	if err != nil {
		return engine.StreamResult{}, err
	}
	if b == nil {
		b = &engine.Batch{}
	}
	if err := c.ValidateBatch(b, "items"); err != nil {
		return engine.StreamResult{}, err
	}
	if err := engine.ValidateIDs("delete_ids", deletes, true); err != nil {
		return engine.StreamResult{}, err
	}
	db.streamMu.Lock()
	defer db.streamMu.Unlock()
	now := db.now()
	db.writersMu.Lock()
	last := db.writers[writer]
	if last.Seq > 0 && db.writerExpired(last, now) {
		// Idle past the TTL but not yet swept: forgotten now, as if the sweep had run,
		// so that the writer starts again from sequence 1 rather than seeing its
		// batches dropped as duplicates.
		delete(db.writers, writer)
		db.writersExpired++
		last = storage.WriterState{}
	}
	db.writersMu.Unlock()
	switch {
	case seq <= last.Seq:
		return engine.StreamResult{Duplicate: true, LSN: last.LSN, WriterSequence: last.Seq, PrevSequence: last.Seq, PrevLSN: last.LSN}, nil
	case seq > last.Seq+1:
		return engine.StreamResult{}, engine.SequenceGap(writer, seq, last.Seq, db.opts.WriterTTL)
	}
	rec := c.logRecord(func() []byte { return storage.EncodeStream(writer, seq, name, b, c.dim, deletes) })
	res := engine.StreamResult{WriterSequence: seq, PrevSequence: last.Seq, PrevLSN: last.LSN}
	lsn, err := db.logApply(c, rec, func(lsn uint64, w *graphWork) {
		if b.Len() > 0 {
			res.Upsert = c.applyUpsertLocked(b, lsn, w)
		}
		if len(deletes) > 0 {
			res.Delete = c.applyDeleteLocked(deletes, lsn, w)
		}
		c.lastSeq = max(c.lastSeq, lsn) // an empty batch too, as recovery replays it
		// Under the collection's lock, so a snapshot that holds this batch also
		// holds the writer's position. A writer has one position, whatever
		// collections its batches go to; a batch into an ephemeral collection has no
		// record, so its position carries the log's end, which orders it after the
		// writer's earlier batches and before its later ones wherever recovery
		// compares positions by LSN.
		at := lsn
		if c.ephemeral {
			at = db.wal.LastLSN()
		}
		db.writersMu.Lock()
		db.writers[writer] = storage.WriterState{Seq: seq, LSN: at, Unix: now.Unix()}
		db.writersMu.Unlock()
	})
	if err != nil {
		return engine.StreamResult{}, err
	}
	if last.Seq == 0 { // a new writer sweeps the table now and then, outside the collection's lock
		db.writersMu.Lock()
		if now.Sub(db.writersSwept) >= engine.WriterSweepEvery(db.opts.WriterTTL) {
			db.expireWritersLocked(now)
		}
		db.writersMu.Unlock()
	}
	res.LSN = lsn
	return res, nil
}

// WaitLogged waits until the record lsn is acknowledged by the sync policy: durable
// under wal.SyncAlways, handed to the operating system under wal.SyncInterval (use
// DurableLSN or WaitDurable for the durable point).
func (db *DB) WaitLogged(ctx context.Context, lsn uint64) error { return db.logWait(ctx, lsn) }

// StreamBatch is StreamAppend followed by WaitLogged.
func (db *DB) StreamBatch(ctx context.Context, writer string, seq uint64, name string, b *engine.Batch, deletes []string) (engine.StreamResult, error) {
	res, err := db.StreamAppend(writer, seq, name, b, deletes)
	if err != nil {
		return res, err
	}
	return res, db.WaitLogged(ctx, res.LSN)
}

// expireWritersLocked forgets the stream writers whose last batch was applied more than
// Options.WriterTTL before now, and counts them. Caller holds writersMu.
func (db *DB) expireWritersLocked(now time.Time) int {
	db.writersSwept = now
	if db.opts.WriterTTL < 0 {
		return 0
	}
	n := 0
	for id, w := range db.writers {
		if db.writerExpired(w, now) {
			delete(db.writers, id)
			n++
		}
	}
	db.writersExpired += uint64(n)
	return n
}

// writerExpired reports whether w's last batch was applied more than Options.WriterTTL
// before now (never when the TTL is negative: writers are kept for good).
func (db *DB) writerExpired(w storage.WriterState, now time.Time) bool {
	return db.opts.WriterTTL >= 0 && w.Unix < now.Add(-db.opts.WriterTTL).Unix()
}

// StreamWriters returns how many stream writers the server holds a position for, and
// how many it has forgotten since Open (Options.WriterTTL).
func (db *DB) StreamWriters() (held int, expired uint64) {
	db.writersMu.Lock()
	defer db.writersMu.Unlock()
	return len(db.writers), db.writersExpired
}
