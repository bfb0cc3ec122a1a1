package wal

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

var errInjected = errors.New("injected fault")

// testFS wraps the real filesystem, counts operations and fails them on
// request. Hooks run with no lock held.
type testFS struct {
	// inner is the filesystem wrapped; nil means OSFS.
	inner FS

	fileSyncs atomic.Int64
	dirSyncs  atomic.Int64
	writes    atomic.Int64

	// skipSync makes Sync and SyncDir return at once (fast tests that do
	// not depend on real durability).
	skipSync bool

	mu sync.Mutex // guards the hooks below
	// onSync, if set, runs before every file Sync; a non-nil error fails it.
	onSync func(name string) error
	// onWrite, if set, runs before every file Write.
	onWrite func(name string) error
	// onRename, if set, runs before every Rename.
	onRename func(oldpath, newpath string) error
	// onOpen, if set, runs before every OpenFile.
	onOpen func(name string, flag int) error
}

func (t *testFS) base() FS {
	if t.inner == nil {
		return OSFS{}
	}
	return t.inner
}

func (t *testFS) Remove(name string) error                    { return t.base().Remove(name) }
func (t *testFS) ReadDir(dir string) ([]os.DirEntry, error)   { return t.base().ReadDir(dir) }
func (t *testFS) MkdirAll(dir string, perm os.FileMode) error { return t.base().MkdirAll(dir, perm) }

func (t *testFS) hooks() (func(string) error, func(string) error, func(string, string) error, func(string, int) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.onSync, t.onWrite, t.onRename, t.onOpen
}

func (t *testFS) setSync(h func(string) error) {
	t.mu.Lock()
	t.onSync = h
	t.mu.Unlock()
}

func (t *testFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if _, _, _, h := t.hooks(); h != nil {
		if err := h(name, flag); err != nil {
			return nil, err
		}
	}
	f, err := t.base().OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &testFile{File: f, fs: t, name: filepath.Base(name)}, nil
}

func (t *testFS) Rename(oldpath, newpath string) error {
	if _, _, h, _ := t.hooks(); h != nil {
		if err := h(oldpath, newpath); err != nil {
			return err
		}
	}
	return t.base().Rename(oldpath, newpath)
}

func (t *testFS) SyncDir(dir string) error {
	t.dirSyncs.Add(1)
	if t.skipSync {
		return nil
	}
	return t.base().SyncDir(dir)
}

type testFile struct {
	File
	fs   *testFS
	name string
}

func (f *testFile) Write(p []byte) (int, error) {
	if _, h, _, _ := f.fs.hooks(); h != nil {
		if err := h(f.name); err != nil {
			return 0, err
		}
	}
	f.fs.writes.Add(1)
	return f.File.Write(p)
}

func (f *testFile) Sync() error {
	if h, _, _, _ := f.fs.hooks(); h != nil {
		if err := h(f.name); err != nil {
			return err
		}
	}
	f.fs.fileSyncs.Add(1)
	if f.fs.skipSync {
		return nil
	}
	return f.File.Sync()
}
