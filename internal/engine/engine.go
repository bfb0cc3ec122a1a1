package engine

import (
	"context"
	"io"
	"time"
)

// Engine is what the service needs from the whole store: the collection table, the
// writes, stream writer positions and false-negative verdicts. The embedded index
// (*index.DB) implements it; see the package documentation for what every
// implementation guarantees.
type Engine interface {
	// Recover brings the engine to the state of its last acknowledged write (the
	// embedded engine: loads snapshots and replays its log). Until it returns, lookups
	// fail with ErrRecovering. It is called once, before serving.
	Recover() error
	// Failed is closed once the engine can no longer make writes durable (writes then
	// fail with ErrStorageFailed); the process should exit. A nil channel never fires.
	Failed() <-chan struct{}
	// Close releases the engine; later calls fail with ErrClosed.
	Close() error

	// CreateCollection creates a collection; cfg is checked with Config.Validate.
	CreateCollection(cfg Config) (Collection, error)
	// Collection returns the named collection or ErrCollectionNotFound. It returns the
	// same value for the same collection until it is deleted, so a caller may key
	// per-collection state by it.
	Collection(name string) (Collection, error)
	// Collections returns every collection, ordered by name.
	Collections() []Collection
	// DeleteCollection removes a collection with its items and verdicts.
	DeleteCollection(name string) error

	// Upsert validates b (prefix is its field path in the request) and writes it: all
	// of it or nothing. It returns once the write is durable.
	Upsert(name string, b *Batch, prefix string) (UpsertResult, error)
	// Delete removes ids (field is their path in the request); it returns once the
	// delete is durable.
	Delete(name string, ids []string, field string) (DeleteResult, error)
	// StreamAppend applies one batch of a stream writer: b (nil for none) and then
	// deletes, under the writer's sequence seq. A sequence at or below the writer's
	// last applied one is a duplicate and is skipped; one above it plus one fails with
	// ErrSequenceGap. It does not wait for durability: the result's LSN becomes
	// durable later (WaitLogged, DurableLSN).
	StreamAppend(writer string, seq uint64, name string, b *Batch, deletes []string) (StreamResult, error)
	// WaitLogged blocks until the write with sequence number lsn is durable at the
	// engine's stated level, or ctx ends.
	WaitLogged(ctx context.Context, lsn uint64) error
	// DurableLSN is the highest write sequence number known durable; every write
	// numbered at or below it is durable.
	DurableLSN() uint64
	// ReportFalseNegatives records verdicts (validated with ValidateFalseNegatives,
	// field being their path in the request) and returns how many (key, id) pairs were
	// new, once they are durable.
	ReportFalseNegatives(name string, reports []FalseNegativeReport, field string) (int, error)
}

// Collection is what mining and the service need from one collection. Reads see
// every write acknowledged before they started.
type Collection interface {
	// Name, Dim, Metric, Params and Config describe the collection; Params has its
	// defaults filled in.
	Name() string
	Dim() int
	Metric() Metric
	Params() Params
	Config() Config
	// Stats returns the collection's counters; fields an engine cannot know are zero.
	Stats() Stats

	// PrepareQuery validates a raw vector (field names it in errors) and returns it
	// ready for scoring: a copy, normalised under cosine.
	PrepareQuery(v []float32, field string) ([]float32, error)
	// Similarity scores two prepared vectors (higher is more similar), exactly as
	// Search scores candidates.
	Similarity(a, b []float32) float32
	// Search streams candidates best-first for a prepared query; see SearchOptions and
	// the package documentation for the order and the skip contract.
	Search(ctx context.Context, q []float32, opts SearchOptions, yield func(Candidate) bool) (SearchStats, error)
	// ScoreExact scores several prepared queries against every item in one pass, when
	// the collection is currently searched exactly, and reports whether it did; an
	// engine that cannot returns false and mining searches each query on its own.
	ScoreExact(qs [][]float32, out []ExactScores) bool
	// Resolve calls fn with a lookup function valid only during the call, reading the
	// items consistently with each other.
	Resolve(fn func(lookup LookupFunc))
	// Get returns the items with the given ids in order, and the ids that are missing.
	Get(ids []string, withVectors bool) (items []Item, missing []string)

	// FalseNegatives returns the ids reported as false negatives for an anchor key (a
	// copy the caller may keep), or nil.
	FalseNegatives(key string) map[string]struct{}
	// ClaimGuideRole records that the collection is about to be mined with guide rules
	// (asGuide false) or looked up as another collection's guide (asGuide true) and
	// fails with ErrGuideRole when it is in the other role. release ends the claim;
	// used says whether the request got as far as searching (a used role is kept).
	ClaimGuideRole(asGuide bool) (release func(used bool), err error)

	// NewestVersion returns the largest version stamp of a live item, 0 when empty.
	NewestVersion() int64
	// RangeVersions calls fn with every live item's id and version until it returns
	// false.
	RangeVersions(fn func(id string, version int64) bool)
	// VersionStats summarises the live items' version stamps for metrics.
	VersionStats() VersionStats
	// Versions summarises the version stamps, listing the limit newest.
	Versions(limit int) VersionSummary
}

