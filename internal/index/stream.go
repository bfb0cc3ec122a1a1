package index

import (
	"errors"
	"fmt"
)

// ErrSequenceGap is returned when a stream batch skips sequence numbers of its writer.
var ErrSequenceGap = errors.New("sequence gap")

// StreamResult acknowledges one stream batch.
type StreamResult struct {
	Upsert UpsertResult
	Delete DeleteResult
	// Duplicate is true when the batch had been applied before and was skipped.
	Duplicate bool
	// Durable is the writer's highest sequence that is durable.
	Durable uint64
}

// WriterSequence returns the last sequence applied for a writer (0 when unknown).
func (db *DB) WriterSequence(writer string) uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.writers[writer]
}

// StreamBatch applies one batch of a writer's stream: upserts b, then deletes ids, in
// the named collection, at most once per (writer, seq). A seq at or below the writer's
// last applied sequence is acknowledged as a duplicate without being applied; a seq
// above last+1 is rejected with ErrSequenceGap.
func (db *DB) StreamBatch(writer string, seq uint64, name string, b *Batch, deletes []string) (StreamResult, error) {
	c, err := db.Collection(name)
	if err != nil {
		return StreamResult{}, err
	}
	if err := c.ValidateBatch(b, "items"); err != nil {
		return StreamResult{}, err
	}
	if err := ValidateIDs("delete_ids", deletes, true); err != nil {
		return StreamResult{}, err
	}
	db.streamMu.Lock()
	defer db.streamMu.Unlock()
	db.mu.Lock()
	last := db.writers[writer]
	switch {
	case seq <= last:
		db.mu.Unlock()
		return StreamResult{Duplicate: true, Durable: last}, nil
	case seq > last+1:
		db.mu.Unlock()
		return StreamResult{Durable: last}, fmt.Errorf("writer %q: got sequence %d, expected %d: %w", writer, seq, last+1, ErrSequenceGap)
	}
	lsn := db.nextSeq()
	db.mu.Unlock()
	var res StreamResult
	c.mu.Lock()
	if b.Len() > 0 {
		res.Upsert = c.applyUpsertLocked(b, lsn)
	}
	if len(deletes) > 0 {
		res.Delete = c.applyDeleteLocked(deletes, lsn)
	}
	c.mu.Unlock()
	db.mu.Lock()
	db.writers[writer] = seq
	db.mu.Unlock()
	res.Durable = seq
	return res, nil
}
