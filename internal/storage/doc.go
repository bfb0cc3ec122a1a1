// Package storage is the embedded engine's file layer and its storage formats:
//
//   - dir.go: the data directory (Dir): its lock, the write-ahead log's location,
//     snapshot file naming, listing, atomic writing, reading, setting aside and
//     removal. Package index does no file I/O of its own: it goes through a Dir and
//     through the log (package wal) the Dir opens.
//   - record.go: the write-ahead log record codec, one record per change (collection
//     created or dropped, upsert, delete, stream batch with its writer and sequence,
//     false-negative reports) and its limits.
//   - snapshot.go: the snapshot format, its encoder and its decoder (split into one
//     step per section), and the writer table entry (WriterState) snapshots carry.
//     The collection's content reaches them through SnapshotSource and
//     SnapshotSink, which package index implements; the HNSW graph inside a snapshot
//     is package hnsw's format.
//
// The log's framing and segments are package wal's; the checksum and primitive
// encodings package binfmt's. Package storage does not import package index: index
// calls it to lay out and read its data directory.
package storage
