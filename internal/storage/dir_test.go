package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

func TestLockRefusesASecondUser(t *testing.T) {
	path := t.TempDir()
	d, err := Lock(path, wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path, wal.OSFS{}); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Lock: %v, want ErrDataDirLocked", err)
	}
	if err := d.Unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := Lock(path, wal.OSFS{})
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	again.Unlock()
}

// TestLockSurvivesADeletedLockFile deletes LOCK while the directory is locked, as an
// operator who takes it for a stale lock file might: a second Lock must still be
// refused, naming the holder.
func TestLockSurvivesADeletedLockFile(t *testing.T) {
	path := t.TempDir()
	d, err := Lock(path, wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	_, err = Lock(path, wal.OSFS{})
	if want := fmt.Sprintf("(held by pid %d on host ", os.Getpid()); !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Lock: %v, want ErrDataDirLocked naming %q", err, want)
	}
	if err := os.Remove(filepath.Join(path, lockName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path, wal.OSFS{}); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("Lock after LOCK was deleted: %v, want ErrDataDirLocked", err)
	}
}

func TestSnapshotNames(t *testing.T) {
	name := SnapshotName("a.b-c", 42)
	if name != "a.b-c.00000000000000000042.snap" {
		t.Fatalf("SnapshotName = %q", name)
	}
	if col, lsn, ok := ParseSnapshotName(name); !ok || col != "a.b-c" || lsn != 42 {
		t.Fatalf("ParseSnapshotName(%q) = %q, %d, %v", name, col, lsn, ok)
	}
	for _, bad := range []string{"c.snap", "c.42.snap", "c.0000000000000000004x.snap", name + CorruptSuffix, name + wal.TempSuffix, ".00000000000000000042.snap"} {
		if _, _, ok := ParseSnapshotName(bad); ok {
			t.Errorf("ParseSnapshotName accepted %q", bad)
		}
	}
}

