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
package index
