package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// testServer is a real miner-server on free loopback ports.
type testServer struct {
	srv    *Server
	conn   *grpc.ClientConn
	client hardnegv1.MinerServiceClient
	done   chan error
	cancel context.CancelFunc
}

func startServer(t *testing.T, dataDir string) *testServer {
	t.Helper()
	return startServerArgs(t, dataDir)
}

// startServerArgs starts a server with extra flags (e.g. -backend weaviate).
func startServerArgs(t *testing.T, dataDir string, args ...string) *testServer {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + dataDir, "-shutdown-timeout=5s"}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, done: make(chan error, 1), cancel: cancel}
	go func() { ts.done <- srv.Serve(ctx) }()
	ts.conn, err = grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts.client = hardnegv1.NewMinerServiceClient(ts.conn)
	t.Cleanup(func() { ts.stop(t) })
	waitServing(t, ts.conn)
	return ts
}

// waitServing waits until the server's health service reports SERVING, which it does
// once storage has recovered.
func waitServing(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "hardneg.v1.MinerService"})
		if err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not SERVING after 60 s: %v, %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMinerCallsWaitForRecovery(t *testing.T) {
	s := &Server{}
	called := false
	handler := func(context.Context, any) (any, error) { called = true; return nil, nil }
	_, err := s.unaryReady(context.Background(), nil, &grpc.UnaryServerInfo{}, handler)
	if called || codeOf(toStatus(slog.New(slog.NewTextHandler(io.Discard, nil)), "m", err)) != codes.Unavailable {
		t.Fatalf("before recovery: handler called %v, err %v; want UNAVAILABLE", called, err)
	}
	s.ready.Store(true)
	if _, err := s.unaryReady(context.Background(), nil, &grpc.UnaryServerInfo{}, handler); err != nil || !called {
		t.Fatalf("after recovery: handler called %v, err %v", called, err)
	}
}

func (ts *testServer) stop(t *testing.T) {
	if ts.cancel == nil {
		return
	}
	ts.conn.Close()
	ts.cancel()
	ts.cancel = nil
	if err := <-ts.done; err != nil {
		t.Errorf("server stopped with error: %v", err)
	}
}

func f32bytes(vs ...[]float32) []byte {
	var b []byte
	for _, v := range vs {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

func randVecs(r *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, dim)
		for j := range out[i] {
			out[i][j] = float32(r.NormFloat64())
		}
	}
	return out
}

func codeOf(err error) codes.Code { return status.Code(err) }

