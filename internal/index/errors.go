package index

import "errors"

// Errors returned by the package. Validation failures are *validate.Error values.
var (
	// ErrCollectionNotFound is returned for a collection name that does not exist.
	ErrCollectionNotFound = errors.New("collection not found")
	// ErrCollectionExists is returned when creating a collection whose name is taken.
	ErrCollectionExists = errors.New("collection already exists")
	// ErrRecovering is returned for collection lookups before Recover has finished.
	ErrRecovering = errors.New("storage is recovering")
	// ErrClosed is returned by a DB after Close.
	ErrClosed = errors.New("index closed")
	// ErrDataDirLocked is returned by Open when another process uses the data directory.
	ErrDataDirLocked = errors.New("data directory is locked by another process")
	// ErrStorageFailed is returned once the write-ahead log has failed (a write or
	// fsync error). Nothing more is accepted; the process should exit and recover on
	// restart.
	ErrStorageFailed = errors.New("storage failed")
	// ErrDataMissing is returned by Open when snapshots and the write-ahead log
	// together no longer hold every acknowledged write (Options.Salvage starts
	// anyway).
	ErrDataMissing = errors.New("stored data incomplete")
	// ErrGuideRole is returned by ClaimGuideRole when a collection that served as a
	// guide is to be mined with guide rules, or the other way round.
	ErrGuideRole = errors.New("collection already used in the other guide role")
)
