package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

// Layout of a data directory:
//
//	LOCK                 held with an exclusive flock while an engine uses the directory
//	wal/                 the write-ahead log's segments (package wal)
//	wal/catalog          the collections live when the log was last trimmed (catalog.go)
//	snapshots/<collection>.<covered LSN, 20 digits>.snap
//	                     snapshots, written with wal.WriteFileAtomic; one that failed
//	                     to verify is renamed with a ".corrupt" suffix
//	state/<collection>.loop
//	                     the service's training-loop state (loopstate.go)
const (
	lockName      = "LOCK"
	walDirName    = "wal"
	SnapDirName   = "snapshots"
	SnapSuffix    = ".snap"
	CorruptSuffix = ".corrupt"
	lsnDigits     = 20
)

// Used reports whether path holds a data directory's files (LOCK, wal/ or snapshots/):
// a server has used it. A missing path is not used.
func Used(path string) (bool, error) {
	for _, name := range []string{lockName, walDirName, SnapDirName} {
		_, err := os.Lstat(filepath.Join(path, name))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	return false, nil
}

// ErrDataDirLocked is returned by Lock when another process uses the data directory.
var ErrDataDirLocked = errors.New("data directory is locked by another process")

// Dir is an embedded engine's data directory. Every file operation of the engine
// goes through it (the log's own through package wal), on its wal.FS.
type Dir struct {
	path    string
	snapDir string
	fs      wal.FS
	lock    *os.File // holds an exclusive flock on path/LOCK until Unlock
	dirLock *os.File // and one on the directory itself (nil where the file system cannot lock one)
}

// Lock creates the data directory if needed and takes its lock (on the real file
// system: the lock guards against other processes). fs is the file system for the
// log and snapshots.
//
// The lock is an exclusive flock on the directory itself and on path/LOCK, which also
// holds the holder's process id and host for the refusal to name. The directory's
// lock is the one that counts: a LOCK file deleted while a server runs (taken for a
// stale lock file) lets a second process lock a new one, but not the directory, so two
// servers never append to one log. On a file system that cannot lock a directory
// (NFS) the LOCK file's lock is the only one.
func Lock(path string, fs wal.FS) (*Dir, error) {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dir, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	refuse := func(err error) error {
		holder := lockHolder(f)
		if dir != nil {
			dir.Close()
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w%s", path, ErrDataDirLocked, holder)
		}
		return fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(dir.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, refuse(err)
	} else if err != nil {
		// A file system that cannot lock a directory (NFS maps flock onto locks that
		// need a file open for writing) keeps the LOCK file's lock alone.
		dir.Close()
		dir = nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, refuse(err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d on host %s\n", os.Getpid(), host)), 0)
	}
	return &Dir{path: path, snapDir: filepath.Join(path, SnapDirName), fs: fs, lock: f, dirLock: dir}, nil
}

// lockHolder returns what a LOCK file says of the process holding it, for a refusal:
// " (held by pid N on host H; stop that server rather than delete LOCK)", or "".
func lockHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	if !strings.HasPrefix(line, "pid ") {
		return ""
	}
	return " (held by " + line + "; stop that server rather than delete LOCK)"
}

// Path returns the data directory.
func (d *Dir) Path() string { return d.path }

// Unlock releases the directory's lock.
func (d *Dir) Unlock() error {
	err := d.lock.Close()
	if d.dirLock != nil {
		err = errors.Join(err, d.dirLock.Close())
	}
	return err
}

// OpenLog opens (recovering) the write-ahead log in path/wal with o, on the
// directory's file system.
func (d *Dir) OpenLog(o wal.Options) (*wal.Log, error) {
	o.FS = d.fs
	return wal.Open(filepath.Join(d.path, walDirName), o)
}

// LogBytes returns the size of the log's segment files on disk.
func (d *Dir) LogBytes() int64 {
	all, _ := d.logBytes()
	return all
}

// ClosedLogBytes returns the size of the log's segment files but the newest, the one
// being appended to: what truncating the log can free at most.
func (d *Dir) ClosedLogBytes() int64 {
	all, newest := d.logBytes()
	return all - newest
}

// logBytes returns the size of the log's segment files and of the segment
// appended to (the largest name: segment names sort by their first LSN).
func (d *Dir) logBytes() (all, newest int64) {
	entries, err := os.ReadDir(filepath.Join(d.path, walDirName))
	if err != nil {
		return 0, 0
	}
	last := ""
	for _, e := range entries {
		name := e.Name()
		if !wal.IsSegment(name) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		all += fi.Size()
		if name > last {
			last, newest = name, fi.Size()
		}
	}
	return all, newest
}

// SnapshotName returns the file name of collection's snapshot covering lsn.
func SnapshotName(collection string, lsn uint64) string {
	return fmt.Sprintf("%s.%0*d%s", collection, lsnDigits, lsn, SnapSuffix)
}

// ParseSnapshotName splits a snapshot file name into collection and LSN.
func ParseSnapshotName(name string) (string, uint64, bool) {
	base, ok := strings.CutSuffix(name, SnapSuffix)
	if !ok || len(base) < lsnDigits+2 || base[len(base)-lsnDigits-1] != '.' {
		return "", 0, false
	}
	lsn, err := strconv.ParseUint(base[len(base)-lsnDigits:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return base[:len(base)-lsnDigits-1], lsn, true
}

// SnapshotFile is one snapshot file found on disk.
type SnapshotFile struct {
	Collection string
	LSN        uint64
	Name       string
}

// PrepareSnapshots creates the snapshots directory if needed and removes what
// interrupted snapshot writes left behind, returning the removed files.
func (d *Dir) PrepareSnapshots() ([]string, error) {
	if err := d.fs.MkdirAll(d.snapDir, 0o750); err != nil {
		return nil, fmt.Errorf("create snapshots directory: %w", err)
	}
	removed, err := wal.RemoveTempFiles(d.fs, d.snapDir)
	if err != nil {
		return nil, fmt.Errorf("remove temporary snapshot files: %w", err)
	}
	return removed, nil
}

// Snapshots lists the snapshot files, by collection and newest first within one.
func (d *Dir) Snapshots() ([]SnapshotFile, error) {
	entries, err := d.fs.ReadDir(d.snapDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []SnapshotFile
	for _, e := range entries {
		if col, lsn, ok := ParseSnapshotName(e.Name()); ok && !e.IsDir() {
			out = append(out, SnapshotFile{col, lsn, e.Name()})
		}
	}
	slices.SortFunc(out, func(a, b SnapshotFile) int {
		if a.Collection != b.Collection {
			return strings.Compare(a.Collection, b.Collection)
		}
		switch {
		case a.LSN > b.LSN:
			return -1
		case a.LSN < b.LSN:
			return 1
		}
		return 0
	})
	return out, nil
}

// SnapshotPath returns the path of the snapshot file name.
func (d *Dir) SnapshotPath(name string) string { return filepath.Join(d.snapDir, name) }

// ReadSnapshot opens the snapshot file name and calls read with its content; it
// returns the file's modification time.
func (d *Dir) ReadSnapshot(name string, read func(io.Reader) error) (time.Time, error) {
	path := d.SnapshotPath(name)
	f, err := d.fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrPermission) {
		return time.Time{}, fmt.Errorf("%w: %w", ErrSnapshotUnreadable, err)
	}
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return time.Time{}, err
	}
	var mod time.Time
	if fi, err := os.Stat(path); err == nil {
		mod = fi.ModTime()
	}
	return mod, nil
}

// WriteSnapshot writes the snapshot of collection at lsn atomically (temporary file,
// fsync, rename, directory fsync) with write, and returns its path. write's error
// leaves no file behind.
func (d *Dir) WriteSnapshot(collection string, lsn uint64, write func(io.Writer) error) (string, error) {
	path := d.SnapshotPath(SnapshotName(collection, lsn))
	return path, wal.WriteFileAtomic(d.fs, path, 0o640, write)
}

// SnapshotFileInfo describes the snapshot file f: size, modification time and live
// items (-1 if it could not be read).
func (d *Dir) SnapshotFileInfo(f SnapshotFile) engine.SnapshotFileInfo {
	info := engine.SnapshotFileInfo{Collection: f.Collection, LSN: f.LSN, Items: -1}
	path := d.SnapshotPath(f.Name)
	if fi, err := os.Stat(path); err == nil {
		info.Bytes, info.ModTime = fi.Size(), fi.ModTime()
	}
	if r, err := d.fs.OpenFile(path, os.O_RDONLY, 0); err == nil {
		if n, err := SnapshotItems(r); err == nil {
			info.Items = n
		}
		r.Close()
	}
	return info
}

// ErrSnapshotUnreadable wraps the error of a snapshot file this process may not open
// (permission denied): not damage, so recovery refuses rather than setting it aside.
var ErrSnapshotUnreadable = errors.New("snapshot file not readable by this process")

// statfs reads a volume's sizes (a variable so that tests can give any).
var statfs = syscall.Statfs

// LogReserve is the free space CheckRoom keeps for the write-ahead log: a write that
// fails to reach the log stops the server, a snapshot or backup that does not fit
// fails alone. The reserve is 64 MiB, or a twentieth of a smaller volume (at least
// 1 MiB).
func LogReserve(volumeBytes int64) int64 {
	return max(1<<20, min(64<<20, volumeBytes/20))
}

// ErrVolumeUnknown is returned by Volume for a file system whose sizes say nothing:
// no blocks (ramfs, some FUSE mounts), or counts beyond int64.
var ErrVolumeUnknown = errors.New("the file system reports no usable size")

// Volume returns the size of the file system holding path and the bytes available to
// this process on it.
func Volume(path string) (size, avail int64, err error) {
	var st syscall.Statfs_t
	if err := statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Frsize) // the unit of the block counts
	if bs <= 0 {
		bs = int64(st.Bsize)
	}
	const most = math.MaxInt64 / 2
	if bs <= 0 || st.Blocks == 0 || st.Blocks > uint64(most/bs) || st.Bavail > st.Blocks {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, ErrVolumeUnknown)
	}
	return int64(st.Blocks) * bs, int64(st.Bavail) * bs, nil
}

// CheckRoom refuses (engine.ErrNoSpace) to write about need bytes of what (a snapshot,
// a backup, a restore's spool) when the data volume has less free space than that plus
// LogReserve. A volume whose sizes cannot be read is not checked.
func (d *Dir) CheckRoom(what string, need int64) error {
	size, free, err := Volume(d.path)
	if err != nil {
		return nil
	}
	reserve := LogReserve(size)
	if need <= free-reserve {
		return nil
	}
	return fmt.Errorf("%w: %s needs about %d bytes and the write-ahead log keeps %d, but %s has %d bytes free",
		engine.ErrNoSpace, what, need, reserve, d.path, free)
}

// TempFile creates a temporary file in the data directory (named with
// wal.TempSuffix, so recovery removes one left behind) and unlinks it at once: the
// open file keeps its data until closed, and a crash leaves nothing.
func (d *Dir) TempFile(prefix string) (*os.File, error) {
	f, err := os.CreateTemp(d.path, prefix+"-*"+wal.TempSuffix)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// SetAside renames the snapshot files names with CorruptSuffix (and ".<n>" where a
// file set aside before holds that name, which is kept), durably.
func (d *Dir) SetAside(names []string) error {
	for _, name := range names {
		if err := wal.SetAside(d.fs, d.SnapshotPath(name)); err != nil {
			return fmt.Errorf("set aside corrupt snapshot: %w", err)
		}
	}
	return nil
}

// RemoveSnapshots removes the snapshot files names, durably; a missing one is no
// error.
func (d *Dir) RemoveSnapshots(names []string) error {
	for _, name := range names {
		if err := d.fs.Remove(d.SnapshotPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove snapshot: %w", err)
		}
	}
	if len(names) > 0 {
		if err := d.fs.SyncDir(d.snapDir); err != nil {
			return fmt.Errorf("sync snapshots directory: %w", err)
		}
	}
	return nil
}
