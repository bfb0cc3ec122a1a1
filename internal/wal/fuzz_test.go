package wal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
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
		fsys := newMemFS()
		path := filepath.Join(memDir, segmentName(first))
		fsys.writeFile(path, data)
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
