package main

import (
	"context"
	"log/slog"
	"testing"

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