// fieldViolations returns the BadRequest field names of a status error.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out = append(out, v.Field)
			}
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const dim = 8

	hc, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "hardneg.v1.MinerService"})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", hc, err)
	}
	// Reflection lists the service, so grpcurl can call it without proto files.
	rs, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, sv := range rr.GetListServicesResponse().GetService() {
		services = append(services, sv.Name)
	}
	if !slices.Contains(services, "hardneg.v1.MinerService") {
		t.Errorf("reflection lists %v, want hardneg.v1.MinerService", services)
	}
	rs.CloseSend()

	resp, err := http.Get("http://" + ts.srv.HTTPAddr() + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %v, %v", resp, err)
	}
	resp.Body.Close()

	cr, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE})
	if err != nil {
		t.Fatal(err)
	}
	if got := cr.Collection.IndexParams.M; got != 16 {
		t.Errorf("default M = %d, want 16", got)
	}
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); codeOf(err) != codes.AlreadyExists {
		t.Errorf("duplicate create: %v, want AlreadyExists", err)
	}

	r := rand.New(rand.NewPCG(1, 2))
	vecs := randVecs(r, 50, dim)
	ids := make([]string, len(vecs))
	for i := range ids {
		ids[i] = "d" + strconv.Itoa(i)
	}
	up, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{
		Ids: ids, Dim: dim, Vectors: f32bytes(vecs...),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Inserted != 50 || up.Replaced != 0 {
		t.Errorf("upsert = %+v", up)
	}

	gc, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "docs"})
	if err != nil || gc.Collection.Stats.ItemCount != 50 {
		t.Fatalf("get collection = %v, %v", gc, err)
	}

	// Mine for anchor d0 with positive d1: neither may come back; scores descend; the
	// first negative is the best remaining item by exact cosine (the near-duplicate rule,
	// which also drops what is closer to the random positive than the anchor is, off).
	mr, err := c.Mine(ctx, &hardnegv1.MineRequest{
		Collection: "docs",
		Anchors:    []*hardnegv1.Anchor{{Id: "d0", PositiveIds: []string{"d1"}, ExcludeIds: []string{"d2"}}},
		Policy:     &hardnegv1.MiningPolicy{NumNegatives: 5, RangeMax: 100, ExcludeNearDuplicates: proto.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := mr.Results[0]
	if len(res.Negatives) != 5 || res.Shortfall != 0 {
		t.Fatalf("negatives = %d, shortfall %d", len(res.Negatives), res.Shortfall)
	}
	want := bestCosine(vecs, 0, map[int]bool{0: true, 1: true, 2: true})
	if res.Negatives[0].Id != ids[want] {
		t.Errorf("hardest negative = %s, want %s", res.Negatives[0].Id, ids[want])
	}
	for i, n := range res.Negatives {
		if n.Id == "d0" || n.Id == "d1" || n.Id == "d2" {
			t.Errorf("negative %d is %s: anchor, positive or exclusion returned", i, n.Id)
		}
		if i > 0 && n.Score > res.Negatives[i-1].Score {
			t.Errorf("scores not descending at %d", i)
		}
	}
	if res.PositiveScore == nil {
		t.Error("positive score missing")
	}

	// A bad batch is rejected whole, naming the item.
	bad := f32bytes(vecs[0], make([]float32, dim))
	_, err = c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"new1", "zero"}, Dim: dim, Vectors: bad}})
	if codeOf(err) != codes.InvalidArgument {
		t.Fatalf("zero vector: %v, want InvalidArgument", err)
	}
	if f := fieldViolations(err); len(f) != 1 || f[0] != "items.vectors[1]" {
		t.Errorf("violations = %v, want [items.vectors[1]]", f)
	}
	gi, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "docs", Ids: []string{"new1", "d3"}, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(gi.MissingIds) != 1 || gi.MissingIds[0] != "new1" {
		t.Errorf("rejected batch was partly applied: missing = %v", gi.MissingIds)
	}
	if len(gi.Items.Vectors) != dim*4 {
		t.Errorf("vector bytes = %d", len(gi.Items.Vectors))
	}

	for _, tc := range []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"unknown collection", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "nope", Anchors: []*hardnegv1.Anchor{{Id: "d0"}}})
			return err
		}, codes.NotFound, ""},
		{"wrong dimension", func() error {
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"x"}, Dim: 3, Vectors: f32bytes([]float32{1, 2, 3})}})
			return err
		}, codes.InvalidArgument, "items.dim"},
		{"NaN value", func() error {
			v := make([]float32, dim)
			v[3] = float32(math.NaN())
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"x"}, Dim: dim, Vectors: f32bytes(v)}})
			return err
		}, codes.InvalidArgument, "items.vectors[0]"},
		{"duplicate ids", func() error {
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"x", "x"}, Dim: dim, Vectors: f32bytes(vecs[0], vecs[1])}})
			return err
		}, codes.InvalidArgument, "items.ids[1]"},
		{"empty id", func() error {
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{""}, Dim: dim, Vectors: f32bytes(vecs[0])}})
			return err
		}, codes.InvalidArgument, "items.ids[0]"},
		{"unknown metric", func() error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "m", Dim: 4})
			return err
		}, codes.InvalidArgument, "metric"},
		{"k zero is default, k too large", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Id: "d0"}}, Policy: &hardnegv1.MiningPolicy{NumNegatives: 5000}})
			return err
		}, codes.InvalidArgument, "policy.num_negatives"},
		{"anchor without id or vector", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{}}})
			return err
		}, codes.InvalidArgument, "anchors[0]"},
		{"anchor vector of wrong length", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes([]float32{1})}}})
			return err
		}, codes.InvalidArgument, "anchors[0].vector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if codeOf(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", codeOf(err), err, tc.code)
			}
			if tc.field != "" {
				f := fieldViolations(err)
				if len(f) == 0 || f[0] != tc.field {
					t.Errorf("violations = %v, want %s first", f, tc.field)
				}
			}
		})
	}

	// Raw-vector anchor, delete, then list and delete the collection.
	q := vecs[10]
	mr, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes(q)}}, Policy: &hardnegv1.MiningPolicy{NumNegatives: 1}, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := mr.Results[0].Negatives[0].Id; got != "d10" {
		t.Errorf("nearest to d10's vector = %s, want d10 (a vector anchor excludes nothing)", got)
	}
	if len(mr.Results[0].NegativeVectors) != dim*4 {
		t.Errorf("negative vectors: %d bytes", len(mr.Results[0].NegativeVectors))
	}
	dr, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "docs", Ids: []string{"d10", "missing"}})
	if err != nil || dr.Deleted != 1 || dr.NotFound != 1 {
		t.Fatalf("delete = %v, %v", dr, err)
	}
	lc, err := c.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{})
	if err != nil || len(lc.Collections) != 1 || lc.Collections[0].Stats.ItemCount != 49 {
		t.Fatalf("list = %v, %v", lc, err)
	}
	if _, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "docs"}); codeOf(err) != codes.NotFound {
		t.Errorf("after delete: %v", err)
	}
}

