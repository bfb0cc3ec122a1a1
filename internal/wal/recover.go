package wal

import (
	"encoding/binary"
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
	// Bytes is how many bytes were cut, from File and MovedSegments.
	Bytes int64
	// Reason says what the damage was.
	Reason string
	// Tail is true for a torn tail of the last segment (expected after a
	// crash) and false for a salvage cut (Options.Salvage). Either way the
	// cut bytes are kept in SavedTo.
	Tail bool
	// MovedSegments lists the later segments a salvage cut moved into
	// SalvageDir.
	MovedSegments []string
	// SavedTo lists the files in SalvageDir that hold the bytes the cut
	// took off the log: the cut part of File, then MovedSegments.
	SavedTo []string
	// SaveError says why a torn tail was cut without its copy (SavedTo empty):
	// the copy could not be written. Empty otherwise.
	SaveError string
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
//
// Damage is a torn tail only when it lies in the last segment and nothing
// that verifies follows it (see tornTail); anything else is a *CorruptError
// unless opts.Salvage is set, in which case the log keeps its longest valid
// prefix and the cut bytes are moved into SalvageDir (see salvage).
func recoverDir(dir string, opts Options) ([]segment, int64, Recovery, error) {
	fsys := opts.FS
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return nil, 0, Recovery{}, fmt.Errorf("create wal directory: %w", err)
	}
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, 0, Recovery{}, fmt.Errorf("list wal directory: %w", err)
	}
	if _, err := RemoveTempFiles(fsys, dir); err != nil {
		return nil, 0, Recovery{}, fmt.Errorf("remove temporary files: %w", err)
	}
	newest, err := newestNamed(fsys, dir, segs, opts.Salvage)
	if err != nil {
		return nil, 0, Recovery{}, err
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
		if err := writeNewest(fsys, dir, seg); err != nil {
			return nil, 0, Recovery{}, err
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
			res.size = -1 // whole file dropped; size unknown until it is moved
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

		// Damage. A gap in segment names is never a torn write; damage in the
		// last segment is one only if nothing valid follows it.
		tail := false
		if isLast && res.size >= 0 {
			recNext := seg.first
			if res.records > 0 {
				recNext = res.last + 1
			}
			tail, err = tornTail(fsys, path, res.bad, recNext, opts.MaxRecordSize)
			if err != nil {
				return nil, 0, Recovery{}, fmt.Errorf("read %s: %w", path, err)
			}
			if tail && res.bad.offset < headerSize && newest >= seg.first {
				// A segment's header is durable before NewestFile names it.
				tail = false
				res.bad.reason += fmt.Sprintf(", but %s names this segment, whose header was durable before it did, "+
					"so this is not a torn tail (the file was cut short after)", NewestFile)
			}
		}
		if !tail && !opts.Salvage {
			return nil, 0, Recovery{}, res.bad.corrupt(dir, seg.name)
		}
		t := &Truncation{File: path, Offset: res.bad.offset, Reason: res.bad.reason, Tail: tail}
		keep := segs[:i+1]
		cut := seg
		if res.size < 0 {
			// The segment itself is out of sequence: it and all later ones
			// go, the previous segment (intact) becomes the last.
			keep = segs[:i]
			cut = segs[i-1]
			t.File, t.Offset = filepath.Join(dir, cut.name), lastEnd
		} else {
			rec.Records += res.records
			if res.records > 0 {
				rec.LastLSN = res.last
				next = res.last + 1
			}
			t.Bytes = res.size - res.bad.offset
			lastEnd = max(res.bad.offset, headerSize)
		}
		// A torn tail is copied aside before it is cut, like salvaged damage: a
		// crash leaves only an unacknowledged record there, but the end of the
		// log damaged on disk looks the same and the copy is all that keeps it.
		if err := salvage(fsys, dir, cut, t, segs[len(keep):]); err != nil {
			if !tail {
				return nil, 0, Recovery{}, fmt.Errorf("salvage: %w", err)
			}
			// The copy of a torn tail is kept where it can be: the tail holds an
			// unacknowledged record after a crash, and a start must not fail for want
			// of room for it (a full volume is a common cause of the crash).
			t.SavedTo, t.SaveError = nil, err.Error()
			if err := cutSegment(fsys, dir, seg, res.bad.offset); err != nil {
				return nil, 0, Recovery{}, err
			}
		}
		rec.Truncated = t
		segs = keep
		break
	}
	rec.Segments = len(segs)
	// NewestFile names the last segment kept from now on: a directory of an earlier
	// version has none, and a salvage may have moved the one it named. The last
	// segment's header is durable (written before this start, or rewritten by a cut).
	if last := segs[len(segs)-1]; newest != last.first {
		if err := writeNewest(fsys, dir, last); err != nil {
			return nil, 0, Recovery{}, err
		}
	}
	return segs, lastEnd, rec, nil
}

// maxLSNGap bounds how far above the expected LSN a record found after damage
// may lie to count as evidence (a cheap filter before the checksum, so a long
// damaged tail of random bytes is scanned in linear time).
const maxLSNGap = 1 << 24

