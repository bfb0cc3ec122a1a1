package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// fakeCollector is an OTLP/gRPC trace collector that keeps what it receives.
type fakeCollector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (f *fakeCollector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			f.spans = append(f.spans, ss.Spans...)
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTracesReachTheOTLPCollector runs a server with -otlp-endpoint pointing at a fake
// collector, writes and mines through gRPC, stops the server (which flushes the spans)
// and checks the collector got the gRPC call spans with the mining and write spans
// inside them, and that the request log names each call's trace id.
func TestTracesReachTheOTLPCollector(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &fakeCollector{}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(lis)
	defer gs.Stop()

	cfg, err := parseConfig([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir(),
		"-log-level=debug", "-log-format=json", "-otlp-endpoint=http://" + lis.Addr().String()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv, err := NewServer(cfg, cfg.newLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	waitServing(t, conn)
	c := hardnegv1.NewMinerServiceClient(conn)
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "t", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "t", Items: &hardnegv1.ItemBatch{Dim: 2, Ids: []string{"a", "b", "c"}, Vectors: f32bytes([]float32{1, 0}, []float32{0.5, 0}, []float32{0.2, 0})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "t", Anchors: []*hardnegv1.Anchor{{Id: "a"}, {Id: "b"}}}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	byName := map[string][]*tracepb.Span{}
	for _, s := range col.spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	mine := byName["hardneg.v1.MinerService/Mine"]
	upsert := byName["hardneg.v1.MinerService/Upsert"]
	if len(mine) != 1 || len(upsert) != 1 {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		t.Fatalf("spans %v: want one Mine and one Upsert call span", names)
	}
	childOf := func(name string, parent *tracepb.Span, want int) {
		t.Helper()
		n := 0
		for _, s := range byName[name] {
			if bytes.Equal(s.TraceId, parent.TraceId) {
				n++
			}
		}
		if n != want {
			t.Errorf("%d %s spans in the trace of %s, want %d", n, name, parent.Name, want)
		}
	}
	childOf("mining.Mine", mine[0], 1)
	childOf("mining.anchor", mine[0], 2)
	childOf("index.Upsert", upsert[0], 1)
	// The request log names the trace of each call.
	for _, call := range []*tracepb.Span{mine[0], upsert[0]} {
		id := hex.EncodeToString(call.TraceId)
		if !strings.Contains(logs.String(), `"trace_id":"`+id+`"`) {
			t.Errorf("no request log line with trace_id %s (%s)", id, call.Name)
		}
	}
}

// TestTracingIsOffByDefault checks that without an endpoint no tracer is built and no
// trace ids are logged.
func TestTracingIsOffByDefault(t *testing.T) {
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.tracingOn() {
		t.Fatalf("default config: tracing on %v (%v)", cfg.tracingOn(), err)
	}
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
	if cfg, _ := parseConfig(nil, func(k string) string { return env[k] }, io.Discard); !cfg.tracingOn() {
		t.Error("OTEL_EXPORTER_OTLP_ENDPOINT set: tracing off")
	}
	if a := traceAttrs(context.Background()); a != nil {
		t.Errorf("trace attrs without a span: %v", a)
	}
}