func bestCosine(vecs [][]float32, anchor int, skip map[int]bool) int {
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	best, bestS := -1, math.Inf(-1)
	for i, v := range vecs {
		if skip[i] {
			continue
		}
		var d float64
		for j := range v {
			d += float64(v[j]) * float64(vecs[anchor][j])
		}
		if s := d / norm(v) / norm(vecs[anchor]); s > bestS {
			best, bestS = i, s
		}
	}
	return best
}

func TestUpsertStreamAcknowledgesOnceAndRejectsGaps(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const dim = 4
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "s", Dim: dim, Metric: hardnegv1.Metric_METRIC_L2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	batch := func(seq uint64) *hardnegv1.UpsertStreamRequest {
		vs := randVecs(r, 10, dim)
		ids := make([]string, 10)
		for i := range ids {
			ids[i] = "w" + strconv.Itoa(int(seq)) + "-" + strconv.Itoa(i)
		}
		return &hardnegv1.UpsertStreamRequest{Collection: "s", WriterId: "trainer-0", Sequence: seq, Items: &hardnegv1.ItemBatch{Ids: ids, Dim: dim, Vectors: f32bytes(vs...)}}
	}
	st, err := ts.client.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := batch(1), batch(2)
	for _, req := range []*hardnegv1.UpsertStreamRequest{b1, b2, proto.Clone(b1).(*hardnegv1.UpsertStreamRequest)} {
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		ack, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		wantDup := req.Sequence == 1 && ack.DurableSequence == 2
		if ack.Sequence != req.Sequence || ack.Duplicate != wantDup {
			t.Errorf("ack %+v for sequence %d", ack, req.Sequence)
		}
	}
	if err := st.Send(batch(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("gap: %v, want FailedPrecondition", err)
	}
	gc, err := ts.client.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "s"})
	if err != nil || gc.Collection.Stats.ItemCount != 20 {
		t.Fatalf("items = %v, %v; want 20 (replayed batch not applied twice, gap not applied)", gc, err)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	env := map[string]string{"HARDNEG_GRPC_ADDR": "127.0.0.1:6000", "HARDNEG_LOG_LEVEL": "debug"}
	cfg, err := parseConfig([]string{"-log-level=warn"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:6000" {
		t.Errorf("grpc addr = %q, want the environment's", cfg.GRPCAddr)
	}
	if cfg.LogLevel != slog.LevelWarn {
		t.Errorf("log level = %v, want the flag's warn over the environment's debug", cfg.LogLevel)
	}
	if _, err := parseConfig([]string{"-log-format=xml"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("bad log format accepted")
	}
	// A bad environment value is named with its value, once.
	_, err = parseConfig(nil, func(k string) string {
		if k == "HARDNEG_SHUTDOWN_TIMEOUT" {
			return "abc"
		}
		return ""
	}, io.Discard)
	if err == nil || err.Error() != `HARDNEG_SHUTDOWN_TIMEOUT="abc": parse error (it sets -shutdown-timeout)` {
		t.Errorf("bad environment value: %v", err)
	}
	// Snapshot triggers: any negative interval is never; a size below -1 is named.
	if cfg, err := parseConfig([]string{"-snapshot-interval=-1s"}, func(string) string { return "" }, io.Discard); err != nil || cfg.SnapshotInterval != -1 {
		t.Errorf("-snapshot-interval=-1s: %v, %v", cfg.SnapshotInterval, err)
	}
	for _, d := range []string{"1ns", "999us", "0", "-1s"} {
		if _, err := parseConfig([]string{"-fsync-interval=" + d}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-fsync-interval: must be at least 1ms") {
			t.Errorf("-fsync-interval=%s: %v", d, err)
		}
	}
	if _, err := parseConfig([]string{"-snapshot-bytes=-2"}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-snapshot-bytes: a size in bytes, or -1") {
		t.Errorf("-snapshot-bytes=-2: %v", err)
	}
	for _, v := range []string{"0", "1.5", "-0.5", "NaN"} {
		if _, err := parseConfig([]string{"-lead-recall=" + v}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-lead-recall: a recall in (0, 1], or -1") {
			t.Errorf("-lead-recall=%s: %v", v, err)
		}
	}
	if cfg, err := parseConfig([]string{"-lead-recall=-1"}, func(string) string { return "" }, io.Discard); err != nil || cfg.indexOptions(nil).LeadRecall != -1 {
		t.Errorf("-lead-recall=-1: %v", err)
	}
	if _, err := parseConfig([]string{"-graph-workers=-1"}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-graph-workers: 0 (every core) or more; got -1") {
		t.Errorf("-graph-workers=-1: %v", err)
	}
	if cfg, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_GRAPH_WORKERS": "1"}[k] }, io.Discard); err != nil || cfg.indexOptions(nil).GraphWorkers != 1 {
		t.Errorf("HARDNEG_GRAPH_WORKERS=1: %+v, %v", cfg.GraphWorkers, err)
	}
	// An empty listen address would listen on every interface at a random port; a bad
	// collector URL would leave tracing silently off; a bad level lists the good ones.
	for _, c := range []struct{ arg, want string }{
		{"-grpc-addr=", "-grpc-addr: must not be empty"},
		{"-http-addr=", "-http-addr: must not be empty"},
		{"-otlp-endpoint=::not a url", `-otlp-endpoint: want http://host:port (plaintext) or https://host:port (TLS), got "::not a url"`},
		{"-otlp-endpoint=collector:4317", "-otlp-endpoint: want http://host:port"},
		{"-log-level=verbose", `-log-level: want debug, info, warn or error, got "verbose"`},
		{"-grpc-max-msg-bytes=99999999999999", "-grpc-max-msg-bytes: 1 MiB to 4 GiB − 1"},
		{"-grpc-max-msg-bytes=1000", "-grpc-max-msg-bytes: 1 MiB to 4 GiB − 1"},
	} {
		if _, err := parseConfig([]string{c.arg}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.arg, err, c.want)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_UI": "maybe"}[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `HARDNEG_UI="maybe": want true or false (or 1, 0) (it sets -ui)`) {
		t.Errorf("HARDNEG_UI=maybe: %v", err)
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_FSYNC": "bad"}[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `-fsync: want always or interval, got "bad" (set by HARDNEG_FSYNC)`) {
		t.Errorf("HARDNEG_FSYNC=bad: %v", err)
	}
	if cfg, err := parseConfig([]string{"-otlp-endpoint=http://127.0.0.1:4317"}, func(string) string { return "" }, io.Discard); err != nil || cfg.OTLPEndpoint == "" {
		t.Errorf("-otlp-endpoint=http://127.0.0.1:4317: %v", err)
	}
	// Huge pages are on by default; the environment turns them off.
	if cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard); err != nil || !cfg.HugePages {
		t.Errorf("default -huge-pages: %v, %v", cfg.HugePages, err)
	}
	if cfg, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_HUGE_PAGES": "false"}[k] }, io.Discard); err != nil || cfg.HugePages {
		t.Errorf("HARDNEG_HUGE_PAGES=false: %v, %v", cfg.HugePages, err)
	}
	// AMX is allowed by default; the flag or the environment forbids it.
	if cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard); err != nil || !cfg.AMX {
		t.Errorf("default -amx: %v, %v", cfg.AMX, err)
	}
	if cfg, err := parseConfig([]string{"-amx=false"}, func(string) string { return "" }, io.Discard); err != nil || cfg.AMX {
		t.Errorf("-amx=false: %v, %v", cfg.AMX, err)
	}
	if cfg, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_AMX": "0"}[k] }, io.Discard); err != nil || cfg.AMX {
		t.Errorf("HARDNEG_AMX=0: %v, %v", cfg.AMX, err)
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir)
	cfg, _ := parseConfig([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + dir}, func(string) string { return "" }, io.Discard)
	if _, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("second server opened a locked data directory")
	}
}

