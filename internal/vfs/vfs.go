// Package vfs declares the filesystem the write-ahead log, snapshots and the data
// directory's lock go through: FS and File, with OSFS the operating system's. It
// imports nothing of hardneg, so that an in-memory implementation for tests
// (internal/crashfs) can serve package wal's own tests as well as its users'.
// Package wal re-exports the three types under the same names.
package vfs

import (
	"io"
	"os"
)

// FS is a filesystem as the log, snapshots and the data directory use it. OSFS is
// the real one; tests wrap it to count or fail operations, or use crashfs.FS.
type FS interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Rename renames a file like os.Rename.
	Rename(oldpath, newpath string) error
	// Remove removes a file like os.Remove.
	Remove(name string) error
	// ReadDir lists a directory like os.ReadDir.
	ReadDir(dir string) ([]os.DirEntry, error)
	// MkdirAll creates a directory and its parents like os.MkdirAll.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the directory's entries (created, renamed and removed
	// files) durable.
	SyncDir(dir string) error
}

// File is an open file of an FS. *os.File implements it.
type File interface {
	io.Reader
	io.Writer
	io.Closer
	// Sync makes the file's data and size durable (fsync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
}

// OSFS is the operating system's filesystem.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile calls os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename calls os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// SyncDir opens dir and fsyncs it.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
