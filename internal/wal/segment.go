package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// createSegment creates a segment file with its header and makes both the
// file and its directory entry durable. The file is left open for appending.
func createSegment(fsys FS, dir string, seg segment) (File, error) {
	path := filepath.Join(dir, seg.name)
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.Write(appendHeader(nil, seg.first)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("fsync new segment: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("fsync wal directory: %w", err)
	}
	return f, nil
}

// rotate makes the active segment durable, closes it and starts a new one
// whose first record is lsn. Only the flusher calls it.
func (l *Log) rotate(lsn uint64) error {
	if err := l.active.Sync(); err != nil {
		return fmt.Errorf("fsync segment: %w", err)
	}
	if err := l.active.Close(); err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	seg := segment{first: lsn, name: segmentName(lsn)}
	f, err := createSegment(l.fs, l.dir, seg)
	if err == nil {
		// The segment and its header are durable: NewestFile may name it.
		if err = writeNewest(l.fs, l.dir, seg); err != nil {
			f.Close()
		}
	}
	if err != nil {
		// Keep a closed-but-valid handle out of the way; Close of the Log
		// closes active again, which is harmless for a failed log.
		l.active = closedFile{}
		return err
	}
	l.active = f
	l.mu.Lock()
	l.segments = append(l.segments, seg)
	l.stats.Syncs += 4
	l.stats.Rotations++
	l.mu.Unlock()
	return nil
}

// TruncateBefore deletes every segment whose records all have LSNs below
// lsn. Call it once a snapshot covering those records is durable. The
// active segment is never deleted. Segments are deleted oldest first, each
// deletion made durable before the next, so a crash leaves a contiguous
// log. It returns how many segments it deleted.
func (l *Log) TruncateBefore(lsn uint64) (int, error) {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	n := 0
	for n+1 < len(l.segments) && l.segments[n+1].first <= lsn {
		n++
	}
	gone := append([]segment(nil), l.segments[:n]...)
	l.mu.Unlock()
	for i, seg := range gone {
		err := l.fs.Remove(filepath.Join(l.dir, seg.name))
		if err == nil || errors.Is(err, os.ErrNotExist) {
			err = l.fs.SyncDir(l.dir)
		}
		l.mu.Lock()
		if err == nil {
			l.segments = l.segments[1:]
			l.stats.TruncatedSegments++
		}
		l.mu.Unlock()
		if err != nil {
			return i, fmt.Errorf("truncate wal: remove %s: %w", seg.name, err)
		}
	}
	return n, nil
}

// closedFile stands in for the active segment after a failed rotation.
type closedFile struct{}

func (closedFile) Read([]byte) (int, error)  { return 0, os.ErrClosed }
func (closedFile) Write([]byte) (int, error) { return 0, os.ErrClosed }
func (closedFile) Close() error              { return nil }
func (closedFile) Sync() error               { return os.ErrClosed }
func (closedFile) Truncate(int64) error      { return os.ErrClosed }
