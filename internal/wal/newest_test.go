package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/crashfs"
)

// TestNewestFileNamesTheNewestSegment checks that NewestFile follows the log: written
// when the first segment is created, moved on by each rotation, and written at Open for
// a directory that has none.
func TestNewestFileNamesTheNewestSegment(t *testing.T) {
	fsys, segs := multiSegmentLog(t, 40)
	newest := func() string {
		t.Helper()
		b, ok := fsys.ReadFile(filepath.Join(memDir, NewestFile))
		if !ok {
			t.Fatal("no " + NewestFile)
		}
		return string(b)
	}
	if got, want := newest(), segs[len(segs)-1].name+"\n"; got != want {
		t.Fatalf("%s = %q, want %q", NewestFile, got, want)
	}
	// A directory of an earlier version has none: Open writes it.
	if err := fsys.Remove(filepath.Join(memDir, NewestFile)); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, memDir, Options{FS: fsys})
	mustClose(t, l)
	if got, want := newest(), segs[len(segs)-1].name+"\n"; got != want {
		t.Fatalf("after Open: %s = %q, want %q", NewestFile, got, want)
	}
}

// TestLostEndOfTheLogIsCorruption checks the losses a crash cannot cause and that
// NewestFile reveals: the newest segment deleted, or cut inside its header (to a few
// bytes or to none). Each is refused naming the segment; a salvage opens what is left,
// and the log goes on from there.
func TestLostEndOfTheLogIsCorruption(t *testing.T) {
	src, segs := multiSegmentLog(t, 40)
	last := segs[len(segs)-1]
	lastPath := filepath.Join(memDir, last.name)
	for _, tc := range []struct {
		name string
		lose func(fsys *crashfs.FS)
		want string
	}{
		{"newest segment deleted", func(fsys *crashfs.FS) { fsys.Remove(lastPath) }, "missing: " + NewestFile + " names it"},
		{"newest segment cut to 10 bytes", func(fsys *crashfs.FS) {
			b, _ := fsys.ReadFile(lastPath)
			fsys.WriteFile(lastPath, b[:10])
		}, "so this is not a torn tail"},
		{"newest segment emptied", func(fsys *crashfs.FS) { fsys.WriteFile(lastPath, nil) }, "so this is not a torn tail"},
		{"every segment deleted", func(fsys *crashfs.FS) {
			for _, s := range segs {
				fsys.Remove(filepath.Join(memDir, s.name))
			}
		}, "missing: " + NewestFile + " names it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := src.Clone()
			tc.lose(fsys)
			_, err := Open(memDir, Options{FS: fsys})
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != lastPath || !strings.Contains(ce.Reason, tc.want) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s (%q)", err, lastPath, tc.want)
			}
			l := openLog(t, memDir, Options{FS: fsys, Salvage: true})
			kept := l.Recovery().LastLSN
			if tc.name == "every segment deleted" {
				if kept != 0 {
					t.Fatalf("salvage of an empty directory kept up to lsn %d", kept)
				}
			} else if kept < last.first-1 {
				t.Fatalf("salvage kept up to lsn %d, want at least %d (the earlier segments)", kept, last.first-1)
			}
			writeRecords(t, l, 0, 1)
			mustClose(t, l)
			l = openLog(t, memDir, Options{FS: fsys})
			if rec := l.Recovery(); rec.Truncated != nil || rec.LastLSN != kept+1 {
				t.Fatalf("reopen after salvage: %+v, want lsn %d and no cut", rec, kept+1)
			}
			mustClose(t, l)
		})
	}
}

// TestDamagedNewestFileIsCorruption checks that a NewestFile naming no segment is
// refused, and that a salvage writes it again.
func TestDamagedNewestFileIsCorruption(t *testing.T) {
	fsys, segs := multiSegmentLog(t, 40)
	path := filepath.Join(memDir, NewestFile)
	fsys.WriteFile(path, []byte("wal-0000"))
	_, err := Open(memDir, Options{FS: fsys})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || !strings.Contains(ce.Reason, "not a segment name") {
		t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, path)
	}
	l := openLog(t, memDir, Options{FS: fsys, Salvage: true})
	mustClose(t, l)
	if b, _ := fsys.ReadFile(path); string(b) != segs[len(segs)-1].name+"\n" {
		t.Fatalf("after a salvage %s = %q", NewestFile, b)
	}
	mustClose(t, openLog(t, memDir, Options{FS: fsys}))
}

// A directory in wal-newest's place is refused naming it; a salvage moves it aside
// (wal-newest.corrupt) and writes the file again, and the next start needs no flag.
func TestNewestFileThatIsADirectory(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	for range 3 {
		if _, err := l.Append([]byte("record")); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	path := filepath.Join(dir, NewestFile)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), NewestFile) {
		t.Fatalf("Open with a directory for %s = %v, want an error naming it", NewestFile, err)
	}
	mustClose(t, openLog(t, dir, Options{Salvage: true}))
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		t.Fatalf("after a salvage %s: %v, %v; want a file", NewestFile, fi, err)
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("the directory was not moved aside: %v", err)
	}
	mustClose(t, openLog(t, dir, Options{}))
}
