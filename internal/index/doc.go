// Package index owns the vectors of hardneg: collections, the mapping from the caller's
// string ids to dense slots, contiguous float32 storage, deletion, the exact (flat) scan
// that serves small collections and checks the approximate index, and the search stream
// that mining consumes.
//
// A DB holds named collections. A Collection stores items (id, vector, groups, version)
// and answers Search with candidates best-first, calling a skip predicate so that the
// caller can exclude items while the search runs.
//
// Concurrency: every Collection owns one RWMutex guarding its id map, slot metadata and
// storage. Writers take it exclusively for a whole batch, so a batch is applied
// atomically with respect to readers; searches and lookups take it shared.
//
// Persistence: every change (collection created or deleted, upsert, delete, stream
// batch with its writer id and sequence) is one record of the write-ahead log in
// dir/wal (package wal), appended while the collection's locks are held so that the
// log order is the order applied in memory, and acknowledged once the log's fsync
// policy says so (persist.go). Snapshots in dir/snapshots hold a collection's slots,
// vectors, metadata, HNSW graph and the stream writers' positions as of an LSN
// (snapshot.go); the log is truncated below what the kept snapshots need. Open
// recovers: temporary files removed, the newest snapshot that verifies loaded, the log
// replayed on top, a torn log tail cut and reported (recover.go).
package index
