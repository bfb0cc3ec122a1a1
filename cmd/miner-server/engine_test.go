package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// remoteOnly is an engine without local storage: embedding the interface hides the
// embedded index's engine.Storage methods, as a remote engine lacks them.
type remoteOnly struct{ engine.Engine }

func TestEngineWithoutStorage(t *testing.T) {
	db, err := index.Open(index.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot}); err != nil {
		t.Fatal(err)
	}
	newService := func(e engine.Engine) *service {
		return &service{db: e, log: slog.New(slog.DiscardHandler), mined: &mining.Recorder{}, ingest: &ingestRecorder{},
			cal: newPerCollection(mining.NewCalibration), exp: newPerCollection(func() *mining.Exposure { return mining.NewExposure(0) })}
	}
	req := &hardnegv1.SnapshotCollectionRequest{Name: "c"}

	t.Run("embedded engine snapshots", func(t *testing.T) {
		if _, err := newService(db).SnapshotCollection(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("snapshot is unimplemented without local storage", func(t *testing.T) {
		_, err := newService(remoteOnly{db}).SnapshotCollection(context.Background(), req)
		st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "SnapshotCollection", err))
		if st.Code() != codes.Unimplemented {
			t.Fatalf("code %v (%v), want Unimplemented", st.Code(), err)
		}
	})
	t.Run("storage metrics are absent without local storage", func(t *testing.T) {
		s := &Server{db: db, ingest: &ingestRecorder{}, mined: &mining.Recorder{}, limiter: newInFlightLimiter(1, 0),
			cal: newPerCollection(mining.NewCalibration), exp: newPerCollection(func() *mining.Exposure { return mining.NewExposure(0) })}
		if src := s.metricsSources(); src.Durability == nil || src.Volume == nil {
			t.Fatal("embedded engine: durability and volume sources missing")
		}
		s.db = remoteOnly{db}
		src := s.metricsSources()
		if src.Durability != nil || src.Volume != nil {
			t.Fatal("engine without storage: durability or volume source set")
		}
		if cs := src.Collections(); len(cs) != 1 || cs[0].Name != "c" {
			t.Fatalf("collections %+v", cs)
		}
	})
}

// slowRecovery is an engine whose Recover waits for release, reporting progress.
type slowRecovery struct {
	engine.Engine
	release chan error
}

func (e slowRecovery) Recover() error                         { return <-e.release }
func (e slowRecovery) RecoveryProgress() (done, total uint64) { return 7, 10 }

// TestRecoveryLogsProgressAndStopsOnRequest: a long recovery logs its progress, and a
// stop requested meanwhile returns at once (the recovery is abandoned, not awaited);
// a failed recovery is an error.
func TestRecoveryLogsProgressAndStopsOnRequest(t *testing.T) {
	defer func(d time.Duration) { recoveryProgressEvery = d }(recoveryProgressEvery)
	recoveryProgressEvery = 10 * time.Millisecond
	var logs syncBuffer
	e := slowRecovery{release: make(chan error, 1)}
	s := &Server{db: e, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !strings.Contains(logs.String(), "log_records_replayed=7 log_records=10") {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if err := s.recover(ctx); err != nil || !s.abandoned.Load() {
		t.Fatalf("stopped during recovery: %v, abandoned %v", err, s.abandoned.Load())
	}
	if !strings.Contains(logs.String(), "recovery abandoned") {
		t.Errorf("log: %s", logs.String())
	}
	e.release <- nil // the abandoned recovery ends

	s = &Server{db: slowRecovery{release: make(chan error, 1)}, log: slog.New(slog.DiscardHandler)}
	s.db.(slowRecovery).release <- errors.New("log damaged")
	if err := s.recover(context.Background()); err == nil || !strings.Contains(err.Error(), "recover storage: log damaged") || s.abandoned.Load() {
		t.Errorf("failed recovery: %v", err)
	}
}

// Errors of the data volume in work that fails alone (a snapshot, a backup, a restore)
// reach the client with a code that says so and their cause, not as INTERNAL; the
// log's own failures stay UNAVAILABLE.
func TestVolumeErrorsKeepTheirCause(t *testing.T) {
	path := func(errno syscall.Errno) error {
		return fmt.Errorf("backup %q: %w", "x", &fs.PathError{Op: "write", Path: "/data/backup-1.tmp", Err: errno})
	}
	for _, tc := range []struct {
		err  error
		code codes.Code
		text string
	}{
		{path(syscall.ENOSPC), codes.ResourceExhausted, "write /data/backup-1.tmp: no space left on device"},
		{path(syscall.EDQUOT), codes.ResourceExhausted, "quota exceeded"},
		{path(syscall.EACCES), codes.FailedPrecondition, "permission denied"},
		{path(syscall.EROFS), codes.FailedPrecondition, "read-only file system"},
		{fmt.Errorf("%w: a snapshot of %q needs about 9 bytes", engine.ErrNoSpace, "x"), codes.ResourceExhausted, "needs about 9 bytes"},
		{fmt.Errorf("%w: %w", engine.ErrStorageFailed, syscall.ENOSPC), codes.Unavailable, "no space left on device"},
	} {
		st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "Backup", tc.err))
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.text) {
			t.Errorf("%v: %v %q, want %v with %q", tc.err, st.Code(), st.Message(), tc.code, tc.text)
		}
	}
}

