package wal

import (
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// memFS is an in-memory FS for tests that open thousands of logs. It models
// a filesystem that never loses anything: Sync and SyncDir do nothing.
type memFS struct {
	mu    sync.Mutex // guards files and dirs
	files map[string]*memData
	dirs  map[string]bool
}

type memData struct {
	mu sync.Mutex // guards b
	b  []byte
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memData{}, dirs: map[string]bool{"/": true}}
}

var _ FS = (*memFS)(nil)

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	case !ok:
		if !m.dirs[filepath.Dir(name)] {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		d = &memData{}
		m.files[name] = d
	}
	if flag&os.O_TRUNC != 0 {
		d.mu.Lock()
		d.b = nil
		d.mu.Unlock()
	}
	return &memFile{d: d, flag: flag}, nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[oldpath]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	delete(m.files, oldpath)
	m.files[newpath] = d
	return nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) ReadDir(dir string) ([]os.DirEntry, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	var out []os.DirEntry
	for name := range m.files {
		if filepath.Dir(name) == dir {
			out = append(out, memEntry{name: filepath.Base(name)})
		}
	}
	for name := range m.dirs {
		if name != dir && filepath.Dir(name) == dir {
			out = append(out, memEntry{name: filepath.Base(name), dir: true})
		}
	}
	slices.SortFunc(out, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (m *memFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(dir); !m.dirs[d]; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *memFS) SyncDir(string) error { return nil }

// writeFile and readFile are test conveniences.
func (m *memFS) writeFile(name string, b []byte) {
	m.MkdirAll(filepath.Dir(name), 0)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[filepath.Clean(name)] = &memData{b: slices.Clone(b)}
}

func (m *memFS) readFile(name string) ([]byte, bool) {
	m.mu.Lock()
	d, ok := m.files[filepath.Clean(name)]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.b), true
}

// clone copies every file under dir into a new memFS.
func (m *memFS) clone() *memFS {
	c := newMemFS()
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, d := range m.files {
		d.mu.Lock()
		c.files[name] = &memData{b: slices.Clone(d.b)}
		d.mu.Unlock()
	}
	return c
}

type memFile struct {
	d    *memData
	flag int
	pos  int64
}

func (f *memFile) Read(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.pos >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, os.ErrPermission
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.flag&os.O_APPEND != 0 {
		f.pos = int64(len(f.d.b))
	}
	if end := f.pos + int64(len(p)); end > int64(len(f.d.b)) {
		f.d.b = append(f.d.b, make([]byte, end-int64(len(f.d.b)))...)
	}
	copy(f.d.b[f.pos:], p)
	f.pos += int64(len(p))
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if size < int64(len(f.d.b)) {
		f.d.b = f.d.b[:size:size]
	} else {
		f.d.b = append(f.d.b, make([]byte, size-int64(len(f.d.b)))...)
	}
	return nil
}

func (f *memFile) Sync() error  { return nil }
func (f *memFile) Close() error { return nil }

type memEntry struct {
	name string
	dir  bool
}

func (e memEntry) Name() string { return e.name }
func (e memEntry) IsDir() bool  { return e.dir }
func (e memEntry) Type() iofs.FileMode {
	if e.dir {
		return iofs.ModeDir
	}
	return 0
}
func (e memEntry) Info() (iofs.FileInfo, error) { return memInfo(e), nil }

type memInfo memEntry

func (i memInfo) Name() string        { return i.name }
func (i memInfo) Size() int64         { return 0 }
func (i memInfo) Mode() iofs.FileMode { return memEntry(i).Type() }
func (i memInfo) ModTime() time.Time  { return time.Time{} }
func (i memInfo) IsDir() bool         { return i.dir }
func (i memInfo) Sys() any            { return nil }