// tornTail reports whether damage d in the last segment at path is a torn
// tail: what a crash leaves when it interrupts appending. That is a damaged
// final record with nothing valid after it — no record at or after d.offset
// that verifies (length within maxRecordSize and inside the file, checksum
// matching) with an LSN of at least next, the LSN the damaged record should
// carry. A segment header is made durable before any record is appended
// (createSegment), so a damaged header is torn only in a file that holds
// nothing else: shorter than a header, or a header's size of zeros (created,
// never written). Any other damaged header is corruption. When the damage
// is not a tear, d's reason is extended with the record that proves it.
func tornTail(fsys FS, path string, d *damage, next uint64, maxRecordSize int) (bool, error) {
	data, err := readFile(fsys, path)
	if err != nil {
		return false, err
	}
	if d.offset < headerSize {
		return len(data) < headerSize || len(data) == headerSize && allZero(data), nil
	}
	if off, lsn, ok := laterRecord(data, d.offset, next, uint32(maxRecordSize)); ok {
		d.reason = fmt.Sprintf("%s, but a valid record (lsn %d) follows at offset %d, so this is not a torn tail", d.reason, lsn, off)
		return false, nil
	}
	return true, nil
}

// laterRecord returns the offset and LSN of the first record at or after from
// in data that verifies and carries an LSN in [next, next+maxLSNGap).
func laterRecord(data []byte, from int64, next uint64, maxSize uint32) (int64, uint64, bool) {
	for o := from; o+recordHeaderSize <= int64(len(data)); o++ {
		h := data[o : o+recordHeaderSize]
		length := binary.LittleEndian.Uint32(h[0:])
		lsn := binary.LittleEndian.Uint64(h[8:])
		if length > maxSize || int64(length) > int64(len(data))-o-recordHeaderSize ||
			lsn < next || lsn-next >= maxLSNGap {
			continue
		}
		p := data[o+recordHeaderSize : o+recordHeaderSize+int64(length)]
		if recordCRC(payloadCRC(p), lsn) == binary.LittleEndian.Uint32(h[4:]) {
			return o, lsn, true
		}
	}
	return 0, 0, false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// SalvageDir is the directory, inside the log's directory, into which a
// salvaging Open moves the bytes it cuts off the log.
const SalvageDir = "salvaged"

// salvage cuts seg at t.Offset and moves everything cut into SalvageDir
// instead of deleting it: the bytes of seg from t.Offset on are copied into
// <segment name>.<offset> there (the whole file when the header is damaged),
// and every segment of later is renamed into it. The copies are durable
// before seg is cut. Names taken by an earlier salvage get a ".<n>" suffix.
func salvage(fsys FS, dir string, seg segment, t *Truncation, later []segment) error {
	sdir := filepath.Join(dir, SalvageDir)
	if err := fsys.MkdirAll(sdir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(dir, seg.name)
	data, err := readFile(fsys, path)
	if err != nil {
		return err
	}
	cutAt := t.Offset
	if cutAt < int64(len(data)) {
		from := cutAt
		if from < headerSize {
			from = 0
		}
		name, err := saveFile(fsys, sdir, fmt.Sprintf("%s.%d", seg.name, from), data[from:])
		if err != nil {
			return err
		}
		t.SavedTo = append(t.SavedTo, name)
	}
	for _, s := range later {
		src := filepath.Join(dir, s.name)
		n, err := fileSize(fsys, src)
		if err != nil {
			return err
		}
		dst, err := freeName(fsys, sdir, s.name)
		if err != nil {
			return err
		}
		if err := fsys.Rename(src, dst); err != nil {
			return err
		}
		t.Bytes += n
		t.MovedSegments = append(t.MovedSegments, s.name)
		t.SavedTo = append(t.SavedTo, dst)
	}
	// The copies and moves are durable — the files in SalvageDir, and
	// SalvageDir itself in dir — before anything is cut.
	if err := fsys.SyncDir(sdir); err != nil {
		return fmt.Errorf("sync %s: %w", sdir, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync wal directory: %w", err)
	}
	// A cut inside the header (even of an empty file) rewrites the header.
	if cutAt < int64(len(data)) || cutAt < headerSize {
		if err := cutSegment(fsys, dir, seg, cutAt); err != nil {
			return err
		}
	}
	return nil
}

// freeName returns dir/base, or dir/base.<n> for the smallest n >= 1 not
// taken.
func freeName(fsys FS, dir, base string) (string, error) {
	for n := 0; ; n++ {
		name := filepath.Join(dir, base)
		if n > 0 {
			name = fmt.Sprintf("%s.%d", name, n)
		}
		f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
		if errors.Is(err, os.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		f.Close()
	}
}

// saveFile writes b into a new file dir/base (or a free variant of it, see
// freeName) and fsyncs it; it returns the path.
func saveFile(fsys FS, dir, base string, b []byte) (string, error) {
	name, err := freeName(fsys, dir, base)
	if err != nil {
		return "", err
	}
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	return name, nil
}

// readFile reads a whole file through the FS.
func readFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
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
