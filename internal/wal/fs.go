package wal

import "github.com/hardneg/hardneg/internal/vfs"

// FS is the filesystem the log and atomic file writes use (see vfs.FS); tests wrap
// it to count or fail operations, or use the in-memory internal/crashfs.
type FS = vfs.FS

// File is an open file of an FS (see vfs.File). *os.File implements it.
type File = vfs.File

// OSFS is the operating system's filesystem (see vfs.OSFS).
type OSFS = vfs.OSFS
