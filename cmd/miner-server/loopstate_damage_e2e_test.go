package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/storage"
)

// TestLoopStateDamagedFile: a collection whose loop state file is damaged or cannot
// be read at start is still served, without that state (a fresh rotation, no
// exposures, no hardness), the problem is logged with the collection's name, and the
// next save replaces the file with a good one.
func TestLoopStateDamagedFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, good []byte)
		// quiet: the server sees no file at all, so there is nothing to log.
		quiet bool
		// setAside: the damaged entry is kept as <collection>.loop.corrupt.
		setAside bool
	}{
		{"garbage", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, bytes.Repeat([]byte("not a loop state file\n"), 40))
		}, false, false},
		{"truncated", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, good[:len(good)/2])
		}, false, false},
		{"truncated header", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, good[:6])
		}, false, false},
		{"empty", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, nil)
		}, false, false},
		{"bit flip", func(t *testing.T, path string, good []byte) {
			b := bytes.Clone(good)
			b[len(b)/2] ^= 0x10
			writeFile(t, path, b)
		}, false, false},
		{"future format", func(t *testing.T, path string, good []byte) {
			b := bytes.Clone(good)
			b[4] = 99 // the format number follows the magic
			writeFile(t, path, b)
		}, false, false},
		{"intact frame, garbage payload", func(t *testing.T, path string, good []byte) {
			lsn, payload, err := storage.DecodeLoopState(good)
			if err != nil {
				t.Fatal(err)
			}
			bad := bytes.Clone(payload)
			for i := 1; i < len(bad); i += 3 {
				bad[i] ^= 0xa5
			}
			writeFile(t, path, storage.EncodeLoopState(lsn, bad))
		}, false, false},
		{"intact frame, truncated payload", func(t *testing.T, path string, good []byte) {
			lsn, payload, err := storage.DecodeLoopState(good)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, storage.EncodeLoopState(lsn, payload[:len(payload)-3]))
		}, false, false},
		{"directory", func(t *testing.T, path string, good []byte) {
			removeFile(t, path)
			if err := os.Mkdir(path, 0o750); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(path, "inside"), good)
		}, false, true},
		{"dangling symlink", func(t *testing.T, path string, good []byte) {
			removeFile(t, path)
			if err := os.Symlink(filepath.Join(filepath.Dir(path), "nowhere"), path); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"symlink loop", func(t *testing.T, path string, good []byte) {
			removeFile(t, path)
			if err := os.Symlink(path, path); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"named pipe", func(t *testing.T, path string, good []byte) {
			removeFile(t, path)
			if err := syscall.Mkfifo(path, 0o640); err != nil {
				t.Fatal(err)
			}
		}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, storage.StateDirName, "r"+storage.StateSuffix)

			// A good state file, saved at a graceful shutdown.
			ts := startServerArgs(t, dir, "-loop-state-interval=0")
			vs := loopCollection(t, ts.client, "r", 120, 8)
			if _, served, h := loopStep(t, ts.client, vs); served != 4 || h != 0.25 {
				t.Fatalf("first step: served %d, hardness %v", served, h)
			}
			ts.stop(t)
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, good)

			p := spawn(t, dir, "-loop-state-interval=20ms")
			defer p.kill()
			conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := hardnegv1.NewMinerServiceClient(conn)

			if !tc.quiet && !loggedLoopStateWarning(p.log(), "r") {
				t.Fatalf("no warning naming collection r in the log:\n%s", p.log())
			}
			// Served without the saved state: items intact, nothing exposed yet, and
			// the next step starts the rotation and the hardness afresh.
			info, err := c.GetCollection(t.Context(), &hardnegv1.GetCollectionRequest{Name: "r"})
			if err != nil {
				t.Fatal(err)
			}
			if n := info.GetCollection().GetStats().GetItemCount(); n != 120 {
				t.Fatalf("collection r holds %d items after the restart, want 120", n)
			}
			if _, exp := loopSnapshot(t, c); len(exp) != 0 {
				t.Fatalf("exposures after a damaged state file: %v, want none", exp)
			}
			if _, served, h := loopStep(t, c, vs); served != 4 || h != 0.25 {
				t.Fatalf("after the restart: served %d, hardness %v; want a fresh start (4, 0.25)", served, h)
			}
			// The next save replaces the damaged file with the new state.
			waitSavedHardness(t, path, 0.25, p)
			if tc.setAside {
				if _, err := os.Lstat(path + storage.CorruptSuffix); err != nil {
					t.Fatalf("the damaged entry was not set aside: %v", err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// readLoopStateFile decodes a loop state file as the server wrote it.
func readLoopStateFile(path string) (mining.LoopState, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return mining.LoopState{}, err
	}
	if !fi.Mode().IsRegular() {
		return mining.LoopState{}, os.ErrInvalid
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return mining.LoopState{}, err
	}
	_, payload, err := storage.DecodeLoopState(b)
	if err != nil {
		return mining.LoopState{}, err
	}
	return mining.DecodeLoopState(payload, 0)
}

// loggedLoopStateWarning reports whether a JSON log holds a warning that collection's
// loop state was not loaded.
func loggedLoopStateWarning(log, collection string) bool {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Level      string `json:"level"`
			Msg        string `json:"msg"`
			Collection string `json:"collection"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && rec.Collection == collection &&
			strings.Contains(rec.Msg, "loop state") {
			return true
		}
	}
	return false
}

// TestLoopStateDirectoryIsAFile: a file where the state directory belongs is logged at
// start, set aside as state.corrupt at the first save, and the saves go on.
func TestLoopStateDirectoryIsAFile(t *testing.T) {
	dir := t.TempDir()
	ts := startServerArgs(t, dir, "-loop-state-interval=0")
	vs := loopCollection(t, ts.client, "r", 120, 8)
	loopStep(t, ts.client, vs)
	ts.stop(t)
	state := filepath.Join(dir, storage.StateDirName)
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	writeFile(t, state, []byte("not a directory"))

	p := spawn(t, dir, "-loop-state-interval=20ms")
	defer p.kill()
	if !loggedLoopStateWarning(p.log(), "r") {
		t.Fatalf("no warning naming collection r in the log:\n%s", p.log())
	}
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, served, h := loopStep(t, hardnegv1.NewMinerServiceClient(conn), vs); served != 4 || h != 0.25 {
		t.Fatalf("after the restart: served %d, hardness %v; want a fresh start (4, 0.25)", served, h)
	}
	waitSavedHardness(t, filepath.Join(state, "r"+storage.StateSuffix), 0.25, p)
	if b, err := os.ReadFile(state + storage.CorruptSuffix); err != nil || string(b) != "not a directory" {
		t.Fatalf("the file in the state directory's place was not set aside: %q, %v", b, err)
	}
}
