// Package storage holds the embedded engine's storage formats that do not depend on
// its in-memory structures: the write-ahead log record codec (record.go: one record
// per change — collection created or dropped, upsert, delete, stream batch with its
// writer and sequence, false-negative reports — and its limits). The log's framing and
// segments are package wal's; the checksum and primitive encodings package binfmt's.
// Package index (the embedded engine) encodes a record for every change and decodes
// them during recovery.
package storage
