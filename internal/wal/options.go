package wal

import (
	"fmt"
	"time"
)

// SyncPolicy says when Write returns relative to fsync.
type SyncPolicy int

const (
	// SyncAlways makes Write return only after an fsync covers the record.
	// Concurrent writers share fsyncs (group commit). The default.
	SyncAlways SyncPolicy = iota
	// SyncInterval makes Write return once the record is written to the
	// operating system; a background fsync runs every Options.SyncInterval.
	// A power failure can lose records above DurableLSN; a process crash
	// cannot.
	SyncInterval
)

// String returns "always" or "interval".
func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	default:
		return fmt.Sprintf("SyncPolicy(%d)", int(p))
	}
}

// Defaults applied to zero fields of Options.
const (
	DefaultSyncInterval  = 50 * time.Millisecond
	DefaultSegmentSize   = 64 << 20
	DefaultMaxRecordSize = 64 << 20

	// MaxRecordSizeLimit is the largest accepted Options.MaxRecordSize.
	MaxRecordSizeLimit = 1 << 30
)

// Options configures a Log. The zero value means defaults.
type Options struct {
	// FS is the filesystem the log lives on. Default OSFS{}.
	FS FS
	// Sync is the fsync policy. Default SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the period of the background fsync under
	// SyncInterval; ignored under SyncAlways. Default 50ms. Longer means
	// fewer fsyncs and more records at risk from a power failure.
	SyncInterval time.Duration
	// SegmentSize in bytes is the size after which the log starts a new
	// segment file. TruncateBefore deletes whole segments, so smaller
	// segments free disk sooner after a snapshot at the cost of more files.
	// A record larger than SegmentSize gets a segment of its own.
	// Default 64 MiB; minimum 4 KiB.
	SegmentSize int64
	// MaxRecordSize in bytes bounds one payload. Append refuses larger
	// payloads, and recovery treats a larger length field as damage before
	// allocating anything. Default 64 MiB; at most 1 GiB.
	MaxRecordSize int
	// Salvage makes Open keep the log's longest valid prefix when it finds
	// damage other than a torn tail, instead of failing with ErrCorrupt.
	// Everything after the damage leaves the log, moved into SalvageDir (not
	// deleted), and is reported in Recovery.
	Salvage bool
}

const minSegmentSize = 4 << 10

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	switch o.Sync {
	case SyncAlways, SyncInterval:
	default:
		return o, fmt.Errorf("%w: unknown sync policy %d", ErrInvalidOptions, int(o.Sync))
	}
	if o.SyncInterval < 0 {
		return o, fmt.Errorf("%w: negative sync interval %v", ErrInvalidOptions, o.SyncInterval)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.SegmentSize < 0 || (o.SegmentSize > 0 && o.SegmentSize < minSegmentSize) {
		return o, fmt.Errorf("%w: segment size %d below %d bytes", ErrInvalidOptions, o.SegmentSize, minSegmentSize)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MaxRecordSize < 0 || o.MaxRecordSize > MaxRecordSizeLimit {
		return o, fmt.Errorf("%w: max record size %d outside [0, %d]", ErrInvalidOptions, o.MaxRecordSize, MaxRecordSizeLimit)
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	return o, nil
}