// TestShutdownEndsUpsertStreams: a stop while a writer streams ends its stream with
// UNAVAILABLE, also while the stream waits for the writer's next batch, instead of
// serving it until the writer stops (which held the graceful stop up to
// -shutdown-timeout); what was acknowledged is there after a restart.
func TestShutdownEndsUpsertStreams(t *testing.T) {
	dir := t.TempDir()
	ts := startServerArgs(t, dir, "-shutdown-timeout=10m")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "s", Dim: 2, Metric: hardnegv1.Metric_METRIC_L2}); err != nil {
		t.Fatal(err)
	}
	st, err := ts.client.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		id := "b" + strconv.Itoa(int(seq))
		if err := st.Send(&hardnegv1.UpsertStreamRequest{Collection: "s", WriterId: "w", Sequence: seq, Items: &hardnegv1.ItemBatch{Ids: []string{id}, Dim: 2, Vectors: f32bytes([]float32{float32(seq), 1})}}); err != nil {
			t.Fatal(err)
		}
		if ack, err := st.Recv(); err != nil || ack.Sequence != seq {
			t.Fatalf("ack %d: %v %v", seq, ack, err)
		}
	}
	// The writer sends nothing more: the stream waits in Recv when the stop comes.
	stopServer := ts.cancel
	ts.cancel = nil
	stopServer()
	if _, err := st.Recv(); codeOf(err) != codes.Unavailable || !strings.Contains(statusText(err), "shutting down") {
		t.Fatalf("after the stop: %v, want UNAVAILABLE (shutting down)", err)
	}
	if err := <-ts.done; err != nil {
		t.Fatalf("server stopped with error: %v", err)
	}
	ts.conn.Close()

	again := startServer(t, dir)
	got, err := again.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "s", Ids: []string{"b1", "b2"}})
	if err != nil || len(got.MissingIds) != 0 {
		t.Fatalf("after the restart: %v %v", got, err)
	}
}