// Storage is implemented by an engine that keeps its data in a local directory (the
// embedded index): snapshots, log statistics and the recovery report exist only
// there. The service checks for it with a type assertion; without it,
// SnapshotCollection fails with ErrUnsupported and the storage metrics are absent.
// Salvage of a damaged log is an option of opening such an engine.
type Storage interface {
	// Dir is the data directory.
	Dir() string
	// Snapshot writes a snapshot of the named collection now.
	Snapshot(ctx context.Context, name string) (SnapshotInfo, error)
	// SnapshotChanged snapshots every collection changed since its last snapshot
	// until ctx ends; it returns how many it wrote and how many changed ones it left.
	SnapshotChanged(ctx context.Context) (written, left int, err error)
	// DurabilityStats returns the log and snapshot statistics.
	DurabilityStats() DurabilityStats
	// Recovery describes what recovery found on disk and did about it.
	Recovery() Recovery
}

// LoopStateStore is implemented by an engine that can keep a small opaque blob per
// collection across restarts for the service's training-loop state (rotation,
// exposure counts, closed-loop hardness, calibration): the embedded index, in one file
// per collection under state/, and the Weaviate engine, in objects of its PrefixLoop
// collection (SharedLoopStateStore). The blob belongs to one incarnation of the collection:
// after the collection is deleted, or created or restored again under its name, the
// old blob is gone. Without it that state lives in memory only.
type LoopStateStore interface {
	// SaveLoopState replaces c's blob durably. It fails with ErrCollectionNotFound
	// when c is no longer the collection of its name.
	SaveLoopState(c Collection, data []byte) error
	// LoadLoopState returns c's blob, nil when none was saved for this incarnation;
	// an error when the blob is damaged.
	LoadLoopState(c Collection) ([]byte, error)
}

// SharedLoopStateStore is implemented by an engine that several miners serve at once
// (the Weaviate engine): each miner saves its own blob per collection (SaveLoopState
// replaces this miner's), LoadLoopState returns this miner's blob, and LoadLoopStates
// returns the blob of every miner that saved one for this incarnation of c, oldest
// save first, for the service to merge (mining.MergeLoopStates). A blob a miner loaded
// may be removed by the engine once that miner has saved a state that absorbed it.
type SharedLoopStateStore interface {
	LoopStateStore
	LoadLoopStates(c Collection) ([][]byte, error)
}

// DeferredUpserter is implemented by an engine that can acknowledge a write before it
// is durable (the embedded index: once the batch is in the operating system, without
// waiting for the log's fsync). A later durable write (or the log's interval sync)
// covers it; bulk uploads send every batch but the last this way. Without it the
// service makes every upsert durable.
type DeferredUpserter interface {
	UpsertDeferred(name string, b *Batch, prefix string) (UpsertResult, error)
}

// ContextStreamAppender is implemented by an engine whose StreamAppend calls a remote
// store (the Weaviate engine): StreamAppendContext is StreamAppend bounded by ctx, so a
// batch of a stream whose client has gone is not applied (or retried) after the
// writer may have resumed elsewhere. The service passes the stream's context.
type ContextStreamAppender interface {
	StreamAppendContext(ctx context.Context, writer string, seq uint64, name string, b *Batch, deletes []string) (StreamResult, error)
}

// Retrier is implemented by an engine that calls a remote store and retries its
// transient failures (the Weaviate engine): RetryStats counts the attempts repeated and
// the calls that still failed when the retry time ran out. The server exports them.
type Retrier interface {
	RetryStats() (retries, gaveUp uint64)
}

// WriterExpirer is implemented by a remote engine that forgets stream writers after a
// time without a batch (the Weaviate engine; the embedded one reports it in its
// DurabilityStats): StreamWritersExpired counts the writers this process forgot.
type WriterExpirer interface {
	StreamWritersExpired() uint64
}

// Backups is implemented by an engine that can copy one collection out as a single
// consistent encoding and create a collection from such a copy (the embedded index:
// its snapshot encoding). The service checks for it with a type assertion; without
// it, ListSnapshots, Backup and Restore fail with ErrUnsupported.
type Backups interface {
	// ListSnapshots describes the snapshot files of the named collection (every
	// collection's if name is empty), by collection and newest first.
	ListSnapshots(name string) ([]SnapshotFileInfo, error)
	// Backup copies the named collection as of now. Writers to it wait while it is
	// encoded; searches go on. The caller must Close the result.
	Backup(ctx context.Context, name string) (*Backup, error)
	// Restore reads a backup's encoding from r, verifies it against src completely
	// (ErrBackupInvalid, ErrBackupDamaged) and only then creates the collection name
	// from it (empty: the name it was backed up under). The target must not exist or
	// must be empty (ErrCollectionNotEmpty). The collection is durable when Restore
	// returns. progress, if not nil, is called with the bytes received so far.
	Restore(ctx context.Context, r io.Reader, src RestoreSource, name string, progress func(int64)) (RestoreResult, error)
}

// StoredCollection is implemented by the collections of a Storage engine.
type StoredCollection interface {
	// Unsnapshotted reports the log bytes written for the collection since its last
	// snapshot and when the oldest of them was written; both zero when none.
	Unsnapshotted() (bytes int64, since time.Time)
}
