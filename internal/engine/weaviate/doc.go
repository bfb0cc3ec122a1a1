// Package weaviate is the scale-out engine: it implements engine.Engine and
// engine.Collection on a Weaviate cluster, so that miner-servers keep no state of their
// own (`miner-server -backend weaviate`, docs/SCALE.md).
//
// Mapping. A hardneg collection is a Weaviate collection named Prefix_<name> (see
// className) whose description holds the hardneg configuration (dim, metric, index
// parameters); its HNSW index gets the collection's M, ef_construction and ef_search
// and the metric's distance (cosine, dot, l2-squared), and the engine's replication
// factor and shard count. An item is an object whose UUID is derived from (collection,
// id) (UUIDv5), so an upsert replaces it in place; the id, groups and version are
// filterable properties (hid, groups, version). Stream writer positions and
// false-negative verdicts are objects of one more collection, PrefixMeta; each miner's
// training-loop state (engine.SharedLoopStateStore) is saved in parts, per collection
// incarnation and miner name (Options.Miner), as objects of PrefixLoop (loopstate.go).
//
// Consistency. Every write (Upsert, Delete, UpsertStream batches, writer positions,
// verdicts, loop state) is acknowledged only once Weaviate reports it written at the configured
// consistency level (QUORUM by default); reads ask for the same level.
//
// Calls. A Mine request reads its anchors' items, positives, exclusions and verdicts
// up front in a few calls (Collection.ForRequest), then costs one nearVector page per
// anchor and widening; Engine.Calls counts the calls made.
//
// Scores. Weaviate orders candidates by its distance; Search re-scores each one
// exactly from its returned vector with the same similarity as the embedded engine,
// so every score a rule compares is exact. Exclusions are pushed into Weaviate's
// filter (see Collection.Search).
//
// What Weaviate cannot do here: snapshots and write-ahead-log statistics belong to
// the embedded engine (engine.Storage), and so do backups (engine.Backups), so the
// service answers SnapshotCollection, ListSnapshots, Backup and Restore with
// ErrUnsupported; an upsert's defer_durability has no effect (no
// engine.DeferredUpserter); the staleness histogram of the version metrics is empty; a search
// reaches at most 10,000 candidates per anchor (Weaviate's QUERY_MAXIMUM_RESULTS).
package weaviate
