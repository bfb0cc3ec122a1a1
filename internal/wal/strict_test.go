package wal_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/crashfs"
	"github.com/hardneg/hardneg/internal/wal"
)

var strictSeed = flag.Uint64("strict.seed", 0, "seed of TestStrictCrashLoop (0: a new one, logged)")

// strictPayload is the deterministic payload of record lsn, 0 to 600 bytes.
func strictPayload(lsn uint64) []byte {
	p := make([]byte, (lsn*131)%601)
	for i := range p {
		p[i] = byte(lsn*7 + uint64(i))
	}
	return p
}

// TestStrictCrashLoop runs a log on a file system that forgets everything not
// fsynced (crashfs) and crashes it at a random file-system operation — inside
// a group commit, a segment rotation, a TruncateBefore, a recovery — again
// and again, reopening what survived each time. After every crash each
// acknowledged record must be there: under SyncAlways every record whose
// Write returned, under SyncInterval every record at or below the DurableLSN
// seen before the crash. Records never come back changed, out of order or
// with gaps. The seed is logged; -strict.seed replays a failure.
func TestStrictCrashLoop(t *testing.T) {
	seed := *strictSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with go test ./internal/wal -run TestStrictCrashLoop -strict.seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))
	const dir = "/data/wal"
	fsys := crashfs.New()
	var (
		durable  uint64 // every record at or below it must survive
		truncTo  uint64 // TruncateBefore may have removed records below it
		lastSeen uint64 // the last LSN recovered
	)
	for it := range 150 {
		policy := wal.SyncAlways
		if r.IntN(2) == 1 {
			policy = wal.SyncInterval
		}
		// Under SyncInterval the background fsync never comes (an hour); Sync
		// calls at seeded points make the durable point advance, so that a seed
		// replays the same operations.
		opts := wal.Options{FS: fsys, Sync: policy, SyncInterval: time.Hour, SegmentSize: 4 << 10}
		// Crash somewhere in the next few hundred operations, recovery included.
		fsys.CrashAt(1 + r.IntN(400))
		what := fmt.Sprintf("seed %d iteration %d (%v)", seed, it, policy)

		l, err := wal.Open(dir, opts)
		if err != nil {
			t.Fatalf("%s: Open: %v", what, err)
		}
		if fsys.Crashed() == nil {
			// What the last crash left must hold every record it had to keep.
			var got []uint64
			if _, err := l.Replay(0, func(lsn uint64, p []byte) error {
				if !bytes.Equal(p, strictPayload(lsn)) {
					return fmt.Errorf("record %d changed", lsn)
				}
				if n := len(got); n > 0 && got[n-1]+1 != lsn {
					return fmt.Errorf("record %d follows %d", lsn, got[n-1])
				}
				got = append(got, lsn)
				return nil
			}); err != nil && !errors.Is(err, wal.ErrTruncated) {
				t.Fatalf("%s: Replay: %v", what, err)
			}
			last := l.LastLSN()
			if last < durable {
				t.Fatalf("%s: log ends at %d, but %d was acknowledged durable before the crash", what, last, durable)
			}
			if len(got) > 0 && got[0] > max(truncTo, 1) {
				t.Fatalf("%s: log starts at %d, records from %d on were kept", what, got[0], max(truncTo, 1))
			}
			lastSeen = last
		}
		ctx := context.Background()
		for fsys.Crashed() == nil {
			lsn, err := l.Write(ctx, strictPayload(l.LastLSN()+1))
			if err != nil {
				t.Fatalf("%s: Write: %v", what, err)
			}
			if lsn != lastSeen+1 {
				t.Fatalf("%s: Write got lsn %d after %d", what, lsn, lastSeen)
			}
			lastSeen = lsn
			// The acknowledgement counts only if no crash was taken before it.
			ack := lsn
			if policy == wal.SyncInterval {
				if r.IntN(4) == 0 {
					if err := l.Sync(ctx); err != nil {
						t.Fatalf("%s: Sync: %v", what, err)
					}
				}
				ack = l.DurableLSN()
			}
			if fsys.Crashed() == nil {
				durable = max(durable, ack)
			}
			if r.IntN(20) == 0 && lsn > 10 {
				to := lsn - uint64(r.IntN(10))
				if fsys.Crashed() == nil {
					truncTo = max(truncTo, to)
				}
				if _, err := l.TruncateBefore(to); err != nil {
					t.Fatalf("%s: TruncateBefore: %v", what, err)
				}
			}
		}
		l.Close()
		fsys = fsys.Crashed()
	}
}