func TestSnapshotFiles(t *testing.T) {
	d, err := Lock(t.TempDir(), wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	if files, err := d.Snapshots(); err != nil || files != nil {
		t.Fatalf("before PrepareSnapshots: %v, %v", files, err)
	}
	if _, err := d.PrepareSnapshots(); err != nil {
		t.Fatal(err)
	}
	leftover := d.SnapshotPath(SnapshotName("b", 1)) + wal.TempSuffix
	if err := os.WriteFile(leftover, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if removed, err := d.PrepareSnapshots(); err != nil || len(removed) != 1 {
		t.Fatalf("PrepareSnapshots removed %v, %v; want the temporary file", removed, err)
	}
	for _, w := range []struct {
		col string
		lsn uint64
	}{{"b", 3}, {"a", 9}, {"b", 12}, {"a", 10}} {
		path, err := d.WriteSnapshot(w.col, w.lsn, func(out io.Writer) error {
			_, err := io.WriteString(out, w.col)
			return err
		})
		if err != nil || filepath.Base(path) != SnapshotName(w.col, w.lsn) {
			t.Fatalf("WriteSnapshot = %q, %v", path, err)
		}
	}
	if _, err := d.WriteSnapshot("c", 1, func(io.Writer) error { return errors.New("encoder failed") }); err == nil {
		t.Fatal("a failed write returned no error")
	}
	files, err := d.Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	want := []string{SnapshotName("a", 10), SnapshotName("a", 9), SnapshotName("b", 12), SnapshotName("b", 3)}
	if !slices.Equal(got, want) {
		t.Fatalf("Snapshots = %v, want %v (by collection, newest first; no failed write)", got, want)
	}
	var content string
	if _, err := d.ReadSnapshot(files[0].Name, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		content = string(b)
		return err
	}); err != nil || content != "a" {
		t.Fatalf("ReadSnapshot = %q, %v", content, err)
	}
	if err := d.SetAside([]string{files[0].Name}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveSnapshots([]string{files[2].Name, "missing.00000000000000000001.snap"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.Path(), SnapDirName))
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	want = []string{SnapshotName("a", 10) + CorruptSuffix, SnapshotName("a", 9), SnapshotName("b", 3)}
	if slices.Sort(want); !slices.Equal(left, want) {
		t.Fatalf("directory holds %v, want %v", left, want)
	}
	if files, _ := d.Snapshots(); len(files) != 2 || strings.HasSuffix(files[0].Name, CorruptSuffix) {
		t.Fatalf("Snapshots after set-aside and removal: %v", files)
	}
	// A snapshot of the same name damaged again later is set aside beside the first
	// copy, which stays.
	if _, err := d.WriteSnapshot("a", 10, func(w io.Writer) error { _, err := io.WriteString(w, "again"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAside([]string{SnapshotName("a", 10)}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{SnapshotName("a", 10) + CorruptSuffix: "a", SnapshotName("a", 10) + CorruptSuffix + ".1": "again"} {
		if b, err := os.ReadFile(filepath.Join(d.Path(), SnapDirName, name)); err != nil || string(b) != want {
			t.Errorf("%s holds %q, %v; want %q", name, b, err, want)
		}
	}
}

// CheckRoom refuses what would leave the log less than its reserve, and says how much
// was needed and free; a volume it cannot read is not checked.
func TestCheckRoomKeepsTheLogsReserve(t *testing.T) {
	d, err := Lock(t.TempDir(), wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	defer func(old func(string, *syscall.Statfs_t) error) { statfs = old }(statfs)
	volume := func(size, free int64) {
		statfs = func(_ string, st *syscall.Statfs_t) error {
			// Counts in fragments of 4 KiB; the preferred I/O size differs.
			st.Frsize, st.Bsize, st.Blocks, st.Bavail = 4096, 1<<20, uint64(size/4096), uint64(free/4096)
			return nil
		}
	}
	const mib = 1 << 20
	for _, tc := range []struct {
		size, free, need int64
		ok               bool
	}{
		{16 * mib, 4 * mib, 7 * mib, false},          // the snapshot alone does not fit
		{16 * mib, 4 * mib, 3*mib + 1, false},        // fits, but leaves under 1 MiB for the log
		{16 * mib, 4 * mib, 3 * mib, true},           // leaves exactly the reserve
		{10 << 30, 100 * mib, 37 * mib, false},       // a large volume keeps 64 MiB
		{10 << 30, 100 * mib, 36 * mib, true},        //
		{10 << 30, 100 * mib, 1<<63 - 1, false},      // no overflow
		{400 * mib, 100 * mib, 80 * mib, true},       // a twentieth of 400 MiB: 20 MiB kept
		{400 * mib, 100 * mib, 80*mib + 4096, false}, //
	} {
		volume(tc.size, tc.free)
		err := d.CheckRoom("a snapshot of \"x\"", tc.need)
		if (err == nil) != tc.ok {
			t.Errorf("volume %d, free %d, need %d: %v, want ok %v", tc.size, tc.free, tc.need, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, engine.ErrNoSpace) || !strings.Contains(err.Error(), `a snapshot of "x" needs about`)) {
			t.Errorf("error %v", err)
		}
	}
	statfs = func(string, *syscall.Statfs_t) error { return syscall.ENOSYS }
	if err := d.CheckRoom("x", 1<<62); err != nil {
		t.Errorf("unreadable volume: %v", err)
	}
	for _, blocks := range []uint64{0, math.MaxUint64} { // ramfs; counts beyond int64
		statfs = func(_ string, st *syscall.Statfs_t) error {
			st.Frsize, st.Blocks, st.Bavail = 4096, blocks, 0
			return nil
		}
		if err := d.CheckRoom("x", 1<<30); err != nil {
			t.Errorf("a volume reporting %d blocks: %v", blocks, err)
		}
	}
}

// TestUsed: a missing or empty directory, or one with other files, is not a used data
// directory; one a server has locked is, also after it unlocked.
func TestUsed(t *testing.T) {
	path := t.TempDir()
	for _, p := range []string{filepath.Join(path, "missing"), path} {
		if used, err := Used(p); used || err != nil {
			t.Fatalf("Used(%s) = %v, %v; want false", p, used, err)
		}
	}
	if err := os.WriteFile(filepath.Join(path, "server.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if used, _ := Used(path); used {
		t.Fatal("a directory with a log file counts as used")
	}
	d, err := Lock(path, wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(); err != nil {
		t.Fatal(err)
	}
	if used, err := Used(path); !used || err != nil {
		t.Fatalf("after Lock: Used = %v, %v; want true", used, err)
	}
}

// A directory in the place of a collection's loop state file is set aside twice over
// without losing the first one set aside (a rename onto it failed, and every start
// then failed to read the state).
func TestLoopStateSetAsideKeepsEarlierCopies(t *testing.T) {
	d, err := Lock(t.TempDir(), wal.OSFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	path := d.statePath("c")
	for round := range 2 {
		if err := os.MkdirAll(filepath.Join(path, fmt.Sprint("inside", round)), 0o750); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ReadLoopState("c"); !errors.Is(err, ErrLoopState) {
			t.Fatalf("round %d: %v, want ErrLoopState", round, err)
		}
	}
	for name, inside := range map[string]string{path + CorruptSuffix: "inside0", path + CorruptSuffix + ".1": "inside1"} {
		if _, err := os.Stat(filepath.Join(name, inside)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := d.WriteLoopState("c", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadLoopState("c"); err != nil || string(b) != "state" {
		t.Fatalf("ReadLoopState = %q, %v", b, err)
	}
	// A directory put in the file's place while the server runs: the next save sets
	// it aside and writes (every save failed until a start set it aside).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "inside2"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteLoopState("c", []byte("again")); err != nil {
		t.Fatalf("a save over a directory: %v", err)
	}
	if b, err := d.ReadLoopState("c"); err != nil || string(b) != "again" {
		t.Fatalf("ReadLoopState = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(path+CorruptSuffix+".2", "inside2")); err != nil {
		t.Errorf("the directory was not set aside: %v", err)
	}
}
