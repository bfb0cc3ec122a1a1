package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hardneg/hardneg/internal/crashfs"
)

// recordEnds returns the offsets at which records 0..n-1 (from payload)
// end in a segment that starts with record 0; ends[0] is the header end.
func recordEnds(n int) []int64 {
	ends := []int64{headerSize}
	for i := range n {
		ends = append(ends, ends[i]+recordHeaderSize+int64(len(payload(i))))
	}
	return ends
}

// memDir is where logs live in an in-memory crashfs.FS.
const memDir = "/wal"

// writeSegmentFile writes a log of n records from payload and returns the
// bytes of its only segment.
func writeSegmentFile(t *testing.T, n int) []byte {
	t.Helper()
	fsys := crashfs.New()
	l := openLog(t, memDir, Options{FS: fsys})
	writeRecords(t, l, 0, n)
	mustClose(t, l)
	b, ok := fsys.ReadFile(filepath.Join(memDir, segmentName(1)))
	if !ok {
		t.Fatal("segment missing")
	}
	if want := recordEnds(n)[n]; int64(len(b)) != want {
		t.Fatalf("segment is %d bytes, want %d", len(b), want)
	}
	return b
}

// completeRecords returns how many records end at or before off.
func completeRecords(ends []int64, off int64) int {
	k := 0
	for k+1 < len(ends) && ends[k+1] <= off {
		k++
	}
	return k
}

func TestTornTailAtEveryOffsetKeepsCompletePrefix(t *testing.T) {
	const n = 8
	full := writeSegmentFile(t, n)
	ends := recordEnds(n)
	for off := int64(0); off <= int64(len(full)); off++ {
		dir := memDir
		path := filepath.Join(dir, segmentName(1))
		fsys := crashfs.New()
		fsys.WriteFile(path, full[:off])
		l, err := Open(dir, Options{FS: fsys})
		if err != nil {
			t.Fatalf("offset %d: Open: %v", off, err)
		}
		k := completeRecords(ends, off)
		checkPrefix(t, replayAll(t, l, 1), k)
		tr := l.Recovery().Truncated
		atBoundary := off >= headerSize && off == ends[k]
		switch {
		case atBoundary && tr != nil:
			t.Fatalf("offset %d is a record boundary but Recovery reports a cut: %+v", off, tr)
		case !atBoundary && tr == nil:
			t.Fatalf("offset %d: torn tail not reported", off)
		case !atBoundary:
			wantOff, wantBytes := ends[k], off-ends[k]
			if off < headerSize {
				wantOff, wantBytes = 0, off
			}
			if !tr.Tail || tr.Offset != wantOff || tr.Bytes != wantBytes || tr.File != path {
				t.Fatalf("offset %d: Truncated = %+v, want tail cut at %d of %d bytes", off, tr, wantOff, wantBytes)
			}
			// The torn bytes are kept aside, not dropped.
			checkSalvaged(t, fsys, tr, full[wantOff:off], fmt.Sprintf("offset %d", off))
		}
		// The log continues right after the kept prefix.
		lsn, err := l.Write(context.Background(), payload(k))
		if err != nil || lsn != uint64(k+1) {
			t.Fatalf("offset %d: Write after recovery = %d, %v; want %d", off, lsn, err, k+1)
		}
		mustClose(t, l)
		l = openLog(t, dir, Options{FS: fsys})
		if tr := l.Recovery().Truncated; tr != nil {
			t.Fatalf("offset %d: second recovery cut again: %+v", off, tr)
		}
		checkPrefix(t, replayAll(t, l, 1), k+1)
		mustClose(t, l)
	}
}

func TestTornTailOfLastSegmentKeepsEarlierSegments(t *testing.T) {
	src := crashfs.New()
	opts := Options{FS: src, SegmentSize: 4 << 10}
	l := openLog(t, memDir, opts)
	writeRecords(t, l, 0, 150)
	mustClose(t, l)
	segs, _ := listSegments(src, memDir)
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	last := segs[len(segs)-1]
	lastPath := filepath.Join(memDir, last.name)
	lastBytes, _ := src.ReadFile(lastPath)
	for off := 0; off <= len(lastBytes); off++ {
		fsys := src.Clone()
		fsys.WriteFile(lastPath, lastBytes[:off])
		opts.FS = fsys
		if off < headerSize {
			// The segment's header was durable before NewestFile named it: cut short
			// now, it was not torn by a crash.
			_, err := Open(memDir, opts)
			checkCorrupt(t, err, lastPath, 0, fmt.Sprintf("header cut at %d", off))
			// A crash leaves a short header only before NewestFile names the segment.
			fsys.WriteFile(filepath.Join(memDir, NewestFile), []byte(segs[len(segs)-2].name+"\n"))
		}
		l := openLog(t, memDir, opts)
		got := replayAll(t, l, 1)
		mustClose(t, l)
		// Everything up to the last segment survives, then a prefix of it.
		if len(got) < int(last.first-1) {
			t.Fatalf("offset %d: %d records, fewer than the %d in earlier segments", off, len(got), last.first-1)
		}
		checkPrefix(t, got, len(got))
		if off == len(lastBytes) && len(got) != 150 {
			t.Fatalf("untouched log replays %d of 150", len(got))
		}
	}
}

