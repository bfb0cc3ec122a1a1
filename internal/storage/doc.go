// Package storage is the embedded engine's file layer and the storage formats that do
// not depend on its in-memory structures:
//
//   - dir.go: the data directory (Dir): its lock, the write-ahead log's location,
//     snapshot file naming, listing, atomic writing, reading, setting aside and
//     removal. Package index does no file I/O of its own: it goes through a Dir and
//     through the log (package wal) the Dir opens.
//   - record.go: the write-ahead log record codec, one record per change (collection
//     created or dropped, upsert, delete, stream batch with its writer and sequence,
//     false-negative reports) and its limits.
//
// The log's framing and segments are package wal's; the checksum and primitive
// encodings package binfmt's. The snapshot body (slots, vectors, graph) is encoded
// and decoded by package index, which owns those structures.
package storage
