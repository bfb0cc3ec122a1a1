package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// payload returns a deterministic payload for record i with a length that
// varies from 0 to 40 bytes.
func payload(i int) []byte {
	p := make([]byte, (i*7)%41)
	for j := range p {
		p[j] = byte(i*31 + j)
	}
	return p
}

type entry struct {
	lsn     uint64
	payload []byte
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func writeRecords(t testing.TB, l *Log, from, n int) []uint64 {
	t.Helper()
	var lsns []uint64
	for i := from; i < from+n; i++ {
		lsn, err := l.Write(context.Background(), payload(i))
		if err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		lsns = append(lsns, lsn)
	}
	return lsns
}

func replayAll(t testing.TB, l *Log, from uint64) []entry {
	t.Helper()
	var got []entry
	if _, err := l.Replay(from, func(lsn uint64, p []byte) error {
		got = append(got, entry{lsn, bytes.Clone(p)})
		return nil
	}); err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return got
}

// checkPrefix asserts that got holds exactly records 0..n-1 as written by
// writeRecords starting at LSN 1.
func checkPrefix(t testing.TB, got []entry, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, e := range got {
		if e.lsn != uint64(i+1) || !bytes.Equal(e.payload, payload(i)) {
			t.Fatalf("record %d: lsn %d payload %x, want lsn %d payload %x", i, e.lsn, e.payload, i+1, payload(i))
		}
	}
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWriteReopenReplay(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	if got := l.Recovery(); got.Records != 0 || got.Segments != 1 || got.Truncated != nil || got.FirstLSN != 1 {
		t.Fatalf("fresh Recovery = %+v", got)
	}
	lsns := writeRecords(t, l, 0, 50)
	if want := uint64(50); lsns[49] != want || l.DurableLSN() != want || l.LastLSN() != want {
		t.Fatalf("last lsn %d durable %d, want %d", lsns[49], l.DurableLSN(), want)
	}
	mustClose(t, l)

	l = openLog(t, dir, Options{})
	defer mustClose(t, l)
	rec := l.Recovery()
	if rec.Records != 50 || rec.LastLSN != 50 || rec.FirstLSN != 1 || rec.Truncated != nil {
		t.Fatalf("Recovery = %+v", rec)
	}
	checkPrefix(t, replayAll(t, l, 0), 50)
	if got := replayAll(t, l, 41); len(got) != 10 || got[0].lsn != 41 {
		t.Fatalf("Replay(41) gave %d records starting at %d", len(got), got[0].lsn)
	}
	if got := replayAll(t, l, 51); len(got) != 0 {
		t.Fatalf("Replay past the end gave %d records", len(got))
	}
	// Appending continues the sequence.
	if lsn, err := l.Write(context.Background(), payload(50)); err != nil || lsn != 51 {
		t.Fatalf("Write after reopen = %d, %v; want 51", lsn, err)
	}
}

func TestReplayCallbackErrorStops(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer mustClose(t, l)
	writeRecords(t, l, 0, 10)
	stop := errors.New("stop")
	st, err := l.Replay(1, func(lsn uint64, _ []byte) error {
		if lsn == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || st.Records != 3 || st.LastLSN != 3 {
		t.Fatalf("Replay = %+v, %v; want 3 records and the callback's error", st, err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"unknown policy", Options{Sync: SyncPolicy(7)}},
		{"negative interval", Options{SyncInterval: -time.Second}},
		{"tiny segment", Options{SegmentSize: 100}},
		{"negative segment", Options{SegmentSize: -1}},
		{"negative record size", Options{MaxRecordSize: -1}},
		{"huge record size", Options{MaxRecordSize: MaxRecordSizeLimit + 1}},
	} {
		t.Run(tc.name+" is rejected", func(t *testing.T) {
			if _, err := Open(t.TempDir(), tc.opts); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Open = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestTooLargeRecordRefused(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{MaxRecordSize: 100})
	defer mustClose(t, l)
	if _, err := l.Write(context.Background(), make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write = %v, want ErrTooLarge", err)
	}
	if _, err := l.Write(context.Background(), make([]byte, 100)); err != nil {
		t.Fatalf("Write at the limit: %v", err)
	}
}

func TestLengthAboveLimitIsDamage(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	writeRecords(t, l, 0, 3)
	if _, err := l.Write(context.Background(), make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{MaxRecordSize: 100})
	defer mustClose(t, l)
	tr := l.Recovery().Truncated
	if tr == nil || !tr.Tail || tr.Bytes != recordHeaderSize+500 {
		t.Fatalf("Truncated = %+v, want the 500-byte record cut", tr)
	}
	checkPrefix(t, replayAll(t, l, 1), 3)
}

func TestCloseFlushesAndRefusesLaterWrites(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{Sync: SyncInterval, SyncInterval: time.Hour})
	var lsns []uint64
	for i := range 20 {
		lsn, err := l.Append(payload(i))
		if err != nil {
			t.Fatal(err)
		}
		lsns = append(lsns, lsn)
	}
	mustClose(t, l)
	if l.DurableLSN() != 20 {
		t.Fatalf("DurableLSN after Close = %d, want 20", l.DurableLSN())
	}
	if _, err := l.Append(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	l = openLog(t, dir, Options{})
	defer mustClose(t, l)
	checkPrefix(t, replayAll(t, l, 1), 20)
}

func TestSyncInterval(t *testing.T) {
	fsys := &testFS{}
	l := openLog(t, t.TempDir(), Options{FS: fsys, Sync: SyncInterval, SyncInterval: time.Hour})
	defer mustClose(t, l)
	before := fsys.fileSyncs.Load()
	lsns := writeRecords(t, l, 0, 10)
	if got := fsys.fileSyncs.Load(); got != before {
		t.Fatalf("%d fsyncs during interval-mode writes, want none before the interval", got-before)
	}
	if d := l.DurableLSN(); d != 0 {
		t.Fatalf("DurableLSN = %d before any fsync, want 0", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, lsns[9]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDurable without fsync = %v, want deadline exceeded", err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := l.DurableLSN(); d != 10 {
		t.Fatalf("DurableLSN after Sync = %d, want 10", d)
	}
	if err := l.WaitDurable(context.Background(), 11); !errors.Is(err, ErrUnknownLSN) {
		t.Fatalf("WaitDurable(unappended) = %v, want ErrUnknownLSN", err)
	}
}

func TestSyncIntervalBackgroundFsync(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{Sync: SyncInterval, SyncInterval: time.Millisecond})
	defer mustClose(t, l)
	lsns := writeRecords(t, l, 0, 5)
	if err := l.WaitDurable(context.Background(), lsns[4]); err != nil {
		t.Fatal(err)
	}
	if d := l.DurableLSN(); d < lsns[4] {
		t.Fatalf("DurableLSN = %d after WaitDurable(%d)", d, lsns[4])
	}
}

func TestGroupCommit(t *testing.T) {
	const writers = 8
	t.Run("writers waiting during an fsync share the next one", func(t *testing.T) {
		fsys := &testFS{}
		l := openLog(t, t.TempDir(), Options{FS: fsys})
		defer mustClose(t, l)
		// Hold the first group commit until every writer has appended, so
		// the schedule is deterministic: at most two fsyncs for 8 writes.
		release := make(chan struct{})
		var once sync.Once
		fsys.setSync(func(string) error {
			once.Do(func() { <-release })
			return nil
		})
		before := fsys.fileSyncs.Load()
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				if _, err := l.Write(context.Background(), payload(i)); err != nil {
					t.Error(err)
				}
			})
		}
		for l.Stats().Appends < writers {
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()
		if got := fsys.fileSyncs.Load() - before; got > 2 {
			t.Fatalf("%d fsyncs for %d concurrent writes, want at most 2", got, writers)
		}
	})
	t.Run("concurrent writers get unique contiguous durable lsns", func(t *testing.T) {
		const each = 100
		fsys := &testFS{}
		dir := t.TempDir()
		l := openLog(t, dir, Options{FS: fsys, SegmentSize: 8 << 10})
		before := fsys.fileSyncs.Load()
		var mu sync.Mutex
		written := map[uint64][]byte{}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					p := []byte(fmt.Sprintf("writer %d record %d", w, i))
					lsn, err := l.Write(context.Background(), p)
					if err != nil {
						t.Error(err)
						return
					}
					if d := l.DurableLSN(); d < lsn {
						t.Errorf("Write returned lsn %d with DurableLSN %d", lsn, d)
					}
					mu.Lock()
					written[lsn] = p
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		syncs := fsys.fileSyncs.Load() - before
		mustClose(t, l)
		if syncs > writers*each {
			t.Fatalf("%d fsyncs for %d writes", syncs, writers*each)
		}
		t.Logf("%d writes, %d fsyncs", writers*each, syncs)
		l = openLog(t, dir, Options{})
		defer mustClose(t, l)
		got := replayAll(t, l, 1)
		if len(got) != writers*each {
			t.Fatalf("replayed %d records, want %d", len(got), writers*each)
		}
		for i, e := range got {
			if e.lsn != uint64(i+1) || !bytes.Equal(written[e.lsn], e.payload) {
				t.Fatalf("record %d: lsn %d payload %q, written %q", i, e.lsn, e.payload, written[e.lsn])
			}
		}
	})
}

func TestRotationAndTruncateBefore(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 << 10}
	l := openLog(t, dir, opts)
	big := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 300) }
	for i := range 100 {
		if _, err := l.Write(context.Background(), big(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := listSegments(OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 {
		t.Fatalf("%d segments after 30 KB with 4 KiB segments", len(segs))
	}
	if st := l.Stats(); st.Segments != len(segs) || st.Rotations != uint64(len(segs)-1) {
		t.Fatalf("Stats = %+v with %d segment files", st, len(segs))
	}
	for _, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > opts.SegmentSize {
			t.Fatalf("%s is %d bytes, over the %d segment size", s.name, fi.Size(), opts.SegmentSize)
		}
	}

	cut := segs[2].first + 1 // inside the third segment
	n, err := l.TruncateBefore(cut)
	if err != nil || n != 2 {
		t.Fatalf("TruncateBefore(%d) = %d, %v; want the 2 segments below it", cut, n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, segs[1].name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment %s still there: %v", segs[1].name, err)
	}
	if _, err := l.Replay(segs[2].first-1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Replay below the log = %v, want ErrTruncated", err)
	}
	got := replayAll(t, l, cut)
	if len(got) != int(100-cut+1) || got[0].lsn != cut || !bytes.Equal(got[0].payload, big(int(cut-1))) {
		t.Fatalf("Replay(%d) = %d records from %d", cut, len(got), got[0].lsn)
	}
	// Truncating everything keeps the active segment.
	if _, err := l.TruncateBefore(1000); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments != 1 || st.FirstLSN != segs[len(segs)-1].first {
		t.Fatalf("after truncating all: Stats = %+v", st)
	}
	mustClose(t, l)

	l = openLog(t, dir, opts)
	defer mustClose(t, l)
	rec := l.Recovery()
	if rec.LastLSN != 100 || rec.FirstLSN != segs[len(segs)-1].first || rec.Truncated != nil {
		t.Fatalf("Recovery after truncation = %+v", rec)
	}
	if lsn, err := l.Write(context.Background(), nil); err != nil || lsn != 101 {
		t.Fatalf("Write = %d, %v; want 101", lsn, err)
	}
}

func TestRecordLargerThanSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 4 << 10})
	p := bytes.Repeat([]byte("x"), 10<<10)
	for range 3 {
		if _, err := l.Write(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	segs, _ := listSegments(OSFS{}, dir)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want one per oversized record", len(segs))
	}
	l = openLog(t, dir, Options{SegmentSize: 4 << 10})
	defer mustClose(t, l)
	if got := replayAll(t, l, 1); len(got) != 3 || !bytes.Equal(got[2].payload, p) {
		t.Fatalf("replayed %d records", len(got))
	}
}

func TestWaitHonoursContext(t *testing.T) {
	fsys := &testFS{}
	l := openLog(t, t.TempDir(), Options{FS: fsys})
	block := make(chan struct{})
	fsys.setSync(func(string) error { <-block; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lsn, err := l.Write(ctx, []byte("x"))
	if !errors.Is(err, context.Canceled) || lsn != 1 {
		t.Fatalf("Write with cancelled ctx = %d, %v", lsn, err)
	}
	close(block)
	if err := l.WaitDurable(context.Background(), lsn); err != nil {
		t.Fatalf("record queued by a cancelled Write did not become durable: %v", err)
	}
	mustClose(t, l)
}

func TestSegmentNames(t *testing.T) {
	for _, lsn := range []uint64{1, 42, 1<<64 - 1} {
		name := segmentName(lsn)
		if len(name) != len("wal-")+20+len(".log") {
			t.Fatalf("segmentName(%d) = %q", lsn, name)
		}
		if got, ok := parseSegmentName(name); !ok || got != lsn {
			t.Fatalf("parseSegmentName(%q) = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"wal-1.log", "wal-00000000000000000000.log", "wal-0000000000000000000x.log", "wal-00000000000000000001.log.tmp", "x.log"} {
		if _, ok := parseSegmentName(name); ok {
			t.Fatalf("parseSegmentName(%q) accepted", name)
		}
	}
}

func TestUnrelatedFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
	os.Mkdir(filepath.Join(dir, "wal-00000000000000000009.log.d"), 0o755)
	l := openLog(t, dir, Options{})
	writeRecords(t, l, 0, 3)
	mustClose(t, l)
	l = openLog(t, dir, Options{})
	defer mustClose(t, l)
	checkPrefix(t, replayAll(t, l, 1), 3)
	names, _ := os.ReadDir(dir)
	if !slices.ContainsFunc(names, func(e os.DirEntry) bool { return e.Name() == "notes.txt" }) {
		t.Fatal("unrelated file removed")
	}
}
