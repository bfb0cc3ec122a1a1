package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// NewestFile is the file in the log directory that names the newest segment the log
// has created: the segment's name and a newline, written atomically (WriteFileAtomic)
// once the segment and its header are durable, so it never names a segment a crash
// could still take back. A crash cannot remove a segment, nor leave the header of one
// short once it was made durable; so a log whose named segment is missing, or whose
// header is damaged, lost its end to something else — a file deleted or truncated, a
// copy of the directory that missed it — and Open refuses it as corruption
// (Options.Salvage opens it anyway, as for any corruption). Open writes it for a
// directory that has none (written by an earlier version) or after a salvage.
const NewestFile = "wal-newest"

// writeNewest records seg as the newest segment.
func writeNewest(fsys FS, dir string, seg segment) error {
	err := WriteFileAtomic(fsys, filepath.Join(dir, NewestFile), 0o640, func(w io.Writer) error {
		_, err := io.WriteString(w, seg.name+"\n")
		return err
	})
	if err != nil {
		return fmt.Errorf("record the newest segment: %w", err)
	}
	return nil
}

// errNewestFormat marks a NewestFile that names no segment.
var errNewestFormat = errors.New("not a segment name")

// readNewest returns the first LSN of the segment NewestFile names; ok is false when
// there is no such file. A file that names no segment is an error wrapping
// errNewestFormat.
func readNewest(fsys FS, dir string) (first uint64, ok bool, err error) {
	data, err := readFile(fsys, filepath.Join(dir, NewestFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	name := string(bytes.TrimSuffix(data, []byte("\n")))
	first, ok = parseSegmentName(name)
	if !ok {
		return 0, false, fmt.Errorf("%s holds %q: %w", NewestFile, data, errNewestFormat)
	}
	return first, true, nil
}

// newestNamed returns the first LSN of the segment NewestFile names (0 without the
// file), checked against the segments in the directory: a file that names no segment,
// or a segment newer than the newest there, is corruption. With salvage either is
// ignored (0), and recovery writes the file again.
func newestNamed(fsys FS, dir string, segs []segment, salvage bool) (uint64, error) {
	first, ok, err := readNewest(fsys, dir)
	switch {
	case errors.Is(err, errNewestFormat):
		if salvage {
			return 0, nil
		}
		return 0, &CorruptError{File: filepath.Join(dir, NewestFile), Reason: err.Error()}
	case err != nil && salvage && !errors.Is(err, fs.ErrPermission):
		// Not a file that reads (a directory in its place): moved aside, so that the
		// file can be written again.
		path := filepath.Join(dir, NewestFile)
		if rerr := SetAside(fsys, path); rerr != nil {
			return 0, fmt.Errorf("read %s: %w; moving it aside for salvage: %w", path, err, rerr)
		}
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", filepath.Join(dir, NewestFile), err)
	case !ok:
		return 0, nil
	case len(segs) == 0 || first > segs[len(segs)-1].first:
		if salvage {
			return 0, nil
		}
		return 0, &CorruptError{File: filepath.Join(dir, segmentName(first)), Reason: fmt.Sprintf(
			"missing: %s names it as the newest segment the log created, and a crash cannot remove one "+
				"(the log lost its end: a segment deleted, or a copy of the directory that missed it)", NewestFile)}
	}
	return first, nil
}