// flip returns a copy of b with one bit inverted.
func flip(b []byte, byteOff, bit int) []byte {
	c := bytes.Clone(b)
	c[byteOff] ^= 1 << bit
	return c
}

// checkCorrupt asserts that err is a *CorruptError naming path and off.
func checkCorrupt(t *testing.T, err error, path string, off int64, what string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != path || ce.Offset != off {
		t.Fatalf("%s: Open = %v, want ErrCorrupt in %s at offset %d", what, err, path, off)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
		t.Fatalf("%s: message %q does not name file and offset", what, err)
	}
}

// checkSalvaged asserts that the salvage folder of dir holds exactly want,
// the bytes a salvage cut took from the log.
func checkSalvaged(t *testing.T, fsys *crashfs.FS, tr *Truncation, want []byte, what string) {
	t.Helper()
	var got []byte
	for _, p := range tr.SavedTo {
		if filepath.Dir(p) != filepath.Join(memDir, SalvageDir) {
			t.Fatalf("%s: salvaged bytes in %s, outside %s", what, p, SalvageDir)
		}
		b, ok := fsys.ReadFile(p)
		if !ok {
			t.Fatalf("%s: %s missing", what, p)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: salvaged %d bytes, want the %d cut", what, len(got), len(want))
	}
}

func TestFlippedBitInLastSegment(t *testing.T) {
	const n = 8
	full := writeSegmentFile(t, n)
	ends := recordEnds(n)
	path := filepath.Join(memDir, segmentName(1))
	for b := range full {
		for bit := range 8 {
			what := fmt.Sprintf("byte %d bit %d", b, bit)
			damaged := flip(full, b, bit)
			fsys := crashfs.New()
			fsys.WriteFile(path, damaged)
			k := completeRecords(ends, int64(b)) // record k holds byte b
			wantOff := ends[k]
			if b < headerSize {
				k, wantOff = 0, 0
			}
			l, err := Open(memDir, Options{FS: fsys})
			if k == n-1 {
				// The final record: indistinguishable from a torn write.
				if err != nil {
					t.Fatalf("%s: Open: %v", what, err)
				}
				checkPrefix(t, replayAll(t, l, 1), k)
				tr := l.Recovery().Truncated
				if tr == nil || !tr.Tail || tr.Offset != wantOff {
					t.Fatalf("%s: Truncated = %+v, want a tail cut at %d", what, tr, wantOff)
				}
				mustClose(t, l)
				continue
			}
			// Valid records follow the damage (or the header is damaged):
			// corruption, not a tear.
			checkCorrupt(t, err, path, wantOff, what)
			if got, _ := fsys.ReadFile(path); !bytes.Equal(got, damaged) {
				t.Fatalf("%s: a refused Open changed the segment", what)
			}

			l, err = Open(memDir, Options{FS: fsys, Salvage: true})
			if err != nil {
				t.Fatalf("%s: Open with Salvage: %v", what, err)
			}
			checkPrefix(t, replayAll(t, l, 1), k)
			tr := l.Recovery().Truncated
			if tr == nil || tr.Tail || tr.Offset != wantOff || tr.Bytes != int64(len(full))-wantOff {
				t.Fatalf("%s: salvage Truncated = %+v", what, tr)
			}
			checkSalvaged(t, fsys, tr, damaged[wantOff:], what)
			mustClose(t, l)
		}
	}
}

// multiSegmentLog writes n records of 300 bytes with 4 KiB segments.
func multiSegmentLog(t *testing.T, n int) (*crashfs.FS, []segment) {
	t.Helper()
	fsys := crashfs.New()
	l := openLog(t, memDir, Options{FS: fsys, SegmentSize: 4 << 10})
	for i := range n {
		if _, err := l.Write(context.Background(), bytes.Repeat([]byte{byte(i)}, 300)); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	segs, err := listSegments(fsys, memDir)
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	return fsys, segs
}

func TestFlippedBitInEarlierSegment(t *testing.T) {
	const n, size = 40, recordHeaderSize + 300
	src, segs := multiSegmentLog(t, n)
	first := segs[0]
	dir := memDir
	path := filepath.Join(dir, first.name)
	orig, _ := src.ReadFile(path)
	for b := range orig {
		// Every byte of the segment header and of each record header,
		// and a spread of payload bytes.
		if b >= headerSize && (b-headerSize)%size >= recordHeaderSize+2 && b%23 != 0 {
			continue
		}
		bit := b % 8
		fsys := src.Clone()
		fsys.WriteFile(path, flip(orig, b, bit))
		recOff := int64(0)
		if b >= headerSize {
			recOff = headerSize + (int64(b)-headerSize)/size*size
		}

		_, err := Open(dir, Options{FS: fsys})
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != path || ce.Offset != recOff {
			t.Fatalf("byte %d: Open = %v, want ErrCorrupt in %s at %d", b, err, path, recOff)
		}

		l, err := Open(dir, Options{FS: fsys, Salvage: true})
		if err != nil {
			t.Fatalf("byte %d: Open with Salvage: %v", b, err)
		}
		tr := l.Recovery().Truncated
		if tr == nil || tr.Tail || tr.Offset != recOff || len(tr.MovedSegments) != len(segs)-1 {
			t.Fatalf("byte %d: salvage Truncated = %+v", b, tr)
		}
		// The cut part of the first segment and every later segment are
		// kept in the salvage folder, byte for byte.
		want := flip(orig, b, bit)[recOff:]
		for _, s := range segs[1:] {
			sb, _ := src.ReadFile(filepath.Join(dir, s.name))
			want = append(want, sb...)
		}
		checkSalvaged(t, fsys, tr, want, fmt.Sprintf("byte %d", b))
		kept := 0
		if recOff > 0 {
			kept = int((recOff - headerSize) / size)
		}
		got := replayAll(t, l, 1)
		if len(got) != kept || (kept > 0 && got[kept-1].lsn != uint64(kept)) {
			t.Fatalf("byte %d: salvage kept %d records, want %d", b, len(got), kept)
		}
		if lsn, err := l.Write(context.Background(), []byte("after")); err != nil || lsn != uint64(kept+1) {
			t.Fatalf("byte %d: Write after salvage = %d, %v", b, lsn, err)
		}
		mustClose(t, l)
		l = openLog(t, dir, Options{FS: fsys})
		if l.Recovery().Truncated != nil || l.Recovery().LastLSN != uint64(kept+1) {
			t.Fatalf("byte %d: reopen after salvage: %+v", b, l.Recovery())
		}
		mustClose(t, l)
	}
}

func TestMissingSegmentIsCorruption(t *testing.T) {
	fsys, segs := multiSegmentLog(t, 40)
	dir := memDir
	fsys.Remove(filepath.Join(dir, segs[1].name))
	_, err := Open(dir, Options{FS: fsys})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != filepath.Join(dir, segs[2].name) || !strings.Contains(ce.Reason, "missing") {
		t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, segs[2].name)
	}
	l, err := Open(dir, Options{FS: fsys, Salvage: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, l)
	if got := replayAll(t, l, 1); len(got) != int(segs[1].first-1) {
		t.Fatalf("salvage kept %d records, want the %d of the first segment", len(got), segs[1].first-1)
	}
}

func TestValidRecordWithWrongLSNIsCorruption(t *testing.T) {
	// A record that verifies but skips LSNs means records are missing: not
	// something a crash leaves.
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	writeRecords(t, l, 0, 3)
	mustClose(t, l)
	path := filepath.Join(dir, segmentName(1))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	p := []byte("stale")
	f.Write(appendRecord(nil, 9, p, payloadCRC(p)))
	f.Close()
	_, err := Open(dir, Options{})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Offset != recordEnds(3)[3] || !strings.Contains(ce.Reason, "lsn 9, want 4") {
		t.Fatalf("Open = %v, want ErrCorrupt naming the record with lsn 9", err)
	}
}

func TestHeaderNameMismatchIsDamage(t *testing.T) {
	dir := t.TempDir()
	h := appendHeader(nil, 5)
	os.WriteFile(filepath.Join(dir, segmentName(1)), h, 0o644)
	os.WriteFile(filepath.Join(dir, segmentName(2)), appendHeader(nil, 2), 0o644)
	_, err := Open(dir, Options{})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != 0 || !strings.Contains(ce.Reason, "name says 1") {
		t.Fatalf("Open = %v", err)
	}
}

// A crash on a full volume leaves a torn tail, and the restart finds the volume still
// full: the tail is cut without its copy (Truncation.SaveError says why) rather than the
// start failing, as it did once torn tails were copied aside.
func TestTornTailIsCutWhenItsCopyCannotBeWritten(t *testing.T) {
	const n = 4
	full := writeSegmentFile(t, n)
	dir := t.TempDir()
	path := filepath.Join(dir, segmentName(1))
	if err := os.WriteFile(path, full[:len(full)-3], 0o640); err != nil { // a torn last record
		t.Fatal(err)
	}
	fsys := &testFS{}
	fsys.mu.Lock()
	fsys.onOpen = func(name string, flag int) error {
		if flag&os.O_CREATE != 0 && strings.Contains(name, SalvageDir) {
			return &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
		}
		return nil
	}
	fsys.mu.Unlock()
	l, err := Open(dir, Options{FS: fsys})
	if err != nil {
		t.Fatalf("Open after a torn tail on a full volume: %v", err)
	}
	defer l.Close()
	tr := l.Recovery().Truncated
	if tr == nil || !tr.Tail || len(tr.SavedTo) != 0 || !strings.Contains(tr.SaveError, "no space left") {
		t.Fatalf("Truncated = %+v; want the tail cut, no copy, the reason", tr)
	}
	checkPrefix(t, replayAll(t, l, 1), n-1)
}
