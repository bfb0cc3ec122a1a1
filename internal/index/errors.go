package index

import "errors"

// ErrDataMissing is returned by Open when snapshots and the write-ahead log together
// no longer hold every acknowledged write (Options.Salvage starts anyway). Open also
// fails with storage.ErrDataDirLocked when another process uses the data directory;
// the errors every engine returns are in package engine.
var ErrDataMissing = errors.New("stored data incomplete")
