package index

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/crashfs"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

var strictSeed = flag.Uint64("strict.seed", 0, "seed of TestStrictCrashLoopWithSnapshots (0: a new one, logged)")

// strictBatch is batch i of the crash loop: 4 items of dimension 4, ids b<i>-<j>.
func strictBatch(i int) *engine.Batch {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	return randBatch(r, fmt.Sprintf("b%d-", i), 4, 4)
}

// strictPresent returns k when batches 1..k of n are in the collection, each whole,
// and no later one; it fails on a partial batch or a gap.
func strictPresent(t *testing.T, db *DB, n int, what string) int {
	t.Helper()
	c, err := db.lookup("c")
	if err != nil {
		return 0
	}
	k := 0
	for i := 1; i <= n; i++ {
		b := strictBatch(i)
		items, missing := c.Get(b.IDs, true)
		switch {
		case len(missing) == len(b.IDs):
			continue
		case len(missing) != 0:
			t.Fatalf("%s: batch %d half there", what, i)
		case k != i-1:
			t.Fatalf("%s: batch %d there, batch %d not", what, i, k+1)
		}
		for j, it := range items {
			for d, x := range it.Vector {
				if x != b.Vectors[j*4+d] {
					t.Fatalf("%s: batch %d item %d differs", what, i, j)
				}
			}
		}
		k = i
	}
	return k
}

// TestStrictCrashLoopWithSnapshots runs a DB on a file system that forgets
// everything not fsynced (crashfs), with upserts, snapshots (which prune older
// snapshots and truncate the log) and restarts, and crashes it at a random
// file-system operation — inside a snapshot write, a prune, a log rotation, a
// recovery. After every crash the DB must open (no refusal: a crash only ever
// leaves a torn tail) and hold every acknowledged batch: under SyncAlways every
// Upsert that returned, under SyncInterval every batch at or below the durable
// LSN seen before the crash. The seed is logged; -strict.seed replays a failure.
func TestStrictCrashLoopWithSnapshots(t *testing.T) {
	seed := *strictSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with go test ./internal/index -run TestStrictCrashLoopWithSnapshots -strict.seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir() // holds the LOCK file; the log and snapshots live in fsys
	fsys := crashfs.New()
	created := false // the collection's creation was acknowledged
	acked := 0       // batches 1..acked were acknowledged durable
	sent := 0        // batches 1..sent were sent
	ctx := context.Background()
	for it := range 100 {
		if it%10 == 0 {
			// Start over now and then, so that first snapshots (which prune no
			// older one) and large logs come up again.
			fsys, created, acked, sent = crashfs.New(), false, 0, 0
		}
		snapEvery := 4 + r.IntN(2)*60 // batches per snapshot, on average
		policy := wal.SyncAlways
		if r.IntN(2) == 1 {
			policy = wal.SyncInterval
		}
		fsys.CrashAt(1 + r.IntN(500))
		what := fmt.Sprintf("seed %d iteration %d (%v)", seed, it, policy)
		db, err := Open(Options{Dir: dir, FS: fsys, Sync: policy, SyncInterval: time.Hour,
			SegmentBytes: 4 << 10, SnapshotBytes: -1, SnapshotInterval: -1})
		if err != nil {
			t.Fatalf("%s: Open: %v", what, err)
		}
		if fsys.Crashed() == nil {
			if _, err := db.lookup("c"); created && err != nil {
				t.Fatalf("%s: acknowledged collection missing: %v", what, err)
			}
			if k := strictPresent(t, db, sent, what); k < acked {
				t.Fatalf("%s: batches 1..%d back, %d were acknowledged", what, k, acked)
			} else {
				sent = k // what was lost was never acknowledged; send it again
			}
		}
		if _, err := db.lookup("c"); err != nil {
			if _, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.L2}); err != nil {
				t.Fatalf("%s: CreateCollection: %v", what, err)
			}
			if policy == wal.SyncInterval {
				db.wal.Sync(ctx)
			}
			if fsys.Crashed() == nil {
				created = true
			}
		}
		for fsys.Crashed() == nil {
			i := sent + 1
			res, err := db.Upsert("c", strictBatch(i), "items")
			if err != nil {
				t.Fatalf("%s: Upsert %d: %v", what, i, err)
			}
			sent = i
			durable := res.Sequence
			if policy == wal.SyncInterval {
				if r.IntN(4) == 0 {
					if err := db.wal.Sync(ctx); err != nil {
						t.Fatalf("%s: Sync: %v", what, err)
					}
				}
				durable = db.wal.DurableLSN()
			}
			if fsys.Crashed() == nil && durable >= res.Sequence {
				acked = i
			}
			if r.IntN(snapEvery) == 0 {
				if _, err := db.Snapshot(ctx, "c"); err != nil {
					t.Fatalf("%s: Snapshot: %v", what, err)
				}
			}
		}
		if err := db.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("%s: Close: %v", what, err)
		}
		fsys = fsys.Crashed()
	}
	t.Logf("%d batches sent, %d acknowledged", sent, acked)
}
