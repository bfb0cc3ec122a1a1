package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ReplayStats describes one Replay.
type ReplayStats struct {
	Records  uint64 // records passed to the callback
	Bytes    uint64 // payload bytes passed to the callback
	FirstLSN uint64 // first LSN passed; 0 if none
	LastLSN  uint64 // last LSN passed; 0 if none
	Segments int    // segment files read
}

// Replay calls fn for every record with an LSN of at least fromLSN that had
// been written when Replay started, in LSN order. The payload is only valid
// during the call. An error from fn stops the replay and is returned as is.
// Asking for records that TruncateBefore deleted returns ErrTruncated.
// Replay is meant to run after Open, before the owner starts writing.
func (l *Log) Replay(fromLSN uint64, fn func(lsn uint64, payload []byte) error) (ReplayStats, error) {
	l.mu.Lock()
	segs := append([]segment(nil), l.segments...)
	upto := l.writtenLSN
	l.mu.Unlock()

	var st ReplayStats
	fromLSN = max(fromLSN, 1)
	if fromLSN < segs[0].first {
		return st, fmt.Errorf("%w: replay from lsn %d, log starts at %d", ErrTruncated, fromLSN, segs[0].first)
	}
	if fromLSN > upto {
		return st, nil
	}
	for i, seg := range segs {
		if i+1 < len(segs) && segs[i+1].first <= fromLSN {
			continue // entirely below fromLSN
		}
		if seg.first > upto {
			break
		}
		st.Segments++
		done, err := l.replaySegment(seg, fromLSN, upto, fn, &st)
		if err != nil || done {
			return st, err
		}
	}
	return st, nil
}

// replaySegment replays one segment; done reports that upto was reached.
func (l *Log) replaySegment(seg segment, fromLSN, upto uint64, fn func(uint64, []byte) error, st *ReplayStats) (done bool, err error) {
	path := filepath.Join(l.dir, seg.name)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	sr := newSegmentReader(f, l.opts.MaxRecordSize)
	first, err := sr.readHeader()
	if err == nil && first != seg.first {
		err = &damage{0, fmt.Sprintf("segment header first lsn %d, name says %d", first, seg.first)}
	}
	for err == nil {
		var lsn uint64
		var p []byte
		lsn, p, err = sr.record()
		if err != nil {
			break
		}
		if lsn < fromLSN {
			continue
		}
		if err := fn(lsn, p); err != nil {
			return true, err
		}
		st.Records++
		st.Bytes += uint64(len(p))
		if st.FirstLSN == 0 {
			st.FirstLSN = lsn
		}
		st.LastLSN = lsn
		if lsn >= upto {
			return true, nil
		}
	}
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	var d *damage
	if errors.As(err, &d) {
		return true, d.corrupt(l.dir, seg.name)
	}
	return true, fmt.Errorf("replay %s: %w", path, err)
}
