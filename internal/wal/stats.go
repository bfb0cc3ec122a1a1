package wal

import "github.com/hardneg/hardneg/internal/hist"

// Stats is a snapshot of a Log's counters and positions, cheap enough to
// take at every metrics scrape.
type Stats struct {
	Appends           uint64 // records appended since Open
	AppendedBytes     uint64 // framed bytes appended since Open
	Writes            uint64 // write calls to segment files
	Syncs             uint64 // fsyncs of segment files (group commits and rotations)
	Rotations         uint64 // segments started since Open
	TruncatedSegments uint64 // segments deleted by TruncateBefore
	Segments          int    // segment files now
	FirstLSN          uint64 // first LSN of the oldest segment
	LastLSN           uint64 // last LSN assigned
	WrittenLSN        uint64 // last LSN written to the operating system
	DurableLSN        uint64 // last LSN covered by an fsync
	Failed            bool   // the log has failed (see ErrFailed)
	// SyncSeconds is the histogram of the durations of group-commit fsyncs.
	SyncSeconds hist.Snapshot
}

// Stats returns current counters and positions.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Segments = len(l.segments)
	s.FirstLSN = l.segments[0].first
	s.LastLSN = l.nextLSN - 1
	s.WrittenLSN = l.writtenLSN
	s.DurableLSN = l.durableLSN
	s.SyncSeconds = l.syncSeconds.Snapshot()
	return s
}
