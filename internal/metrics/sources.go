package metrics

import (
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
)

// Sources are the statistics the collector reads at scrape time. Every field is
// optional: a nil function exports none of its metrics. Each function must be cheap
// and safe to call concurrently; it is called once per scrape.
//
// Adding a source is one field here, one collect function in collector.go and its
// descriptors in names.go.
type Sources struct {
	// Recovering reports whether storage is still being recovered at start-up. While
	// it is, hardneg_recovering is 1 and Collections is not read: no collection
	// metrics are exported rather than a misleading zero count.
	Recovering func() bool
	// Collections returns the statistics of every collection.
	Collections func() []CollectionStats
	// Ingest returns cumulative write counters.
	Ingest func() IngestStats
	// Backups returns the counters of Backup and Restore.
	Backups func() BackupStats
	// Mining returns cumulative mining counters and score histograms.
	Mining func() mining.Stats
	// Calibration returns each collection's mining score statistics.
	Calibration func() []CollectionCalibration
	// Durability returns write-ahead-log, snapshot and recovery statistics. The
	// storage layer fills a DurabilityStats; the server wires it here.
	Durability func() DurabilityStats
	// Volume returns the size and free space of the data directory's file system.
	Volume func() (VolumeStats, error)
	// Limits returns the in-flight request limiter's state.
	Limits func() LimitStats
	// TLS returns the serving certificate's state; ok is false without TLS.
	TLS func() (stats TLSStats, ok bool)
	// TokenFile returns the bearer-token file's reload counters; ok is false without
	// -auth-token-file.
	TokenFile func() (stats ReloadStats, ok bool)
	// Remote returns the retry counters of an engine that calls a remote store (the
	// Weaviate engine); nil for the embedded engine.
	Remote func() RemoteStats
	// LoopState returns the counters of the saver of training-loop state; nil when
	// the engine does not keep it (engine.LoopStateStore).
	LoopState func() LoopStateStats
	// Loop returns each collection's training-loop statistics (item versions,
	// exposure). Not read while Recovering. O(items) per collection.
	Loop func() []CollectionLoop
}

// CollectionCalibration names one collection's mining score statistics.
type CollectionCalibration struct {
	Name  string
	Stats mining.CalibrationStats
}

// CollectionStats names one collection's statistics.
type CollectionStats struct {
	Name  string
	Stats engine.Stats
	// UnsnapshottedBytes and UnsnapshottedSince are index.Collection.Unsnapshotted:
	// log bytes not in a snapshot and the time of the oldest such write (zero when
	// none).
	UnsnapshottedBytes int64
	UnsnapshottedSince time.Time
}

// IngestStats are cumulative write counters. Items counts items of upsert batches,
// Bytes their vector payload in bytes, both by result.
type IngestStats struct {
	Items, Bytes IngestResults
	// Deleted counts ids removed by deletes; DeleteNotFound ids that were not present.
	Deleted, DeleteNotFound uint64
}

// BackupStats count the Backup and Restore RPCs, per collection backed up or restored.
type BackupStats struct {
	Backup, Restore BackupOpStats
}

// BackupOpStats are one operation's counters: collections finished (OK) and failed
// (Errors), bytes moved so far (updated per chunk, so a long transfer shows progress)
// and transfers running now.
type BackupOpStats struct {
	OK, Errors, Bytes uint64
	InProgress        int64
}

// IngestResults splits an ingest counter by result: inserted (new id), replaced
// (existing id overwritten), duplicate (a stream batch acknowledged earlier and
// replayed by its writer, not applied again) and rejected (the batch failed
// validation; nothing of it was applied).
type IngestResults struct {
	Inserted, Replaced, Duplicate, Rejected uint64
}

// Histogram is a cumulative histogram snapshot: Counts[i] observations were ≤
// Bounds[i]; Count and Sum cover every observation, including those above the last
// bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// DurabilityStats are the storage layer's cumulative durability statistics.
type DurabilityStats struct {
	// WALFsyncSeconds is the histogram of write-ahead-log fsync durations.
	WALFsyncSeconds Histogram
	// WALWrittenBytes and WALRecords count what was appended to the log.
	WALWrittenBytes, WALRecords uint64
	// WALSizeBytes is the current size of the log on disk.
	WALSizeBytes int64
	// SnapshotSeconds is the histogram of snapshot durations (successful ones).
	SnapshotSeconds Histogram
	// Snapshots and SnapshotFailures count finished and failed snapshots.
	Snapshots, SnapshotFailures uint64
	// LastSnapshotSuccess is when the newest snapshot on disk was completed
	// (including one found at startup); zero when there is none.
	LastSnapshotSuccess time.Time
	// RecoveryTruncatedBytes counts bytes of torn or corrupt log tail cut off during
	// recovery since start.
	RecoveryTruncatedBytes uint64
	// RecoverySeconds is how long the last startup recovery took.
	RecoverySeconds float64
	// StreamWriters is how many stream writers have a position stored;
	// StreamWritersExpired counts those forgotten after their time-to-live.
	StreamWriters        int
	StreamWritersExpired uint64
}

// VolumeStats describe the file system holding the data directory.
type VolumeStats struct {
	SizeBytes, AvailableBytes uint64
}

// RemoteStats count the retries of calls to a remote store: Retries the attempts after
// a transient failure, GaveUp the calls that still failed when the retry time ran out;
// and StreamWritersExpired the stream writer positions this process deleted from the
// store after their time-to-live (exported when HasWriterTTL).
type RemoteStats struct {
	Retries, GaveUp      uint64
	StreamWritersExpired uint64
	HasWriterTTL         bool
}

// LoopStateStats count the saves of collections' training-loop state: Saved and
// Failed per collection saved, LastRound when a round last saved every changed
// collection without an error (zero before one has).
type LoopStateStats struct {
	Saved, Failed uint64
	LastRound     time.Time
}

// LimitStats describe the per-client in-flight request limiter.
type LimitStats struct {
	// InFlight is the number of requests (and open streams) being served.
	InFlight int64
	// Rejected counts requests refused with RESOURCE_EXHAUSTED.
	Rejected uint64
}

// TLSStats describe the serving certificate.
type TLSStats struct {
	// NotAfter is the expiry of the certificate currently served.
	NotAfter time.Time
	// Reloads counts certificate reloads after a file changed; ReloadErrors reloads
	// that failed (the previous certificate stays in use).
	Reloads, ReloadErrors uint64
}

// ReloadStats count the reloads of a watched file.
type ReloadStats struct {
	// Reloads counts reloads after the file changed; ReloadErrors the reloads that
	// failed (the previous contents stay in use).
	Reloads, ReloadErrors uint64
	// Failing is true while the file on disk does not load.
	Failing bool
}

// BuildInfo labels hardneg_build_info.
type BuildInfo struct {
	Version, Revision, GoVersion string
}
