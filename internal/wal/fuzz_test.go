package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/crashfs"
)

const fuzzMaxRecord = 1 << 16

// FuzzReplay feeds arbitrary bytes to the decoder as a segment and checks
// that it never panics or over-allocates, that what it accepts re-encodes to
// exactly the bytes it consumed, and that Open and Replay agree with it.
func FuzzReplay(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sr := newSegmentReader(bytes.NewReader(data), fuzzMaxRecord)
		first, err := sr.readHeader()
		var recs []entry
		end := int64(0)
		if err == nil {
			end = headerSize
			for {
				var lsn uint64
				var p []byte
				lsn, p, err = sr.record()
				if err != nil {
					break
				}
				if want := first + uint64(len(recs)); lsn != want {
					t.Fatalf("record %d has lsn %d, want %d", len(recs), lsn, want)
				}
				if len(p) > fuzzMaxRecord {
					t.Fatalf("payload of %d bytes above the limit", len(p))
				}
				recs = append(recs, entry{lsn, bytes.Clone(p)})
				end = sr.off
			}
		}
		var d *damage
		switch {
		case errors.Is(err, io.EOF):
			if end != int64(len(data)) {
				t.Fatalf("clean end at %d of %d bytes", end, len(data))
			}
		case errors.As(err, &d):
			if d.offset != end {
				t.Fatalf("damage at %d, valid prefix ends at %d", d.offset, end)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if end > 0 {
			re := appendHeader(nil, first)
			for _, r := range recs {
				re = appendRecord(re, r.lsn, r.payload, payloadCRC(r.payload))
			}
			if !bytes.Equal(re, data[:end]) {
				t.Fatalf("re-encoding the %d decoded records differs from the input prefix", len(recs))
			}
		}

		// The same bytes as the only segment of a log on disk.
		if end == 0 {
			first = 1
		}
		// Open either recovers (a clean segment or a torn tail) or refuses
		// with the decoder's damage; with Salvage it always recovers.
		fsys := crashfs.New()
		path := filepath.Join(memDir, segmentName(first))
		fsys.WriteFile(path, data)
		l, err := Open(memDir, Options{FS: fsys, MaxRecordSize: fuzzMaxRecord})
		if err != nil {
			var ce *CorruptError
			if d == nil || !errors.As(err, &ce) || ce.File != path || ce.Offset != d.offset {
				t.Fatalf("Open = %v, decoder damage %v", err, d)
			}
			if l, err = Open(memDir, Options{FS: fsys, MaxRecordSize: fuzzMaxRecord, Salvage: true}); err != nil {
				t.Fatalf("Open with Salvage: %v", err)
			}
		}
		defer l.Close()
		var got []entry
		if _, err := l.Replay(first, func(lsn uint64, p []byte) error {
			got = append(got, entry{lsn, bytes.Clone(p)})
			return nil
		}); err != nil {
			t.Fatalf("Replay: %v", err)
		}
		if len(got) != len(recs) {
			t.Fatalf("Replay gave %d records, decoder %d", len(got), len(recs))
		}
		if tr := l.Recovery().Truncated; (tr != nil) != (d != nil) {
			t.Fatalf("Recovery.Truncated = %+v, decoder damage %v", tr, d)
		}
		if lsn, err := l.Write(context.Background(), []byte("next")); err != nil || lsn != first+uint64(len(recs)) {
			t.Fatalf("Write after recovery = %d, %v", lsn, err)
		}
	})
}

// classifyPayload returns the payload of record i of FuzzClassify's logs:
// 0 to 396 bytes, so that a few dozen records span several 4 KiB segments.
func classifyPayload(i int) []byte {
	p := make([]byte, (i*97)%397)
	for j := range p {
		p[j] = byte(i*13 + j*7 + 1)
	}
	return p
}

// recSpan is where one record lies in a segment file.
type recSpan struct {
	lsn        uint64
	start, end int64
}

// spans decodes an intact segment into the positions of its records.
func spans(t *testing.T, data []byte) []recSpan {
	t.Helper()
	sr := newSegmentReader(bytes.NewReader(data), fuzzMaxRecord)
	if _, err := sr.readHeader(); err != nil {
		t.Fatal(err)
	}
	var out []recSpan
	for {
		start := sr.off
		lsn, _, err := sr.record()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recSpan{lsn, start, sr.off})
	}
}

