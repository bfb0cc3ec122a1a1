package engine

import (
	"time"

	"github.com/hardneg/hardneg/internal/hist"
	"github.com/hardneg/hardneg/internal/wal"
)

// Stats is a snapshot of a collection's counters.
type Stats struct {
	Items int
	// Slots counts allocated slots, live or not; it bounds vector and graph memory. A
	// replaced or deleted item's slot is a graph tombstone until a compaction drops
	// it (at once when there is no graph yet), then free until a later write reuses
	// it.
	Slots int
	// FreeSlots counts dead slots waiting to be reused.
	FreeSlots    int
	Tombstones   int
	LastSequence uint64
	VectorBytes  int64 // float vectors and, under int8 quantization, their graph codes
	GraphBytes   int64
	// GraphBuilt is set once the collection first held ExactThreshold live items and
	// built its graph; it stays set.
	GraphBuilt bool
	// GraphSearch: searches go through the graph (it is built, the collection holds at
	// least ExactThreshold live items, and its last measurement of the first-pass lead
	// did not find an exact scan cheaper, see index.Collection.FirstPassLead).
	GraphSearch bool
	// FirstPassLead is how far past its rank window mining's first graph pass must
	// reach on this collection, as the collection last measured it against an exact
	// scan (index.Collection.FirstPassLead), and LeadRecall the recall@10 it measured
	// there; both 0 until measured, and for engines that do not measure.
	FirstPassLead int
	LeadRecall    float64
}

// StalenessBounds are the upper bounds of VersionStats.Staleness: staleness (the
// collection's newest version minus an item's version) in encoder versions, e.g.
// training steps. Staleness above the last bound falls in the implicit +Inf bucket.
var StalenessBounds = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}

// VersionStats summarise the version stamps of a collection's live items.
type VersionStats struct {
	// Items is the number of live items.
	Items int
	// Oldest and Newest are the smallest and largest version of a live item; both 0
	// when the collection is empty.
	Oldest, Newest int64
	// Staleness counts items per StalenessBounds bucket, cumulatively: Staleness[i]
	// items have Newest − version ≤ StalenessBounds[i]. StalenessSum is the sum of
	// every item's staleness.
	Staleness    []uint64
	StalenessSum float64
}

// VersionCount is how many live items carry one version stamp.
type VersionCount struct {
	Version int64 `json:"version"`
	Items   int   `json:"items"`
}

// VersionSummary describes the version stamps of a collection's live items.
type VersionSummary struct {
	// Min and Max are the lowest and highest stamps; both 0 for an empty collection.
	Min int64 `json:"min"`
	Max int64 `json:"max"`
	// Distinct is the number of different stamps.
	Distinct int `json:"distinct"`
	// Newest are the items per stamp for the highest stamps, newest first: at most the
	// limit given to Versions.
	Newest []VersionCount `json:"newest"`
}

// DurabilityStats are cumulative statistics of the log and snapshots, cheap enough
// for every metrics scrape.
type DurabilityStats struct {
	// Log holds the write-ahead log's counters, fsync durations included.
	Log wal.Stats
	// LogBytes is the size of the log's segment files on disk.
	LogBytes int64
	// Snapshots and SnapshotFailures count finished and failed snapshots since start.
	Snapshots, SnapshotFailures uint64
	// SnapshotSeconds is the histogram of successful snapshot durations.
	SnapshotSeconds hist.Snapshot
	// LastSnapshot is when the newest snapshot was completed, including one found at
	// start-up; zero when there is none.
	LastSnapshot time.Time
	// Recovery is what start-up recovery found.
	Recovery Recovery
	// StreamWriters is how many stream writers the storage holds a position for;
	// StreamWritersExpired counts those forgotten since start after a time without a
	// batch (index.Options.WriterTTL).
	StreamWriters        int
	StreamWritersExpired uint64
}

// Recovery describes what Open found on disk and did about it.
type Recovery struct {
	// TempFilesRemoved lists leftovers of interrupted snapshot writes.
	TempFilesRemoved []string
	// SnapshotsLoaded counts collections loaded from a snapshot.
	SnapshotsLoaded int
	// SnapshotsRejected lists snapshot files that failed to verify; an older one
	// (or the log) was used instead, and once recovery decided to start each was
	// renamed with a ".corrupt" suffix.
	SnapshotsRejected []string
	// RecordsReplayed counts log records applied on top of the snapshots.
	RecordsReplayed uint64
	// RecordsSkipped counts log records already covered by a snapshot.
	RecordsSkipped uint64
	// RestoresUndone counts restores a crash cut short (their creation logged, their
	// snapshot never written) that recovery removed instead of starting them empty.
	RestoresUndone int
	// Log is what the write-ahead log found, including a cut torn tail.
	Log wal.Recovery
	// Duration is the time recovery took.
	Duration time.Duration
}
