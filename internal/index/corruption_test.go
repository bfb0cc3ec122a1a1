package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
	"github.com/hardneg/hardneg/internal/wal"
)

// The corruption matrix damages a copy of a data directory in one place — a
// flipped bit, a truncation or a zeroed 4 KiB page; in the first, a middle and
// the last log segment, the last segment's header, the final record, and the
// snapshots — and checks that Open ends in one of:
//
//   - exact: every acknowledged write is back (a damaged snapshot replaced by the
//     older one and the log);
//   - refuse: Open fails with an error naming the damaged file and the offset;
//     with Salvage it starts with exactly the batches before the damage, and the
//     cut bytes are in wal/salvaged;
//   - tail: the damage is indistinguishable from what a crash leaves (a cut or
//     damaged end of the last segment with nothing valid after it): the batches
//     before it are back, the ones after it are not, and Recovery reports the
//     cut with its file and offset.
//
// Never a silent loss: a cell that loses a batch without reporting it fails.

const (
	matrixBatches = 40
	matrixItems   = 8
	matrixDim     = 32
	matrixSegment = 16 << 10
	pageSize      = 4 << 10
)

// matrixDir writes a pristine data directory: collection "c" (log record 1), then
// batches 1..40 (log record i+1 holds batch i). With snapshots, one is taken after
// batch 20 and one after batch 30, which truncates the log below the older one.
func matrixDir(t *testing.T, snapshots bool) (string, dbState) {
	t.Helper()
	dir := t.TempDir()
	db := openDB(t, Options{Dir: dir, SegmentBytes: matrixSegment})
	if _, err := db.create(engine.Config{Name: "c", Dim: matrixDim, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := 1; i <= matrixBatches; i++ {
		if _, err := db.Upsert("c", randBatch(r, fmt.Sprintf("b%d-", i), matrixItems, matrixDim), "items"); err != nil {
			t.Fatal(err)
		}
		if snapshots && (i == 20 || i == 30) {
			if _, err := db.Snapshot(context.Background(), "c"); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := stateOf(t, db)
	closeDB(t, db)
	return dir, want
}

// copyDir copies a data directory into a new temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// segLayout is one log segment: its path, size and where its records start.
type segLayout struct {
	path   string
	size   int64
	starts []int64 // record start offsets
	first  int     // LSN of its first record
}

// logLayout parses the framing of every segment in dir/wal.
func logLayout(t *testing.T, dir string) []segLayout {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "wal", "wal-*.log"))
	slices.Sort(paths)
	var out []segLayout
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := segLayout{path: p, size: int64(len(b)), first: int(binary.LittleEndian.Uint64(b[8:]))}
		for off := int64(24); off < int64(len(b)); off += 16 + int64(binary.LittleEndian.Uint32(b[off:])) {
			s.starts = append(s.starts, off)
		}
		out = append(out, s)
	}
	return out
}

// recordAt returns the index in s.starts of the record holding byte off.
func (s segLayout) recordAt(off int64) int {
	i, found := slices.BinarySearch(s.starts, off)
	if !found {
		i--
	}
	return i
}

// damageOp changes a file around offset at and returns the range [lo, hi) of
// original bytes it destroyed.
type damageOp struct {
	name  string
	apply func(b []byte, at int64) (out []byte, lo, hi int64)
}

var damageOps = []damageOp{
	{"flip", func(b []byte, at int64) ([]byte, int64, int64) {
		b[at] ^= 0x20
		return b, at, at + 1
	}},
	{"truncate", func(b []byte, at int64) ([]byte, int64, int64) {
		return b[:at], at, int64(len(b))
	}},
	{"zero-page", func(b []byte, at int64) ([]byte, int64, int64) {
		lo := at / pageSize * pageSize
		hi := min(lo+pageSize, int64(len(b)))
		clear(b[lo:hi])
		return b, lo, hi
	}},
}

// present returns which of batches 1..40 are in the collection, all or nothing
// each, as the count of a prefix; it fails on a gap or a partial batch.
func presentPrefix(t *testing.T, db *DB) int {
	t.Helper()
	c, err := db.lookup("c")
	if errors.Is(err, engine.ErrCollectionNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 1; i <= matrixBatches; i++ {
		var ids []string
		for j := range matrixItems {
			ids = append(ids, fmt.Sprintf("b%d-%d", i, j))
		}
		_, missing := c.Get(ids, false)
		switch {
		case len(missing) == 0 && n == i-1:
			n = i
		case len(missing) == len(ids):
		default:
			t.Fatalf("batch %d: %d of %d items missing, %d batches before it present", i, len(missing), len(ids), n)
		}
	}
	return n
}

func TestCorruptionMatrixLog(t *testing.T) {
	pristine, want := matrixDir(t, false)
	segs := logLayout(t, pristine)
	if len(segs) < 3 {
		t.Fatalf("%d log segments, the matrix needs 3", len(segs))
	}
	last := segs[len(segs)-1]
	mid := func(s segLayout) int64 { return s.starts[len(s.starts)/2] }
	// A record in the last segment's second page, with valid records after that page.
	lastMid := last.starts[last.recordAt(pageSize)+1]
	if lastMid+20 >= 2*pageSize || last.starts[len(last.starts)-1] < 2*pageSize {
		t.Fatalf("last segment layout %v does not fit the matrix", last.starts)
	}
	final := last.starts[len(last.starts)-1]
	type cell struct {
		target string
		seg    int   // index in segs
		at     int64 // offset the damage is applied at (plus a per-op shift below)
	}
	targets := []cell{
		{"first segment", 0, mid(segs[0])},
		{"middle segment", len(segs) / 2, mid(segs[len(segs)/2])},
		{"last segment", len(segs) - 1, lastMid},
		{"last segment header", len(segs) - 1, 0},
		{"final record", len(segs) - 1, final},
	}
	// The expected outcome of each cell; "tail" only where nothing valid follows.
	expect := map[string]string{
		"first segment/flip": "refuse", "first segment/truncate": "refuse", "first segment/zero-page": "refuse",
		"middle segment/flip": "refuse", "middle segment/truncate": "refuse", "middle segment/zero-page": "refuse",
		"last segment/flip": "refuse", "last segment/truncate": "tail", "last segment/zero-page": "refuse",
		// A segment's header is durable before wal.NewestFile names it: cut short later,
		// it was not torn by a crash.
		"last segment header/flip": "refuse", "last segment header/truncate": "refuse", "last segment header/zero-page": "refuse",
		"final record/flip": "tail", "final record/truncate": "tail", "final record/zero-page": "tail",
	}
	for _, tg := range targets {
		for _, op := range damageOps {
			name := tg.target + "/" + op.name
			t.Run(name, func(t *testing.T) {
				dir := copyDir(t, pristine)
				s := segs[tg.seg]
				path := strings.Replace(s.path, pristine, dir, 1)
				b, _ := os.ReadFile(path)
				at := tg.at + 20 // inside the payload of a record
				if tg.at == 0 {
					at = 5 // inside the version field of the header
				}
				b, lo, _ := op.apply(b, at)
				if err := os.WriteFile(path, b, 0o640); err != nil {
					t.Fatal(err)
				}
				// The first damaged record (0 = the header) and the batches before it.
				off, kept := int64(0), s.first-2
				if lo >= 24 {
					k := s.recordAt(lo)
					off, kept = s.starts[k], s.first+k-2
				}

				db, err := Open(Options{Dir: dir, SegmentBytes: matrixSegment, SnapshotBytes: -1, SnapshotInterval: -1})
				got := expect[name]
				switch {
				case got == "tail":
					if err != nil {
						t.Fatalf("Open = %v, want a torn tail cut", err)
					}
					tr := db.Recovery().Log.Truncated
					if tr == nil || !tr.Tail || tr.File != path || tr.Offset != off {
						t.Fatalf("Recovery.Log.Truncated = %+v, want a tail cut of %s at %d", tr, path, off)
					}
					if n := presentPrefix(t, db); n != kept {
						t.Fatalf("%d batches present, want the %d before the cut", n, kept)
					}
					closeDB(t, db)
					return
				case err == nil:
					t.Fatalf("Open started (%+v), want a refusal", db.Recovery().Log.Truncated)
				}
				checkRefusal(t, err, wal.ErrCorrupt, path, off)

				// Salvage keeps the prefix and moves the rest into wal/salvaged.
				db = openDB(t, Options{Dir: dir, SegmentBytes: matrixSegment, Salvage: true})
				tr := db.Recovery().Log.Truncated
				if tr == nil || tr.Tail || tr.File != path || tr.Offset != off {
					t.Fatalf("Recovery.Log.Truncated = %+v, want a salvage cut of %s at %d", tr, path, off)
				}
				if n := presentPrefix(t, db); n != kept {
					t.Fatalf("salvage kept %d batches, want the %d before the damage", n, kept)
				}
				var saved []byte
				for _, p := range tr.SavedTo {
					if filepath.Dir(p) != filepath.Join(dir, "wal", wal.SalvageDir) {
						t.Fatalf("cut bytes saved to %s", p)
					}
					sb, _ := os.ReadFile(p)
					saved = append(saved, sb...)
				}
				wantSaved := bytes.Clone(b[off:])
				for _, later := range segs[tg.seg+1:] {
					lb, _ := os.ReadFile(later.path)
					wantSaved = append(wantSaved, lb...)
				}
				if !bytes.Equal(saved, wantSaved) || tr.Bytes != int64(len(wantSaved)) {
					t.Fatalf("salvage saved %d bytes (reported %d), want the %d cut", len(saved), tr.Bytes, len(wantSaved))
				}
				closeDB(t, db)
			})
		}
	}
	// The untouched copy recovers exactly.
	db := openDB(t, Options{Dir: copyDir(t, pristine), SegmentBytes: matrixSegment})
	sameState(t, stateOf(t, db), want)
	closeDB(t, db)
}

// checkRefusal asserts that err wraps sentinel and names file and offset.
func checkRefusal(t *testing.T, err, sentinel error, file string, off int64) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("Open = %v, want %v", err, sentinel)
	}
	if msg := err.Error(); !strings.Contains(msg, file) || !strings.Contains(msg, fmt.Sprintf("offset %d", off)) {
		t.Fatalf("refusal %q does not name %s and offset %d", msg, file, off)
	}
}

