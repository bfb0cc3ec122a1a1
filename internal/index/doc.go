// Package index owns the vectors of hardneg: collections, the mapping from the caller's
// string ids to dense slots, contiguous float32 storage, deletion, the exact (flat) scan
// that serves small collections and checks the approximate index, and the search stream
// that mining consumes.
//
// It is the embedded engine: *DB implements engine.Engine, engine.Storage,
// engine.Backups and engine.DeferredUpserter, and *Collection implements
// engine.Collection and engine.StoredCollection; the types they carry (Config, Batch,
// Candidate, SearchOptions, …), input validation and the errors the service maps are
// package engine's. A DB holds named collections. A Collection
// stores items (id, vector, groups, version) and answers Search with candidates
// best-first, calling a skip predicate so that the caller can exclude items while the
// search runs.
//
// Concurrency: a Collection's mu (an RWMutex) guards its id map, slot metadata and
// storage. Writers take it exclusively to apply a batch's metadata, so a batch is
// applied atomically with respect to readers; searches and lookups take it shared for
// their whole call. Its writeMu serialises writers and snapshots' captures, so a
// batch's graph insertions, made after mu is released while searches go on, finish
// before the next batch starts; a snapshot's file is written after the capture, while
// writes go on (frozenSnapshot). fbMu guards false-negative verdicts and compactedMu
// the slots that background compactions dropped. The DB's mu guards the collection
// table, streamMu orders stream batches, writersMu the stream writers' positions and
// snapMu snapshots and log truncation. The order in which these locks are taken is stated
// once, in lockorder.go; each lock's type names its rank, and a build with
// -tags lockorder checks the order on every Lock and RLock (make test runs the
// package's tests so).
//
// Slots and churn: every write of an id takes a slot (a row of vector storage and a
// graph node); the slot of a replaced or deleted item becomes a graph tombstone that
// keeps routing searches. Once tombstones exceed the graph's compaction ratio (10% by
// default) a background compaction relinks around them and drops them; the dropped
// slots join a free list (Stats.FreeSlots) and later writes reuse them before any new
// slot is allocated, overwriting the vector while the write lock excludes searches.
// So a corpus that is re-embedded again and again (every id upserted with a new
// vector) holds about its live items plus one compaction's worth of tombstones and
// free slots, not every vector it was ever given: Stats.Slots, and with it vector and
// graph memory, stays bounded. Its graph stays as good as a fresh one: under cosine
// and L2, a compaction's repairs choose links with the relaxed heuristic
// (hnsw.Graph.UseSpace, hnsw.DefaultPruneAlpha), which keeps the links that join one
// region of the corpus to another when the nodes that held them are replaced; dot
// product collections (vectors of any length) repair with the plain heuristic.
// Storage never shrinks: a collection shrunk by deletes
// keeps its peak slot count, also across restarts (a snapshot keeps the slot numbering
// and the graph's dropped nodes, from which loading rebuilds the free list), and fills
// its free slots before growing again.
//
// Graph codes: a cosine or dot collection with quantization int8 (the default for
// those metrics) keeps each slot's int8 code (vec.Int8Codes) next to its vector,
// written with it, and its graph searches and inserts walk on the codes and re-score
// their beams with the floats (hnsw.Graph.UseCodes); a search's beam is re-scored only
// as far as its caller reads it (hnsw.Graph.SearchOrdered). A code is a function of its vector
// alone, so codes are never logged or snapshotted: replay writes them with the vectors
// and a loaded snapshot re-encodes every slot before its graph is read (store.go).
//
// Persistence: every change (collection created or deleted, upsert, delete, stream
// batch with its writer id and sequence, false-negative reports) is one record of the write-ahead log in
// dir/wal (package wal), appended while the collection's locks are held so that the
// log order is the order applied in memory, and acknowledged once the log's fsync
// policy says so (db.go; the record format is package storage's). Snapshots in dir/snapshots hold a collection's slots,
// vectors, metadata, HNSW graph and the stream writers' positions as of an LSN
// (snapshot.go; the format and the data directory are package storage's); the log is truncated below what the kept snapshots need. Open
// recovers: temporary files removed, the newest snapshot that verifies loaded, the log
// replayed on top, a torn log tail cut and reported (recover.go).
package index