// TestJSONLogsEndWithAJSONLine: with -log-format json, the reason the server exits is a
// JSON log line too (a log pipeline parses every line), not a plain one.
func TestJSONLogsEndWithAJSONLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := Main(context.Background(), []string{"-log-format=json", "-data-dir=" + file, "-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0"},
		func(string) string { return "" }, nil, io.Discard, &stderr)
	var logged loggedError
	if err == nil || !errors.As(err, &logged) {
		t.Fatalf("Main: %v, want a loggedError", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var last struct{ Level, Msg, Err string }
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &last); jerr != nil || last.Level != "ERROR" || last.Msg != "exiting" || !strings.Contains(last.Err, "not a directory") {
		t.Errorf("last line %q (%v)", lines[len(lines)-1], jerr)
	}
}

// A call cancelled at its deadline (the client's reset arriving about when the server's
// copy of the deadline passes) is reported as DeadlineExceeded; one cancelled well
// before it, or without a deadline, stays Canceled.
func TestCancelledAtTheDeadlineIsDeadlineExceeded(t *testing.T) {
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithDeadline(context.Background(), base.Add(time.Second))
	defer cancel()
	wrapped := fmt.Errorf("mine: %w", context.Canceled)
	for _, tc := range []struct {
		ctx  context.Context
		now  time.Time
		want codes.Code
	}{
		{ctx, base.Add(time.Second), codes.DeadlineExceeded},
		{ctx, base.Add(950 * time.Millisecond), codes.DeadlineExceeded},
		{ctx, base.Add(500 * time.Millisecond), codes.Canceled},
		{context.Background(), base.Add(time.Hour), codes.Canceled},
	} {
		err := toStatus(slog.New(slog.DiscardHandler), "/m", pastDeadline(tc.ctx, wrapped, tc.now))
		if got := status.Code(err); got != tc.want {
			t.Errorf("cancelled at %v: %v, want %v", tc.now.Sub(base), got, tc.want)
		}
	}
	if err := pastDeadline(ctx, errors.New("other"), base.Add(time.Hour)); err.Error() != "other" {
		t.Errorf("another error changed: %v", err)
	}
}

