package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempSuffix ends the name of the temporary file WriteFileAtomic writes
// before renaming it into place. RemoveTempFiles deletes leftovers.
const TempSuffix = ".tmp"

// WriteFileAtomic writes a file so that after a crash path holds either its
// old content or the complete new content: write writes into path+TempSuffix,
// which is fsynced, renamed over path, and the directory is fsynced. One
// writer per path at a time. On error the temporary file is removed and path
// is untouched.
func WriteFileAtomic(fsys FS, path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	tmp := path + TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			fsys.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomic write %s: fsync: %w", path, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: close: %w", path, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomic write %s: rename: %w", path, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		// The rename happened; whether it is durable is unknown. Report it
		// so the caller does not truncate the WAL on the strength of it.
		return fmt.Errorf("atomic write %s: fsync directory: %w", path, err)
	}
	return nil
}

// RemoveTempFiles deletes files in dir left behind by an interrupted
// WriteFileAtomic and returns their names.
func RemoveTempFiles(fsys FS, dir string) ([]string, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), TempSuffix) {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// SetAside renames path to path.corrupt, or path.corrupt.<n> for the smallest n not
// taken (an earlier one is kept), and makes the rename durable: a file that does not
// read is kept for the operator, not deleted. A missing path is no error.
func SetAside(fsys FS, path string) error {
	if fsys == nil {
		fsys = OSFS{}
	}
	dir := filepath.Dir(path)
	aside, err := freeName(fsys, dir, filepath.Base(path)+".corrupt")
	if err != nil {
		return fmt.Errorf("set aside %s: %w", path, err)
	}
	if err := fsys.Rename(path, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("set aside %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("set aside %s: fsync directory: %w", path, err)
	}
	return nil
}
