// Package engine is the boundary between hardneg's mining rules and service and the
// engine that holds the vectors: the interfaces Engine (the store) and Collection (one
// collection), the optional Storage and StoredCollection of an engine with a local
// data directory, the optional Backups (copy a collection out, create one from such a
// copy) and DeferredUpserter (acknowledge an upsert before it is durable), the types
// they carry (Config, Batch, Candidate, SearchOptions, …), the validation every engine
// applies to its input, and the errors the service maps to gRPC codes. Mining (package
// mining), the gRPC service, ingest, calibration, the inspector and the metrics see
// only this package; the embedded index (package index, *index.DB) is the default
// implementation and the reference, and is constructed only where the server is wired.
//
// What an engine guarantees:
//
//   - Durability. Upsert, Delete and ReportFalseNegatives return only once the write
//     is durable at the engine's stated level (the embedded engine: in its write-ahead
//     log under its fsync policy); DeferredUpserter.UpsertDeferred is the one write
//     that may return before, covered by the next durable write. StreamAppend returns
//     before durability too, with the write's sequence number (LSN); WaitLogged blocks
//     until it is durable and DurableLSN bounds every durable write from below, so a
//     stream acknowledges each batch only once it is durable. A write that fails is not applied at all: a batch is applied
//     whole or not at all, and validated first (ValidateBatch, ValidateIDs,
//     ValidateFalseNegatives, Config.Validate), with violations as a *validate.Error
//     naming the request field of the offending item.
//   - Visibility. A read (Search, Resolve, Get, Stats) sees every write acknowledged
//     before it started; Resolve's lookups see one state of the collection.
//   - Search order. Collection.Search yields candidates best-first (highest Score
//     first, ties by slot) within one pass; a widening pass may yield an item that
//     scores above one already yielded, but never yields an item twice. Rank is the
//     item's position among everything the search ordered, skipped items included.
//     SearchOptions.Skip is called at most once per item, before the item is
//     yielded; MaxCandidates bounds what is ordered. Scores are Similarity's, finite,
//     "higher is more similar" under every metric.
//   - Exact scores. When ScoreExact reports true, searching with
//     SearchOptions.Scores set to its output yields exactly what searching without it
//     would: the same items in the same order with the same scores, bit for bit. An
//     engine that cannot promise that returns false.
//   - Versions. Every item carries the version stamp it was written with (0 when
//     none); NewestVersion, RangeVersions, VersionStats and Versions read the live
//     items only, and mining's staleness rules compare against NewestVersion.
//   - Writer sequences. StreamAppend keeps, per writer id, the last applied sequence
//     and its LSN, durably with the batch: a replayed batch (sequence at or below it)
//     is reported Duplicate and not applied again, a gap fails with ErrSequenceGap,
//     so a client resumes after a disconnect without loss or duplicates.
//   - False-negative verdicts. ReportFalseNegatives keeps, per collection and anchor
//     key, the ids that are never again a negative of that anchor, durably; verdicts
//     are kept by id (they apply to items reported before they were inserted and
//     survive delete and re-insert) and FalseNegatives returns a copy.
//
// An engine without a local data directory omits Storage: the service then answers
// SnapshotCollection with ErrUnsupported (UNIMPLEMENTED) and exports no log, snapshot
// or volume metrics. One without Backups answers ListSnapshots, Backup and Restore the
// same way; one without DeferredUpserter makes every upsert durable before it is
// acknowledged.
package engine