func TestCorruptionMatrixSnapshots(t *testing.T) {
	pristine, want := matrixDir(t, true)
	snaps, _ := filepath.Glob(filepath.Join(pristine, storage.SnapDirName, "*"+storage.SnapSuffix))
	slices.Sort(snaps)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2", len(snaps))
	}
	if segs := logLayout(t, pristine); segs[0].first <= 1 {
		t.Fatal("the log was not truncated below the older snapshot")
	}
	older, newest := filepath.Base(snaps[0]), filepath.Base(snaps[1])
	for _, tc := range []struct {
		target  string
		damaged []string
		exact   bool // else refuse
	}{
		{"newest snapshot", []string{newest}, true},
		{"older snapshot", []string{older}, true},
		{"both snapshots", []string{older, newest}, false},
	} {
		for _, op := range damageOps {
			t.Run(tc.target+"/"+op.name, func(t *testing.T) {
				dir := copyDir(t, pristine)
				for _, name := range tc.damaged {
					path := filepath.Join(dir, storage.SnapDirName, name)
					b, _ := os.ReadFile(path)
					b, _, _ = op.apply(b, int64(len(b))/2)
					os.WriteFile(path, b, 0o640)
				}
				opts := Options{Dir: dir, SegmentBytes: matrixSegment, SnapshotBytes: -1, SnapshotInterval: -1}
				db, err := Open(opts)
				if tc.exact {
					if err != nil {
						t.Fatalf("Open = %v, want the older snapshot and the log used", err)
					}
					sameState(t, stateOf(t, db), want)
					closeDB(t, db)
					return
				}
				if err == nil {
					t.Fatal("Open started without any snapshot that verifies and a truncated log")
				}
				for _, name := range tc.damaged {
					path := filepath.Join(dir, storage.SnapDirName, name)
					if !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), "at offset ") {
						t.Fatalf("Open = %v, want ErrDataMissing naming %s and an offset", err, path)
					}
					// A refused start leaves the files as they are, so the next
					// start refuses too.
					if _, serr := os.Stat(path); serr != nil {
						t.Fatalf("refused start moved %s: %v", name, serr)
					}
				}
				if _, err := Open(opts); !errors.Is(err, ErrDataMissing) {
					t.Fatalf("second Open = %v, want ErrDataMissing again", err)
				}
				// Salvage starts; the damaged snapshots are kept beside.
				opts.Salvage = true
				db = openDB(t, opts)
				for _, name := range tc.damaged {
					if _, err := os.Stat(filepath.Join(dir, storage.SnapDirName, name+storage.CorruptSuffix)); err != nil {
						t.Fatalf("salvaged start lost %s: %v", name, err)
					}
				}
				closeDB(t, db)
			})
		}
	}
}

