package engine

import (
	"fmt"
	"time"
)

// DefaultWriterTTL is how long a backend keeps a stream writer's position without a
// batch, unless told otherwise: a week.
const DefaultWriterTTL = 7 * 24 * time.Hour

// WriterSweepEvery is how often a new stream writer also sweeps a backend's writer
// positions for expired ones: once a minute, or twice per TTL when the TTL is shorter
// than two minutes. Often enough that writer ids used once are forgotten about the TTL
// after their last batch, rarely enough that the sweep costs nothing per batch. ttl < 0
// (never forget) needs no sweeps; WriterSweepEvery then returns a minute.
func WriterSweepEvery(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl/2 < time.Minute {
		return max(ttl/2, time.Millisecond)
	}
	return time.Minute
}

// UnknownWriterError is the error for a batch of a writer the backend holds no position
// for whose sequence is not 1: the writer was never used there, or it was forgotten
// after ttl without a batch (ttl < 0: writers are never forgotten). It wraps
// ErrSequenceGap.
func UnknownWriterError(writer string, seq uint64, ttl time.Duration) error {
	why := "never used here"
	if ttl >= 0 {
		why += ", or forgotten after " + ttl.String() + " without a batch"
	}
	return fmt.Errorf("writer %q: got sequence %d, expected 1: this server holds no position for the writer "+
		"(%s; start it again at sequence 1): %w", writer, seq, why, ErrSequenceGap)
}
