package wal

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failAfterArm returns a hook that fails every call once armed is set.
func failAfterArm(armed *atomic.Bool) func(string) error {
	return func(name string) error {
		if armed.Load() && strings.HasPrefix(name, segmentPrefix) {
			return errInjected
		}
		return nil
	}
}

// checkFailed asserts that every entry point reports the failure.
func checkFailed(t *testing.T, l *Log, pendingLSN uint64) {
	t.Helper()
	ctx := context.Background()
	if _, err := l.Write(ctx, []byte("later")); !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
		t.Fatalf("Write after failure = %v, want ErrFailed wrapping the cause", err)
	}
	if _, err := l.Append([]byte("later")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after failure = %v", err)
	}
	if err := l.WaitDurable(ctx, pendingLSN); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitDurable(%d) after failure = %v", pendingLSN, err)
	}
	if err := l.Sync(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after failure = %v", err)
	}
	if !l.Stats().Failed {
		t.Fatal("Stats().Failed = false")
	}
	if err := l.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close after failure = %v", err)
	}
}

func TestFailedFsyncIsFatal(t *testing.T) {
	fsys := &testFS{}
	var armed atomic.Bool
	fsys.setSync(failAfterArm(&armed))
	dir := t.TempDir()
	l := openLog(t, dir, Options{FS: fsys})
	acked := writeRecords(t, l, 0, 5)
	armed.Store(true)

	const writers = 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	lsns := make([]uint64, writers)
	for i := range writers {
		wg.Go(func() { lsns[i], errs[i] = l.Write(context.Background(), payload(5+i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("writer %d: Write = %v, want ErrFailed", i, err)
		}
	}
	if d := l.DurableLSN(); d != acked[len(acked)-1] {
		t.Fatalf("DurableLSN = %d after a failed fsync, want %d (the last acknowledged)", d, acked[len(acked)-1])
	}
	checkFailed(t, l, acked[len(acked)-1]+1)

	// Every acknowledged record is on disk.
	l = openLog(t, dir, Options{})
	defer mustClose(t, l)
	got := replayAll(t, l, 1)
	if len(got) < len(acked) {
		t.Fatalf("reopened log has %d records, %d were acknowledged", len(got), len(acked))
	}
	checkPrefix(t, got[:len(acked)], len(acked))
}

func TestFailedWriteIsFatal(t *testing.T) {
	fsys := &testFS{}
	var armed atomic.Bool
	fsys.mu.Lock()
	fsys.onWrite = failAfterArm(&armed)
	fsys.mu.Unlock()
	l := openLog(t, t.TempDir(), Options{FS: fsys, Sync: SyncInterval, SyncInterval: time.Hour})
	acked := writeRecords(t, l, 0, 3)
	armed.Store(true)
	if _, err := l.Write(context.Background(), []byte("x")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Write = %v, want ErrFailed", err)
	}
	if d := l.DurableLSN(); d != 0 {
		t.Fatalf("DurableLSN = %d, nothing was fsynced", d)
	}
	checkFailed(t, l, acked[2])
}

func TestFailedBackgroundFsyncIsFatal(t *testing.T) {
	fsys := &testFS{}
	var armed atomic.Bool // armed after Open, whose own fsync would fail too
	fsys.setSync(failAfterArm(&armed))
	l := openLog(t, t.TempDir(), Options{FS: fsys, Sync: SyncInterval, SyncInterval: time.Millisecond})
	armed.Store(true)
	lsn, err := l.Write(context.Background(), []byte("x"))
	if err != nil {
		t.Fatalf("interval-mode Write = %v; it returns before the fsync", err)
	}
	if err := l.WaitDurable(context.Background(), lsn); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitDurable = %v, want ErrFailed", err)
	}
	if d := l.DurableLSN(); d != 0 {
		t.Fatalf("DurableLSN = %d after the only fsync failed", d)
	}
	checkFailed(t, l, lsn)
}

func TestFailedRotationIsFatal(t *testing.T) {
	fsys := &testFS{}
	var armed atomic.Bool
	fsys.mu.Lock()
	fsys.onOpen = func(name string, flag int) error {
		if armed.Load() && flag&os.O_CREATE != 0 {
			return errInjected
		}
		return nil
	}
	fsys.mu.Unlock()
	l := openLog(t, t.TempDir(), Options{FS: fsys, SegmentSize: 4 << 10})
	armed.Store(true)
	var last uint64
	var err error
	for i := 0; err == nil && i < 1000; i++ {
		last, err = l.Write(context.Background(), make([]byte, 500))
	}
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("writes past the segment size = %v, want ErrFailed", err)
	}
	if d := l.DurableLSN(); d >= last {
		t.Fatalf("DurableLSN = %d covers the record whose segment failed (%d)", d, last)
	}
	checkFailed(t, l, last)
}

func TestOpenFailsWhenFsyncFails(t *testing.T) {
	fsys := &testFS{}
	fsys.setSync(func(string) error { return errInjected })
	if _, err := Open(t.TempDir(), Options{FS: fsys}); !errors.Is(err, errInjected) {
		t.Fatalf("Open = %v, want the fsync error", err)
	}
}
