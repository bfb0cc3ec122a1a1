package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these; test
// with errors.Is.
var (
	// ErrFailed means a write or fsync failed. The Log refuses all further
	// work; the owner should exit and recover from disk.
	ErrFailed = errors.New("wal: log failed")
	// ErrClosed means the Log was closed.
	ErrClosed = errors.New("wal: log closed")
	// ErrCorrupt means the log is damaged in a way a crash cannot explain
	// (anything but a torn tail of the last segment). Open returns it as a
	// *CorruptError.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrTooLarge means a payload exceeds Options.MaxRecordSize.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrTruncated means Replay was asked for records that TruncateBefore
	// has already deleted.
	ErrTruncated = errors.New("wal: records truncated")
	// ErrUnknownLSN means a wait was asked for an LSN not yet appended.
	ErrUnknownLSN = errors.New("wal: lsn not appended")
	// ErrInvalidOptions means Options failed validation.
	ErrInvalidOptions = errors.New("wal: invalid options")
)

// CorruptError locates damage found while reading a segment.
type CorruptError struct {
	File   string // segment path
	Offset int64  // byte offset of the first damaged byte in File
	Reason string // what was wrong, e.g. "checksum mismatch"
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt log: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
