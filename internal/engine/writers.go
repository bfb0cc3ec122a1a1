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

// SequenceGapError is a stream batch whose sequence is above its writer's next one:
// the writer's position is Next − 1. It is ErrSequenceGap (errors.Is); the service
// returns Next to the client with the status.
type SequenceGapError struct {
	Writer    string
	Got, Next uint64
	// Why, when set, says why the server holds no position for the writer (Next is 1).
	Why string
}

func (e *SequenceGapError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("writer %q: got sequence %d, expected 1: this server holds no position for the writer (%s; start it again at sequence 1): %v",
			e.Writer, e.Got, e.Why, ErrSequenceGap)
	}
	return fmt.Sprintf("writer %q: got sequence %d, expected %d: %v", e.Writer, e.Got, e.Next, ErrSequenceGap)
}

// Is makes a SequenceGapError match ErrSequenceGap.
func (e *SequenceGapError) Is(target error) bool { return target == ErrSequenceGap }

// SequenceGap is the error for batch seq of a writer whose last applied sequence is
// last (last+1 < seq). A writer the backend holds no position for (last 0) is one never
// used there or forgotten after ttl without a batch (ttl < 0: writers are never
// forgotten), and the message says so.
func SequenceGap(writer string, seq, last uint64, ttl time.Duration) error {
	e := &SequenceGapError{Writer: writer, Got: seq, Next: last + 1}
	if last == 0 {
		e.Why = "never used here"
		if ttl >= 0 {
			e.Why += ", or forgotten after " + ttl.String() + " without a batch"
		}
	}
	return e
}
