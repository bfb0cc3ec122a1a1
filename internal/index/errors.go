package index

import (
	"errors"
)

// Errors of opening the embedded engine's data directory. The errors every engine
// returns are in package engine.
var (
	// ErrDataDirLocked is returned by Open when another process uses the data directory.
	ErrDataDirLocked = errors.New("data directory is locked by another process")
	// ErrDataMissing is returned by Open when snapshots and the write-ahead log
	// together no longer hold every acknowledged write (Options.Salvage starts
	// anyway).
	ErrDataMissing = errors.New("stored data incomplete")
)
