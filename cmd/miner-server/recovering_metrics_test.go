package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/metrics"
)

// gathered returns the series of one metric family from the server's registry.
func gathered(t *testing.T, s *Server, name string) []*dto.Metric {
	t.Helper()
	mfs, err := s.metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func TestMetricsDuringRecoveryShowRecoveringNotZeroCollections(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	if _, err := ts.client.CreateCollection(context.Background(), &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	ts.stop(t)

	// Storage is open but not recovered until Serve runs.
	cfg, err := parseConfig([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + dir}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := gathered(t, srv, metrics.NameRecovering); len(got) != 1 || got[0].GetGauge().GetValue() != 1 {
		t.Errorf("%s before recovery = %v, want 1", metrics.NameRecovering, got)
	}
	if got := gathered(t, srv, metrics.NameCollections); len(got) != 0 {
		t.Errorf("%s exported before recovery: %v", metrics.NameCollections, got)
	}
	if problems, err := testutil.GatherAndLint(srv.metrics.Gatherer()); err != nil || len(problems) > 0 {
		t.Errorf("lint before recovery: %v %v", problems, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitServing(t, conn)
	if got := gathered(t, srv, metrics.NameRecovering); len(got) != 1 || got[0].GetGauge().GetValue() != 0 {
		t.Errorf("%s after recovery = %v, want 0", metrics.NameRecovering, got)
	}
	if got := gathered(t, srv, metrics.NameCollections); len(got) != 1 || got[0].GetGauge().GetValue() != 1 {
		t.Errorf("%s after recovery = %v, want 1", metrics.NameCollections, got)
	}
}