// FuzzClassify damages one segment of a valid log — a flipped bit, a
// truncation or a zeroed range, anywhere in any segment — and checks the
// recovery classifier against what the damage actually destroyed:
//
//   - Open either recovers an exact prefix of the records written, losing
//     only records whose bytes were destroyed, or refuses with a
//     *CorruptError naming the damaged segment and the offset of its first
//     damaged record (0 for the header; for a segment truncated at a record
//     boundary, the next segment at 0).
//   - It must refuse when the damage is outside the last segment, when an
//     intact record follows the first damaged one, or when a damaged header
//     is followed by anything (a header is durable before records are
//     appended); it must recover when the damage is a tail of the last
//     segment with an intact header.
//   - With Salvage it recovers every record before the damage, and the bytes
//     it cut are in the salvage folder, unchanged.
func FuzzClassify(f *testing.F) {
	// n records, segment counted from the last (0 is the last), operation
	// (0 flip, 1 truncate, 2 zero), position, argument (bit to flip or
	// bytes to zero).
	f.Add(uint8(39), uint8(2), uint8(0), uint32(30), uint16(3))     // flip in the first segment's first record
	f.Add(uint8(39), uint8(1), uint8(2), uint32(100), uint16(4095)) // zeroed page in a middle segment
	f.Add(uint8(39), uint8(0), uint8(0), uint32(30), uint16(3))     // flip in the last segment, valid records after
	f.Add(uint8(39), uint8(0), uint8(0), uint32(5), uint16(1))      // flip in the last segment's header
	f.Add(uint8(39), uint8(0), uint8(1), uint32(100), uint16(0))    // torn tail of the last segment
	f.Add(uint8(39), uint8(1), uint8(1), uint32(100), uint16(0))    // truncated earlier segment
	f.Add(uint8(39), uint8(0), uint8(2), uint32(0), uint16(4095))   // zeroed first page of the last segment
	f.Add(uint8(39), uint8(0), uint8(2), uint32(24), uint16(40))    // zeroed record in the last segment
	f.Add(uint8(39), uint8(0), uint8(2), uint32(60), uint16(4095))  // zeroed from a record to the end
	f.Add(uint8(3), uint8(0), uint8(2), uint32(0), uint16(23))      // zeroed header of the only segment
	f.Add(uint8(3), uint8(0), uint8(0), uint32(40), uint16(7))      // flip in the only segment, valid records after
	f.Add(uint8(1), uint8(0), uint8(0), uint32(40), uint16(7))      // flip in the only record
	f.Add(uint8(39), uint8(1), uint8(1), uint32(0), uint16(0))      // earlier segment truncated to nothing
	f.Fuzz(func(t *testing.T, n, segSel, op uint8, pos uint32, arg uint16) {
		src := crashfs.New()
		opts := Options{FS: src, SegmentSize: 4 << 10, MaxRecordSize: fuzzMaxRecord}
		l := openLog(t, memDir, opts)
		total := 1 + int(n)%40
		for i := range total {
			if _, err := l.Write(context.Background(), classifyPayload(i)); err != nil {
				t.Fatal(err)
			}
		}
		mustClose(t, l)
		segs, err := listSegments(src, memDir)
		if err != nil {
			t.Fatal(err)
		}
		s := len(segs) - 1 - int(segSel)%len(segs)
		last := s == len(segs)-1
		path := filepath.Join(memDir, segs[s].name)
		orig, _ := src.ReadFile(path)
		recs := spans(t, orig)
		t.Logf("%d segments, damaged one holds %d records in %d bytes", len(segs), len(recs), len(orig))

		damaged := bytes.Clone(orig)
		switch op % 3 {
		case 0:
			damaged[int(pos)%len(orig)] ^= 1 << (arg % 8)
		case 1:
			damaged = damaged[:int(pos)%len(orig)]
		case 2:
			a := int(pos) % len(orig)
			clear(damaged[a:min(len(orig), a+1+int(arg)%4096)])
		}
		changed := func(a, b int64) bool {
			return int64(len(damaged)) < b || !bytes.Equal(orig[a:b], damaged[a:b])
		}
		headerChanged := changed(0, headerSize)
		firstBad := len(recs) // index in recs of the first destroyed record
		for i, r := range recs {
			if changed(r.start, r.end) {
				firstBad = i
				break
			}
		}
		intactAfter := false // an intact record follows the first damage
		from := min(firstBad+1, len(recs))
		if headerChanged {
			from = 0
		}
		for _, r := range recs[from:] {
			if !changed(r.start, r.end) {
				intactAfter = true
			}
		}
		anyChange := headerChanged || firstBad < len(recs)
		wantOff := int64(0)
		if !headerChanged && firstBad < len(recs) {
			wantOff = recs[firstBad].start
		}
		// Records that survive any correct recovery: everything before the
		// damage.
		keep := int(segs[s].first) - 1 + firstBad
		if headerChanged {
			keep = int(segs[s].first) - 1
		}
		// A truncation at a record boundary leaves a clean, short segment.
		boundaryCut := len(damaged) < len(orig) && (len(damaged) == headerSize ||
			slices.ContainsFunc(recs, func(r recSpan) bool { return r.end == int64(len(damaged)) }))

		fsys := src.Clone()
		fsys.WriteFile(path, damaged)
		what := fmt.Sprintf("segment %d of %d, op %d at %d (%d): header changed %v, first damaged record %d of %d, intact after %v",
			s, len(segs), op%3, pos, arg, headerChanged, firstBad, len(recs), intactAfter)
		l, err = Open(memDir, Options{FS: fsys, MaxRecordSize: fuzzMaxRecord})
		switch {
		case err == nil:
			if anyChange && !last || intactAfter || headerChanged && len(damaged) > headerSize {
				t.Fatalf("%s: Open accepted the damage", what)
			}
			got := replayAll(t, l, 1)
			for i, e := range got {
				if e.lsn != uint64(i+1) || !bytes.Equal(e.payload, classifyPayload(i)) {
					t.Fatalf("%s: record %d differs", what, i)
				}
			}
			if len(got) < keep {
				t.Fatalf("%s: recovered %d records, %d were intact before the damage", what, len(got), keep)
			}
			if !anyChange && len(got) != total {
				t.Fatalf("%s: undamaged log recovered %d of %d records", what, len(got), total)
			}
			mustClose(t, l)
			return
		case !errors.Is(err, ErrCorrupt):
			t.Fatalf("%s: Open = %v", what, err)
		}
		if last && !headerChanged && !intactAfter {
			t.Fatalf("%s: a torn tail refused: %v", what, err)
		}
		if boundaryCut {
			// The segment ends cleanly, early: the next one does not follow.
			if last {
				t.Fatalf("%s: a clean last segment refused: %v", what, err)
			}
			checkCorrupt(t, err, filepath.Join(memDir, segs[s+1].name), 0, what)
		} else {
			checkCorrupt(t, err, path, wantOff, what)
		}

		// Salvage keeps the prefix and moves the rest aside.
		l, err = Open(memDir, Options{FS: fsys, MaxRecordSize: fuzzMaxRecord, Salvage: true})
		if err != nil {
			t.Fatalf("%s: Open with Salvage: %v", what, err)
		}
		checkPrefixOf(t, replayAll(t, l, 1), keep, classifyPayload)
		tr := l.Recovery().Truncated
		if tr == nil || tr.Tail {
			t.Fatalf("%s: salvage Truncated = %+v", what, tr)
		}
		var want []byte
		if !boundaryCut && int64(len(damaged)) > wantOff {
			want = damaged[wantOff:]
		}
		for _, later := range segs[s+1:] {
			b, _ := src.ReadFile(filepath.Join(memDir, later.name))
			want = append(want, b...)
		}
		checkSalvaged(t, fsys, tr, want, what)
		// The salvaged log goes on, and opens cleanly afterwards.
		if lsn, err := l.Write(context.Background(), classifyPayload(keep)); err != nil || lsn != uint64(keep+1) {
			t.Fatalf("%s: Write after salvage = %d, %v", what, lsn, err)
		}
		mustClose(t, l)
		l, err = Open(memDir, Options{FS: fsys, MaxRecordSize: fuzzMaxRecord})
		if err != nil {
			t.Fatalf("%s: Open after salvage: %v", what, err)
		}
		if tr := l.Recovery().Truncated; tr != nil {
			t.Fatalf("%s: Open after salvage cut again: %+v", what, tr)
		}
		checkPrefixOf(t, replayAll(t, l, 1), keep+1, classifyPayload)
		mustClose(t, l)
	})
}

// checkPrefixOf asserts that got holds exactly records 0..n-1 with the
// payloads p(i) from LSN 1 on.
func checkPrefixOf(t *testing.T, got []entry, n int, p func(int) []byte) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, e := range got {
		if e.lsn != uint64(i+1) || !bytes.Equal(e.payload, p(i)) {
			t.Fatalf("record %d: lsn %d, want %d, or payload differs", i, e.lsn, i+1)
		}
	}
}
