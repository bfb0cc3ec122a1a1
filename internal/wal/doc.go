// Package wal is hardneg's write-ahead log: an append-only sequence of
// checksummed records, each named by a log sequence number (LSN), kept in
// segment files in one directory.
//
// # On-disk format
//
// A segment is named wal-<first LSN, 20 decimal digits>.log. It starts with a
// 24-byte header, all integers little-endian:
//
//	magic "HNWL" | version uint32 (1) | first LSN uint64 | reserved uint32 (0) | CRC32C of the previous 20 bytes
//
// followed by records:
//
//	length uint32 | CRC32C uint32 | LSN uint64 | payload (length bytes)
//
// The CRC32C (Castagnoli) covers the payload followed by the 8 LSN bytes, so a
// record moved to another position or given another LSN does not verify.
// Lengths are checked against Options.MaxRecordSize before anything is
// allocated. LSNs start at 1 and are consecutive across segments.
//
// # Durability
//
// Append assigns an LSN and queues the record; a single flusher goroutine
// writes everything queued in one write and covers it with one fsync (group
// commit). With SyncAlways (the default) Write returns once its record is
// fsynced. With SyncInterval Write returns once its record is handed to the
// operating system and a background fsync runs every Options.SyncInterval;
// DurableLSN and WaitDurable tell which records survive a power failure.
//
// A failed write or fsync is fatal: the Log enters a failed state, every
// pending and later call returns an error wrapping ErrFailed, and nothing is
// ever reported durable that the failed fsync should have covered. The owner
// is expected to exit and recover from disk; the log never retries, because
// after a failed fsync the kernel may have dropped the dirty pages.
//
// # Recovery
//
// Open scans every segment. Damage in the last segment — a torn write from a
// crash — is truncated away and described in Recovery. Damage in any earlier
// segment (bad checksum, bad length, missing or out-of-sequence LSNs) makes
// Open fail with a *CorruptError wrapping ErrCorrupt that names the file and
// offset, unless Options.Salvage is set, in which case the log is cut at the
// damage and the loss is reported. Replay then hands every record from a
// given LSN to a callback; TruncateBefore deletes segments a durable snapshot
// has made unnecessary.
//
// All file access goes through the FS interface (OSFS by default) so tests can
// inject failing fsyncs and renames. WriteFileAtomic uses the same interface
// for snapshot files: temp file, fsync, rename, fsync of the directory.
package wal
