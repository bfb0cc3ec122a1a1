package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
)

// TestGracefulStopSnapshotsChangedCollections: a graceful stop snapshots the collections
// changed since their last snapshot, so that the next start loads them and replays no
// log record; with -shutdown-snapshot-timeout=0 the next start replays the log. Either
// way every item is back.
func TestGracefulStopSnapshotsChangedCollections(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		snapshot bool
	}{
		{"default", nil, true},
		{"off", []string{"-shutdown-snapshot-timeout=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := startServerArgs(t, dir, tc.args...)
			loopCollection(t, ts.client, "c", 100, 8)
			loopCollection(t, ts.client, "d", 30, 4)
			ts.stop(t)

			ts = startServerArgs(t, dir, tc.args...)
			rec := ts.srv.db.(engine.Storage).Recovery()
			if tc.snapshot && (rec.SnapshotsLoaded != 2 || rec.RecordsReplayed != 0) {
				t.Fatalf("after a graceful stop: %d snapshots loaded, %d log records replayed; want 2, 0", rec.SnapshotsLoaded, rec.RecordsReplayed)
			}
			if !tc.snapshot && (rec.SnapshotsLoaded != 0 || rec.RecordsReplayed == 0) {
				t.Fatalf("with no snapshot at stop: %d snapshots loaded, %d log records replayed; want 0, > 0", rec.SnapshotsLoaded, rec.RecordsReplayed)
			}
			for name, n := range map[string]uint64{"c": 100, "d": 30} {
				resp, err := ts.client.GetCollection(context.Background(), &hardnegv1.GetCollectionRequest{Name: name})
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.Collection.GetStats().GetItemCount(); got != n {
					t.Fatalf("%s after the restart: %d items, want %d", name, got, n)
				}
			}
		})
	}
}

// TestStopOnStdinEOFRemovesEphemeralDataDir: a server started with a pipe as stdin and
// -stop-on-stdin-eof stops gracefully (exit status 0) when the program holding the pipe
// closes it or dies; with -ephemeral-data-dir it then removes its data directory, items
// and all. Without -ephemeral-data-dir the directory stays, and the items are there at
// the next start.
func TestStopOnStdinEOFRemovesEphemeralDataDir(t *testing.T) {
	for _, ephemeral := range []bool{true, false} {
		t.Run(map[bool]string{true: "ephemeral", false: "kept"}[ephemeral], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := []string{"-stop-on-stdin-eof"}
			if ephemeral {
				args = append(args, "-ephemeral-data-dir")
			}
			cmd := serverCmd(dir, args...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, cmd)
			conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := hardnegv1.NewMinerServiceClient(conn)
			ctx := context.Background()
			if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "c", Items: &hardnegv1.ItemBatch{
				Ids: []string{"a"}, Dim: 4, Vectors: f32bytes([]float32{1, 0, 0, 0})}}); err != nil {
				t.Fatal(err)
			}
			stdin.Close() // what the kernel does when the program holding the pipe dies
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				p.kill()
				t.Fatalf("the server did not stop when its stdin closed:\n%s", p.log())
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after stdin closed: %v, want status 0:\n%s", err, p.log())
			}
			if !strings.Contains(p.log(), "standard input closed") {
				t.Errorf("no log line says why the server stopped:\n%s", p.log())
			}
			_, err = os.Stat(dir)
			if ephemeral && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("with -ephemeral-data-dir the data directory is still there (stat: %v):\n%s", err, p.log())
			}
			if !ephemeral {
				if err != nil {
					t.Fatalf("without -ephemeral-data-dir the data directory is gone: %v", err)
				}
				p := spawn(t, dir)
				defer p.kill()
				conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				got, err := hardnegv1.NewMinerServiceClient(conn).GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "c"})
				if err != nil || got.GetCollection().GetStats().GetItemCount() != 1 {
					t.Fatalf("after the stop: %v, %v; want the collection with its item", got, err)
				}
			}
		})
	}
}

// TestEphemeralDataDirKeptWhenTheStartFails: -ephemeral-data-dir refuses a directory that
// a server has used (it would remove that data at the stop), whether that server still
// runs or not, and the refused start leaves the directory alone.
func TestEphemeralDataDirKeptWhenTheStartFails(t *testing.T) {
	dir := t.TempDir()
	first := spawn(t, dir)
	for _, running := range []bool{true, false} {
		if !running {
			first.kill()
		}
		out, err := serverCmd(dir, "-ephemeral-data-dir").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "already holds a data directory") {
			t.Fatalf("-ephemeral-data-dir on a used directory (its server running: %v): %v\n%s", running, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
			t.Fatalf("the refused start removed the directory's files: %v\n%s", err, out)
		}
	}
}
