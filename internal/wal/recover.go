package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Recovery describes what Open found on disk.
type Recovery struct {
	// Segments is the number of segment files kept.
	Segments int
	// Records is the number of valid records found.
	Records uint64
	// FirstLSN is the LSN of the oldest record kept (or of the next record
	// when the log is empty).
	FirstLSN uint64
	// LastLSN is the LSN of the newest valid record; 0 when the log is empty.
	LastLSN uint64
	// Truncated is non-nil when damage was cut away.
	Truncated *Truncation
}

// Truncation describes a cut made by Open.
type Truncation struct {
	// File is the segment that was cut.
	File string
	// Offset is where File now ends (the first damaged byte).
	Offset int64
	// Bytes is how many bytes were dropped, from File and RemovedSegments.
	Bytes int64
	// Reason says what the damage was.
	Reason string
	// Tail is true for a torn tail of the last segment (expected after a
	// crash) and false for a salvage cut (Options.Salvage).
	Tail bool
	// RemovedSegments lists later segments deleted by a salvage cut.
	RemovedSegments []string
}

// segment is one segment file.
type segment struct {
	first uint64 // LSN of its first record; also in its name
	name  string // base name
}

// listSegments returns the segments in dir, oldest first.
func listSegments(fsys FS, dir string) ([]segment, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if lsn, ok := parseSegmentName(e.Name()); ok {
			segs = append(segs, segment{first: lsn, name: e.Name()})
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}

// scanResult is what scanning one segment found.
type scanResult struct {
	end     int64   // offset after the last valid record
	size    int64   // bytes read in total
	records uint64  // valid records
	last    uint64  // LSN of the last valid record; 0 if none
	bad     *damage // first damage; nil if the segment is intact
}

// scanSegment reads a segment whose records must start at LSN first.
func scanSegment(fsys FS, path string, first uint64, maxRecordSize int) (scanResult, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return scanResult{}, err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	sr := newSegmentReader(cr, maxRecordSize)
	var res scanResult
	hdrFirst, err := sr.readHeader()
	if err == nil && hdrFirst != first {
		err = &damage{0, fmt.Sprintf("segment header first lsn %d, name says %d", hdrFirst, first)}
	}
	if err == nil {
		res.end = headerSize
		for {
			var lsn uint64
			lsn, _, err = sr.record()
			if err != nil {
				break
			}
			res.records++
			res.last = lsn
			res.end = sr.off
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	var d *damage
	if errors.As(err, &d) {
		res.bad = d
		err = nil
		// Count the rest of the file so the report says how much is lost.
		if _, cerr := io.Copy(io.Discard, cr); cerr != nil {
			return res, cerr
		}
	}
	res.size = cr.n
	return res, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// recoverDir scans dir, cuts damage as allowed by opts, and returns the
// remaining segments, the size of the last one and the report. It creates
// the directory and a first segment when none exists.
func recoverDir(dir string, opts Options) ([]segment, int64, Recovery, error) {
	fsys := opts.FS
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, Recovery{}, fmt.Errorf("create wal directory: %w", err)
	}
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, 0, Recovery{}, fmt.Errorf("list wal directory: %w", err)
	}
	if len(segs) == 0 {
		seg := segment{first: 1, name: segmentName(1)}
		f, err := createSegment(fsys, dir, seg)
		if err != nil {
			return nil, 0, Recovery{}, err
		}
		if err := f.Close(); err != nil {
			return nil, 0, Recovery{}, fmt.Errorf("close %s: %w", seg.name, err)
		}
		return []segment{seg}, headerSize, Recovery{Segments: 1, FirstLSN: 1}, nil
	}

	rec := Recovery{FirstLSN: segs[0].first}
	next := segs[0].first
	var lastEnd int64
	for i, seg := range segs {
		path := filepath.Join(dir, seg.name)
		isLast := i == len(segs)-1
		var res scanResult
		if seg.first != next {
			res.bad = &damage{0, fmt.Sprintf("segment starts at lsn %d, want %d (segments missing)", seg.first, next)}
			res.size = -1 // whole file dropped; size unknown until removal
		} else {
			res, err = scanSegment(fsys, path, seg.first, opts.MaxRecordSize)
			if err != nil {
				return nil, 0, Recovery{}, fmt.Errorf("read %s: %w", path, err)
			}
		}
		if res.bad == nil {
			rec.Records += res.records
			if res.records > 0 {
				rec.LastLSN = res.last
				next = res.last + 1
			}
			lastEnd = res.end
			continue
		}

		// Damage. A gap in segment names is never a torn write.
		tail := isLast && res.size >= 0
		if !tail && !opts.Salvage {
			return nil, 0, Recovery{}, res.bad.corrupt(dir, seg.name)
		}
		t := &Truncation{File: path, Offset: res.bad.offset, Reason: res.bad.reason, Tail: tail}
		keep := segs[:i+1]
		if res.size < 0 {
			// The segment itself is out of sequence: drop it and all later
			// ones, the previous segment becomes the last.
			keep = segs[:i]
			t.File, t.Offset = filepath.Join(dir, segs[i-1].name), lastEnd
		} else {
			rec.Records += res.records
			if res.records > 0 {
				rec.LastLSN = res.last
				next = res.last + 1
			}
			t.Bytes = res.size - res.bad.offset
			lastEnd = res.bad.offset
			if err := cutSegment(fsys, dir, seg, res.bad.offset); err != nil {
				return nil, 0, Recovery{}, err
			}
			if res.bad.offset < headerSize {
				lastEnd = headerSize
			}
		}
		for _, gone := range segs[len(keep):] {
			n, err := fileSize(fsys, filepath.Join(dir, gone.name))
			if err != nil {
				return nil, 0, Recovery{}, err
			}
			if err := fsys.Remove(filepath.Join(dir, gone.name)); err != nil {
				return nil, 0, Recovery{}, fmt.Errorf("salvage: %w", err)
			}
			t.Bytes += n
			t.RemovedSegments = append(t.RemovedSegments, gone.name)
		}
		if len(t.RemovedSegments) > 0 {
			if err := fsys.SyncDir(dir); err != nil {
				return nil, 0, Recovery{}, fmt.Errorf("sync wal directory: %w", err)
			}
		}
		rec.Truncated = t
		segs = keep
		break
	}
	rec.Segments = len(segs)
	return segs, lastEnd, rec, nil
}

// cutSegment truncates a segment at off and makes the cut durable. A cut
// inside the header rewrites the header, so the segment stays valid and
// empty.
func cutSegment(fsys FS, dir string, seg segment, off int64) error {
	path := filepath.Join(dir, seg.name)
	f, err := fsys.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cut %s: %w", path, err)
	}
	if off < headerSize {
		err = f.Truncate(0)
		if err == nil {
			_, err = f.Write(appendHeader(nil, seg.first))
		}
	} else {
		err = f.Truncate(off)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cut %s at offset %d: %w", path, off, err)
	}
	return nil
}

// fileSize returns a file's size by reading it through the FS.
func fileSize(fsys FS, path string) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}
