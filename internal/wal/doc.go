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
// Open scans every segment. A crash can leave only one kind of damage: a torn
// tail, the end of the last segment cut or garbled while it was appended. So
// damage in the last segment is cut away (and described in Recovery) only
// when nothing valid follows it: Open scans the rest of the segment for any
// record that verifies (length within Options.MaxRecordSize and inside the
// file, checksum matching, an LSN at or above the one the damaged record
// should carry) and, finding one, treats the damage as corruption. A segment
// header is fsynced before any record is appended, so a damaged header is
// torn only in a segment that holds nothing else (shorter than a header, or a
// header's size of zeros) and that NewestFile does not name yet: the file
// names the newest segment once its header is durable, which also reveals a
// newest segment that is gone. Everything else — damage with valid records
// after it, a damaged header, damage in an earlier segment, missing segments
// (the newest included), LSNs out of sequence, a NewestFile that names no
// segment — makes Open fail with a *CorruptError wrapping ErrCorrupt that
// names the file and offset, and leaves the files untouched.
//
// With Options.Salvage Open keeps the longest valid prefix instead and moves
// everything after it into the SalvageDir folder of the log directory: the cut
// part of the damaged segment as <segment name>.<offset> (made durable before
// the segment is cut), later segments whole under their own names (a name
// already taken gets a ".<n>" suffix). Nothing is deleted; Recovery lists the
// files. A torn tail is copied there the same way before it is cut: a crash
// leaves only an unacknowledged record in it, but the end of the log damaged
// on disk cannot be told apart from a tear, and the copy keeps those bytes. A
// copy that cannot be written (a full volume) does not stop the cut
// (Truncation.SaveError).
//
// Replay then hands every record from a given LSN to a callback;
// TruncateBefore deletes segments a durable snapshot has made unnecessary.
//
// All file access goes through the FS interface (OSFS by default) so tests can
// inject failing fsyncs and renames. WriteFileAtomic uses the same interface
// for snapshot files: temp file, fsync, rename, fsync of the directory.
package wal