// A snapshot covering a record the log lost (here a damaged final record, cut as a
// torn tail) must not let the log hand that record's LSN out again: the next start
// would take the new write for one the snapshot already holds and skip it.
func TestSnapshotNewerThanLogEnd(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SnapshotBytes: -1, SnapshotInterval: -1}
	db := openDB(t, opts)
	if _, err := db.create(engine.Config{Name: "c", Dim: matrixDim, Metric: engine.L2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 1; i <= 10; i++ {
		if _, err := db.Upsert("c", randBatch(r, fmt.Sprintf("b%d-", i), matrixItems, matrixDim), "items"); err != nil {
			t.Fatal(err)
		}
	}
	info, err := db.Snapshot(context.Background(), "c")
	if err != nil || info.LSN != 11 {
		t.Fatalf("Snapshot = %+v, %v", info, err)
	}
	closeDB(t, db)
	segs := logLayout(t, dir)
	last := segs[len(segs)-1]
	b, _ := os.ReadFile(last.path)
	final := last.starts[len(last.starts)-1]
	b[final+20] ^= 1
	os.WriteFile(last.path, b, 0o640)

	_, err = Open(opts)
	if !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), "covers lsn 11 but the log ends at 10") {
		t.Fatalf("Open = %v, want ErrDataMissing for a snapshot past the log's end", err)
	}
	salvage := opts
	salvage.Salvage = true
	db = openDB(t, salvage)
	if n := presentPrefix(t, db); n != 10 {
		t.Fatalf("%d batches after salvage, want the 10 in the snapshot", n)
	}
	res, err := db.Upsert("c", randBatch(r, "b11-", matrixItems, matrixDim), "items")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sequence <= info.LSN {
		t.Fatalf("write after salvage got lsn %d, not above the snapshot's %d", res.Sequence, info.LSN)
	}
	closeDB(t, db)
	db = openDB(t, opts)
	defer closeDB(t, db)
	if n := presentPrefix(t, db); n != 11 {
		t.Fatalf("%d batches after restart, want 11", n)
	}
}

