package main

import (
	"context"
	"testing"

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