// TestStopWhileWaitingForWeaviate: with -backend weaviate and no cluster answering, the
// server waits up to -weaviate-timeout before it listens; a stop in that wait ends Main
// at once and cleanly, and what the Weaviate client logs while it waits comes out in
// the server's JSON format.
func TestStopWhileWaitingForWeaviate(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0") // a port that accepts and never answers HTTP
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-backend=weaviate", "-weaviate-addr=" + lis.Addr().String(), "-weaviate-grpc-addr=127.0.0.1:1",
			"-weaviate-timeout=10m", "-log-format=json", "-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0"},
			func(k string) string { return map[string]string{"HARDNEG_MINER_ID": "m"}[k] }, nil, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second) // the client logs about once a second
	for !strings.Contains(stderr.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main after a stop while waiting for Weaviate: %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Main did not return after the stop: it waits for Weaviate")
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("a log line that is not JSON: %q", line)
		}
	}
}

// TestMisspelledEnvironmentVariablesAreNamed: a HARDNEG_ variable that nearly names a
// flag's is reported with the one it likely means; the flags' own and far ones are not.
func TestMisspelledEnvironmentVariablesAreNamed(t *testing.T) {
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.misspelledEnv([]string{"HARDNEG_GRPCADDR=x", "HARDNEG_FSYNK=always", "HARDNEG_GRPC_ADDR=:1", "HARDNEG_ADDR=y", "HARDNEG_SERVER_BIN=z", "PATH=/bin"})
	want := [][2]string{{"HARDNEG_FSYNK", "HARDNEG_FSYNC"}, {"HARDNEG_GRPCADDR", "HARDNEG_GRPC_ADDR"}}
	if !slices.Equal(got, want) {
		t.Fatalf("misspelled: %v, want %v", got, want)
	}
}