// Snapshots that are gone altogether (deleted, or lost by the file system) after the
// log was truncated on their strength must not leave a server that starts without
// the collection.
func TestDeletedSnapshotsRefuse(t *testing.T) {
	pristine, _ := matrixDir(t, true)
	dir := copyDir(t, pristine)
	snaps, _ := filepath.Glob(filepath.Join(dir, storage.SnapDirName, "*"+storage.SnapSuffix))
	for _, p := range snaps {
		os.Remove(p)
	}
	opts := Options{Dir: dir, SegmentBytes: matrixSegment, SnapshotBytes: -1, SnapshotInterval: -1}
	_, err := Open(opts)
	if !errors.Is(err, ErrDataMissing) || !strings.Contains(err.Error(), `"c" (created at lsn 1) is in the snapshot catalog`) {
		t.Fatalf("Open = %v, want ErrDataMissing naming collection c", err)
	}
	opts.Salvage = true
	db := openDB(t, opts)
	if _, err := db.lookup("c"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("salvaged start: Collection = %v", err)
	}
	closeDB(t, db)
	// The salvaged start recorded its decision: the next start needs no Salvage (as the
	// runbook says), and a collection of the same name starts empty.
	opts.Salvage = false
	db = openDB(t, opts)
	if _, err := db.lookup("c"); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("start after the salvaged one: Collection = %v", err)
	}
	if _, err := db.create(engine.Config{Name: "c", Dim: matrixDim, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	db = openDB(t, opts)
	defer closeDB(t, db)
	if c, err := db.lookup("c"); err != nil || c.Stats().Items != 0 {
		t.Fatalf("the re-created collection after a restart: %v", err)
	}
}
