package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/crashfs"
)

func TestWriteFileAtomic(t *testing.T) {
	write := func(content string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, content); return err }
	}
	errWrite := errors.New("encoder failed")
	for _, tc := range []struct {
		name    string
		arm     func(*testFS)
		write   func(io.Writer) error
		wantErr error
	}{
		{name: "replaces the file", write: write("new")},
		{name: "failed rename keeps the old file", write: write("new"), wantErr: errInjected,
			arm: func(f *testFS) { f.onRename = func(string, string) error { return errInjected } }},
		{name: "failed fsync keeps the old file", write: write("new"), wantErr: errInjected,
			arm: func(f *testFS) { f.onSync = func(string) error { return errInjected } }},
		{name: "failed write keeps the old file", write: write("new"), wantErr: errInjected,
			arm: func(f *testFS) { f.onWrite = func(string) error { return errInjected } }},
		{name: "encoder error keeps the old file", write: func(io.Writer) error { return errWrite }, wantErr: errWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "snap")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			fsys := &testFS{}
			if tc.arm != nil {
				tc.arm(fsys)
			}
			err := WriteFileAtomic(fsys, path, 0o644, tc.write)
			got, _ := os.ReadFile(path)
			want := "new"
			if tc.wantErr != nil {
				want = "old"
			}
			if !errors.Is(err, tc.wantErr) || string(got) != want {
				t.Fatalf("WriteFileAtomic = %v, file %q; want %v, %q", err, got, tc.wantErr, want)
			}
			if _, err := os.Stat(path + TempSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temp file left behind: %v", err)
			}
			if tc.wantErr == nil && fsys.dirSyncs.Load() == 0 {
				t.Fatal("directory not fsynced after the rename")
			}
		})
	}
}

func TestWriteFileAtomicLargeContent(t *testing.T) {
	fsys := crashfs.New()
	want := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := WriteFileAtomic(fsys, "/snap/a", 0o644, func(w io.Writer) error {
		_, err := w.Write(want)
		return err
	}); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	fsys.MkdirAll("/snap", 0o755)
	if err := WriteFileAtomic(fsys, "/snap/a", 0o644, func(w io.Writer) error {
		_, err := w.Write(want)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := fsys.ReadFile("/snap/a"); !bytes.Equal(got, want) {
		t.Fatalf("content differs: %d bytes, want %d", len(got), len(want))
	}
}

func TestRemoveTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "a" + TempSuffix, "b" + TempSuffix, segmentName(1)} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	removed, err := RemoveTempFiles(nil, dir)
	if err != nil || !slices.Equal(removed, []string{"a" + TempSuffix, "b" + TempSuffix}) {
		t.Fatalf("RemoveTempFiles = %v, %v", removed, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 2 {
		t.Fatalf("%d files left, want a and the segment", len(left))
	}
	if removed, err := RemoveTempFiles(nil, filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Fatalf("RemoveTempFiles(missing dir) = %v, %v", removed, err)
	}
}
