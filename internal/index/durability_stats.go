package index

import (
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/hist"
)

// DurabilityStats returns the log and snapshot statistics. Before Recover it holds
// zero values.
func (db *DB) DurabilityStats() engine.DurabilityStats {
	var st engine.DurabilityStats
	db.mu.RLock()
	started := db.started
	db.mu.RUnlock()
	if !started {
		return st // recovery still writes db.recovery
	}
	st.Recovery = db.recovery
	st.StreamWriters, st.StreamWritersExpired = db.StreamWriters()
	st.Log = db.wal.Stats()
	st.LogBytes = db.disk.LogBytes()
	db.snapStats.mu.Lock()
	defer db.snapStats.mu.Unlock()
	st.Snapshots, st.SnapshotFailures, st.LastSnapshot = db.snapStats.taken, db.snapStats.failed, db.snapStats.last
	if db.snapStats.seconds != nil {
		st.SnapshotSeconds = db.snapStats.seconds.Snapshot()
	}
	return st
}

// snapshotStats counts snapshots.
type snapshotStats struct {
	mu      sync.Mutex // guards the fields below
	taken   uint64
	failed  uint64
	seconds *hist.Histogram
	last    time.Time
}

// record counts one snapshot attempt.
func (s *snapshotStats) record(took time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		return
	}
	if s.seconds == nil {
		s.seconds = hist.New(hist.DurationBounds)
	}
	s.taken++
	s.seconds.Observe(took.Seconds())
	s.last = time.Now()
}

// found notes a snapshot completed at t, loaded at start-up.
func (s *snapshotStats) found(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(s.last) {
		s.last = t
	}
}
