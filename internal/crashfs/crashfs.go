// Package crashfs is an in-memory vfs.FS (wal.FS) for tests that keeps only what was made
// durable when a crash is simulated, the way a strict file system would after a power
// failure: file contents and sizes as of their last fsync (File.Sync), and the
// entries of a directory (created, renamed and removed files) as of its last
// SyncDir. Everything else is forgotten: a file created but never fsynced comes
// back empty, a file whose directory was not synced after its creation does not
// come back at all, a removal or rename not synced is undone.
//
// Directories themselves are durable once created (MkdirAll); only their entries
// for files follow the rules above.
//
// Until a crash is taken it is an ordinary file system that loses nothing, which is
// how most tests use it; Clone copies it, WriteFile and ReadFile set and read whole
// files.
//
// A crash is taken as a copy, so the code under test can go on running against the
// original (its later writes are lost to the copy, as they would be to a machine
// that lost power): Crash copies the durable state now; CrashAt arms a crash just
// before the n-th mutating operation (Write, Sync, Truncate, a creating or
// truncating OpenFile, Rename, Remove, SyncDir), which lets a seeded test place
// crashes inside snapshot writes and segment rotations and replay them exactly.
package crashfs

import (
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/vfs"
)

// FS is the in-memory file system. Its methods are safe for concurrent use.
type FS struct {
	mu      sync.Mutex // guards everything below and every inode
	dirs    map[string]*dir
	ops     int // mutating operations so far
	crashAt int // the operation before which Crashed is taken; 0: none
	crashed *FS // taken at crashAt
}

type dir struct {
	entries map[string]*inode // the current entries
	durable map[string]*inode // the entries as of the last SyncDir
}

type inode struct {
	data   []byte // current content
	synced []byte // content as of the last Sync
}

var _ vfs.FS = (*FS)(nil)

// New returns an empty file system holding the root directory.
func New() *FS {
	return &FS{dirs: map[string]*dir{"/": newDir()}}
}

func newDir() *dir {
	return &dir{entries: map[string]*inode{}, durable: map[string]*inode{}}
}

// Crash returns a new FS holding what would survive a crash now.
func (f *FS) Crash() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.durableCopy()
}

// CrashAt arms a crash just before the n-th mutating operation from now (n >= 1);
// Crashed returns it once taken.
func (f *FS) CrashAt(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAt, f.crashed = f.ops+n, nil
}

// Crashed returns the state taken by CrashAt, or nil while it has not been reached.
func (f *FS) Crashed() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// Ops returns the number of mutating operations so far.
func (f *FS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// ReadFile returns the current content of a file (a test convenience).
func (f *FS) ReadFile(name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base := f.lookup(name)
	if d == nil || d.entries[base] == nil {
		return nil, false
	}
	return slices.Clone(d.entries[base].data), true
}

// WriteFile creates or replaces a file (and its parent directories) holding data, as
// durable as if it had been written, fsynced and its directory synced; it counts as
// no operation. A test convenience.
func (f *FS) WriteFile(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mkdirAll(filepath.Dir(filepath.Clean(name)))
	d, base := f.lookup(name)
	ino := &inode{data: slices.Clone(data), synced: slices.Clone(data)}
	d.entries[base], d.durable[base] = ino, ino
}

// Clone returns a copy of the file system as it is now, durable state included: the
// copy and f then change independently.
func (f *FS) Clone() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &FS{dirs: make(map[string]*dir, len(f.dirs))}
	copies := map[*inode]*inode{} // one copy per file, wherever it is listed
	cp := func(ino *inode) *inode {
		if n, ok := copies[ino]; ok {
			return n
		}
		n := &inode{data: slices.Clone(ino.data), synced: slices.Clone(ino.synced)}
		copies[ino] = n
		return n
	}
	for path, d := range f.dirs {
		nd := newDir()
		for name, ino := range d.entries {
			nd.entries[name] = cp(ino)
		}
		for name, ino := range d.durable {
			nd.durable[name] = cp(ino)
		}
		c.dirs[path] = nd
	}
	return c
}

// step counts a mutating operation, taking the armed crash first. f.mu is held.
func (f *FS) step() {
	f.ops++
	if f.ops == f.crashAt && f.crashed == nil {
		f.crashed = f.durableCopy()
	}
}

// durableCopy copies the durable state into a new FS. f.mu is held.
func (f *FS) durableCopy() *FS {
	c := &FS{dirs: make(map[string]*dir, len(f.dirs))}
	for path, d := range f.dirs {
		nd := newDir()
		for name, ino := range d.durable {
			n := &inode{data: slices.Clone(ino.synced), synced: slices.Clone(ino.synced)}
			nd.entries[name], nd.durable[name] = n, n
		}
		c.dirs[path] = nd
	}
	return c
}

