package crashfs

import (
	"os"
	"testing"
)

func write(t *testing.T, f *FS, name, content string, syncFile bool) {
	t.Helper()
	h, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func content(f *FS, name string) string {
	b, ok := f.ReadFile(name)
	if !ok {
		return "<missing>"
	}
	return string(b)
}

func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o755)
	write(t, f, "/d/synced", "both", true)
	write(t, f, "/d/entry-only", "data", false)
	f.SyncDir("/d")
	write(t, f, "/d/data-only", "data", true)
	write(t, f, "/d/synced", "both, then more", false)
	f.Rename("/d/entry-only", "/d/renamed")
	f.Remove("/d/synced")

	c := f.Crash()
	for name, want := range map[string]string{
		"/d/synced":     "both",      // removal and unsynced rewrite undone
		"/d/entry-only": "",          // its entry is durable, its data never was
		"/d/renamed":    "<missing>", // the rename was not synced
		"/d/data-only":  "<missing>", // its directory entry never was durable
	} {
		if got := content(c, name); got != want {
			t.Errorf("%s after crash = %q, want %q", name, got, want)
		}
	}
	// The original goes on with its current state.
	if got := content(f, "/d/renamed"); got != "data" {
		t.Errorf("original lost its current state: %q", got)
	}
	f.SyncDir("/d")
	c = f.Crash()
	if got := content(c, "/d/renamed"); got != "" {
		t.Errorf("renamed after SyncDir = %q, want the durable (empty) content", got)
	}
	if got := content(c, "/d/synced"); got != "<missing>" {
		t.Errorf("removal not durable after SyncDir: %q", got)
	}
}

func TestCrashAtTakesStateBeforeTheOperation(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o755)
	f.CrashAt(4) // create, write, sync, then SyncDir is the 4th
	write(t, f, "/d/a", "x", true)
	if f.Crashed() != nil {
		t.Fatal("crash taken early")
	}
	f.SyncDir("/d")
	c := f.Crashed()
	if c == nil {
		t.Fatal("crash not taken")
	}
	if got := content(c, "/d/a"); got != "<missing>" {
		t.Fatalf("crash before SyncDir kept the entry: %q", got)
	}
	if f.Ops() != 4 {
		t.Fatalf("Ops = %d", f.Ops())
	}
}

func TestWriteFileIsDurable(t *testing.T) {
	f := New()
	f.WriteFile("/a/b/seg", []byte("x"))
	if f.Ops() != 0 {
		t.Fatalf("WriteFile counted %d operations", f.Ops())
	}
	if got := content(f.Crash(), "/a/b/seg"); got != "x" {
		t.Fatalf("after crash = %q, want %q", got, "x")
	}
	if _, err := f.ReadDir("/a"); err != nil {
		t.Fatalf("parent directory not created: %v", err)
	}
}

func TestCloneCopiesCurrentAndDurableState(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o755)
	write(t, f, "/d/a", "synced", true)
	f.SyncDir("/d")
	write(t, f, "/d/a", "pending", false)
	f.Rename("/d/a", "/d/b") // b is not durable yet, and is the same file as the durable a

	c := f.Clone()
	f.WriteFile("/d/b", []byte("changed in the original"))
	if got := content(c, "/d/b"); got != "pending" {
		t.Fatalf("clone's current content = %q, want %q", got, "pending")
	}
	if got := content(c.Crash(), "/d/a"); got != "synced" {
		t.Fatalf("clone's durable content = %q, want %q", got, "synced")
	}
	// A sync through the clone reaches the durable entry of the same file.
	h, err := c.OpenFile("/d/b", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := content(c.Crash(), "/d/a"); got != "pending" {
		t.Fatalf("after a sync through the clone, durable a = %q, want %q", got, "pending")
	}
}