type failedEngine struct {
	engine.Engine
	cause error
}

func (f failedEngine) FailureCause() error { return f.cause }

// A stream ended by the stop that a failed log causes says why, with the log's error,
// rather than only that the server is shutting down.
func TestStreamStoppedByAStorageFailureSaysWhy(t *testing.T) {
	cause := &fs.PathError{Op: "write", Path: "/data/wal/wal-1.log", Err: syscall.ENOSPC}
	s := &service{db: failedEngine{cause: fmt.Errorf("wal: log failed: %w", cause)}}
	st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "UpsertStream", s.stopCause()))
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "no space left on device") || !strings.Contains(st.Message(), "resume the stream") {
		t.Errorf("%v %q", st.Code(), st.Message())
	}
	s = &service{db: failedEngine{}}
	if err := s.stopCause(); !errors.Is(err, errShuttingDown) {
		t.Errorf("a plain stop: %v", err)
	}
}

// The embedded engine tells stopCause what failed its log.
var _ interface{ FailureCause() error } = (*index.DB)(nil)

// A call made while storage recovers is refused with UNAVAILABLE carrying an ErrorInfo
// RECOVERING (with the recovery's progress) and a RetryInfo, so that a client can tell
// a server that will answer soon from one that is gone; the engine's own ErrRecovering
// (a lookup that raced the end of recovery) carries the reason as well.
func TestRefusalDuringRecoverySaysRecovering(t *testing.T) {
	s := &Server{db: slowRecovery{release: make(chan error, 1)}}
	s.recoveryStart.Store(time.Now().Add(-3 * time.Second).UnixNano())
	_, err := s.unaryReady(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/hardneg.v1.MinerService/Mine"},
		func(context.Context, any) (any, error) { t.Fatal("handler ran during recovery"); return nil, nil })
	for _, tc := range []struct {
		err  error
		meta map[string]string
		text string
	}{
		{err, map[string]string{"log_records_replayed": "7", "log_records": "10", "elapsed_seconds": "3"}, "7 of 10 log records replayed"},
		{fmt.Errorf("collection %q: %w", "c", engine.ErrRecovering), map[string]string{}, "storage is recovering"},
	} {
		st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "Mine", tc.err))
		if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), tc.text) {
			t.Errorf("%v: %v %q, want UNAVAILABLE with %q", tc.err, st.Code(), st.Message(), tc.text)
		}
		var info *errdetails.ErrorInfo
		var retry *errdetails.RetryInfo
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				info = d
			case *errdetails.RetryInfo:
				retry = d
			}
		}
		if info == nil || info.Reason != ReasonRecovering || info.Domain != "hardneg.v1" || !maps.Equal(info.Metadata, tc.meta) {
			t.Errorf("%v: ErrorInfo %v, want reason %s with %v", tc.err, info, ReasonRecovering, tc.meta)
		}
		if retry == nil || retry.RetryDelay.AsDuration() != recoveringRetry {
			t.Errorf("%v: RetryInfo %v, want %v", tc.err, retry, recoveringRetry)
		}
	}
	// Every other UNAVAILABLE (a stop, a failed log) says nothing of recovery.
	st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "Mine", errShuttingDown))
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == ReasonRecovering {
			t.Errorf("shutting down: %v", info)
		}
	}
}