func (f *FS) lookup(name string) (*dir, string) {
	name = filepath.Clean(name)
	return f.dirs[filepath.Dir(name)], filepath.Base(name)
}

// OpenFile opens or creates a file; O_CREATE, O_EXCL, O_TRUNC and O_APPEND are honoured.
func (f *FS) OpenFile(name string, flag int, _ os.FileMode) (vfs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base := f.lookup(name)
	if d == nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	ino := d.entries[base]
	switch {
	case ino != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	case ino == nil:
		f.step()
		ino = &inode{}
		d.entries[base] = ino
	case flag&os.O_TRUNC != 0:
		f.step()
		ino.data = nil
	}
	return &file{fs: f, ino: ino, flag: flag}, nil
}

// Rename moves a file, replacing newpath.
func (f *FS) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	od, ob := f.lookup(oldpath)
	nd, nb := f.lookup(newpath)
	if od == nil || nd == nil || od.entries[ob] == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	f.step()
	ino := od.entries[ob]
	delete(od.entries, ob)
	nd.entries[nb] = ino
	return nil
}

// Remove removes a file.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base := f.lookup(name)
	if d == nil || d.entries[base] == nil {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	f.step()
	delete(d.entries, base)
	return nil
}

// ReadDir lists a directory's current files and subdirectories, sorted by name.
func (f *FS) ReadDir(name string) ([]os.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	d := f.dirs[name]
	if d == nil {
		return nil, &os.PathError{Op: "readdir", Path: name, Err: os.ErrNotExist}
	}
	var out []os.DirEntry
	for n, ino := range d.entries {
		out = append(out, entry{name: n, size: int64(len(ino.data))})
	}
	for p := range f.dirs {
		if p != name && filepath.Dir(p) == name {
			out = append(out, entry{name: filepath.Base(p), dir: true})
		}
	}
	slices.SortFunc(out, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// MkdirAll creates a directory and its parents; they are durable at once.
func (f *FS) MkdirAll(name string, _ os.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mkdirAll(filepath.Clean(name))
	return nil
}

// mkdirAll creates a directory and its parents. f.mu is held.
func (f *FS) mkdirAll(name string) {
	for p := name; f.dirs[p] == nil; p = filepath.Dir(p) {
		f.dirs[p] = newDir()
	}
}

// SyncDir makes a directory's current entries durable.
func (f *FS) SyncDir(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.dirs[filepath.Clean(name)]
	if d == nil {
		return &os.PathError{Op: "sync", Path: name, Err: os.ErrNotExist}
	}
	f.step()
	d.durable = make(map[string]*inode, len(d.entries))
	for n, ino := range d.entries {
		d.durable[n] = ino
	}
	return nil
}

type file struct {
	fs   *FS
	ino  *inode
	flag int
	pos  int64
}

func (h *file) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.pos >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[h.pos:])
	h.pos += int64(n)
	return n, nil
}

func (h *file) Write(p []byte) (int, error) {
	if h.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, os.ErrPermission
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.fs.step()
	if h.flag&os.O_APPEND != 0 {
		h.pos = int64(len(h.ino.data))
	}
	if end := h.pos + int64(len(p)); end > int64(len(h.ino.data)) {
		h.ino.data = append(h.ino.data, make([]byte, end-int64(len(h.ino.data)))...)
	}
	copy(h.ino.data[h.pos:], p)
	h.pos += int64(len(p))
	return len(p), nil
}

func (h *file) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.fs.step()
	if size < int64(len(h.ino.data)) {
		h.ino.data = slices.Clone(h.ino.data[:size])
	} else {
		h.ino.data = append(h.ino.data, make([]byte, size-int64(len(h.ino.data)))...)
	}
	return nil
}

// Sync makes the file's current content durable.
func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.fs.step()
	h.ino.synced = slices.Clone(h.ino.data)
	return nil
}

func (h *file) Close() error { return nil }

type entry struct {
	name string
	size int64
	dir  bool
}

func (e entry) Name() string { return e.name }
func (e entry) IsDir() bool  { return e.dir }
func (e entry) Type() iofs.FileMode {
	if e.dir {
		return iofs.ModeDir
	}
	return 0
}
func (e entry) Info() (iofs.FileInfo, error) { return info(e), nil }

type info entry

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return i.size }
func (i info) Mode() iofs.FileMode {
	if i.dir {
		return iofs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
