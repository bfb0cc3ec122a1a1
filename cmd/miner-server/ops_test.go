package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

const (
	writeToken = "trainer-token-0123456789abcdef"
	readToken  = "viewer-token-0123456789abcdef"
)

// secureServer is a real server with mutual TLS, tokens and a limit of two calls in
// flight per client, plus a client connection presenting a client certificate.
type secureServer struct {
	srv    *Server
	conn   *grpc.ClientConn
	client hardnegv1.MinerServiceClient
	ca     *testCA
}

func startSecureServer(t *testing.T, extra ...string) *secureServer {
	t.Helper()
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "server", time.Now().Add(time.Hour))
	cliCert, cliKey := ca.issue(t, "trainer-host", time.Now().Add(time.Hour))
	p := writeFiles(t, t.TempDir(), map[string][]byte{"tls.crt": srvCert, "tls.key": srvKey, "ca.crt": ca.pem})
	args := append([]string{
		"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-health-grpc-addr=127.0.0.1:0",
		"-data-dir=" + t.TempDir(), "-shutdown-timeout=5s",
		"-tls-cert-file=" + p["tls.crt"], "-tls-key-file=" + p["tls.key"], "-tls-client-ca-file=" + p["ca.crt"],
		"-max-in-flight-per-client=2", "-retry-after=150ms",
	}, extra...)
	env := map[string]string{"HARDNEG_AUTH_TOKENS": "trainer:write:" + writeToken + ",viewer:read:" + readToken}
	cfg, err := parseConfig(args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	return serveSecure(t, srv, ca, cliCert, cliKey)
}

func serveSecure(t *testing.T, srv *Server, ca *testCA, cliCert, cliKey []byte) *secureServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(ca.clientTLS(t, cliCert, cliKey))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})
	waitServing(t, conn)
	return &secureServer{srv: srv, conn: conn, client: hardnegv1.NewMinerServiceClient(conn), ca: ca}
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func TestSecureServerAuthenticatesAndAuthorizes(t *testing.T) {
	ss := startSecureServer(t)
	ctx := context.Background()
	create := &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}

	if _, err := ss.client.CreateCollection(ctx, create); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	if _, err := ss.client.CreateCollection(withToken(ctx, "wrong-token-0123456789"), create); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("unknown token: %v, want Unauthenticated", err)
	}
	if _, err := ss.client.CreateCollection(withToken(ctx, readToken), create); codeOf(err) != codes.PermissionDenied {
		t.Fatalf("read token creating: %v, want PermissionDenied", err)
	}
	if _, err := ss.client.CreateCollection(withToken(ctx, writeToken), create); err != nil {
		t.Fatalf("write token creating: %v", err)
	}
	if _, err := ss.client.ListCollections(withToken(ctx, readToken), &hardnegv1.ListCollectionsRequest{}); err != nil {
		t.Fatalf("read token listing: %v", err)
	}

	// Health needs no token, on the TLS port and on the plaintext probe port.
	for name, conn := range map[string]*grpc.ClientConn{"tls": ss.conn, "probe": dialPlain(t, ss.srv.HealthGRPCAddr())} {
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "hardneg.v1.MinerService"})
		if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health = %v, %v; want SERVING without a token", name, hc, err)
		}
	}
	// The probe port serves nothing but health.
	if _, err := hardnegv1.NewMinerServiceClient(dialPlain(t, ss.srv.HealthGRPCAddr())).ListCollections(withToken(ctx, writeToken), &hardnegv1.ListCollectionsRequest{}); codeOf(err) != codes.Unimplemented {
		t.Errorf("MinerService on the probe port: %v, want Unimplemented", err)
	}
	// Plaintext and certificate-less clients cannot reach the TLS port.
	if _, err := hardnegv1.NewMinerServiceClient(dialPlain(t, ss.srv.GRPCAddr())).ListCollections(withToken(ctx, writeToken), &hardnegv1.ListCollectionsRequest{}); codeOf(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v, want Unavailable", err)
	}
	noCert, err := grpc.NewClient(ss.srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(ss.ca.clientTLS(t, nil, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if _, err := hardnegv1.NewMinerServiceClient(noCert).ListCollections(withToken(ctx, writeToken), &hardnegv1.ListCollectionsRequest{}); codeOf(err) != codes.Unavailable {
		t.Errorf("client without certificate: %v, want Unavailable", err)
	}
}

func dialPlain(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestInFlightLimitAnswersResourceExhaustedWithRetryInfo(t *testing.T) {
	ss := startSecureServer(t)
	ctx, cancel := context.WithCancel(withToken(context.Background(), writeToken))
	defer cancel()
	if _, err := ss.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	// Two open streams use the client's two slots until they end.
	for i := 0; i < 2; i++ {
		st, err := ss.client.UpsertStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&hardnegv1.UpsertStreamRequest{Collection: "docs", WriterId: "w" + strconv.Itoa(i), Sequence: 1,
			Items: &hardnegv1.ItemBatch{Ids: []string{"x" + strconv.Itoa(i)}, Dim: 4, Vectors: f32bytes([]float32{1, 0, 0, 0})}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil { // acknowledged: the stream holds its slot
			t.Fatal(err)
		}
	}
	_, err := ss.client.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want ResourceExhausted", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.RetryDelay.AsDuration()
		}
	}
	if delay != 150*time.Millisecond {
		t.Errorf("RetryInfo delay = %v, want 150ms", delay)
	}
	// Another client (another token) is not affected.
	if _, err := ss.client.ListCollections(withToken(context.Background(), readToken), &hardnegv1.ListCollectionsRequest{}); err != nil {
		t.Errorf("other client refused: %v", err)
	}
}

// panicky is a test service whose EmptyCall panics with a secret.
type panicky struct {
	testpb.UnimplementedTestServiceServer
}

func (panicky) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	panic("secret internal state 0xdeadbeef")
}

func TestPanicBecomesInternalWithoutDetails(t *testing.T) {
	cfg, err := parseConfig([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	srv, err := NewServer(cfg, slogTo(&mu, &logs))
	if err != nil {
		t.Fatal(err)
	}
	testpb.RegisterTestServiceServer(srv.grpc, panicky{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	waitServing(t, dialPlain(t, srv.GRPCAddr()))

	_, err = testpb.NewTestServiceClient(dialPlain(t, srv.GRPCAddr())).EmptyCall(context.Background(), &testpb.Empty{})
	st := status.Convert(err)
	if st.Code() != codes.Internal || st.Message() != "internal error" || len(st.Details()) != 0 {
		t.Fatalf("panic answered with %v %q %v", st.Code(), st.Message(), st.Details())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "secret internal state") {
		t.Errorf("panic value not logged: %s", logs.String())
	}
	// The server still serves.
	if _, err := hardnegv1.NewMinerServiceClient(dialPlain(t, srv.GRPCAddr())).ListCollections(context.Background(), &hardnegv1.ListCollectionsRequest{}); err != nil {
		t.Errorf("after panic: %v", err)
	}
}

// scrape fetches /metrics, lints it and parses it.
func scrape(t *testing.T, httpAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value sums the samples of a family whose labels include every name=value pair in
// labels; for histograms it sums the sample counts.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	var sum float64
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

func TestMetricsMoveDuringIngestAndMine(t *testing.T) {
	ss := startSecureServer(t, "-max-in-flight-per-client=0")
	ctx := withToken(context.Background(), writeToken)
	const dim, batches, perBatch, mines = 8, 10, 50, 20
	if _, err := ss.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, ss.srv.HTTPAddr())
	for _, name := range []string{"hardneg_ingest_items_total", "hardneg_mine_anchors_total", "hardneg_mine_negatives_total"} {
		if v := value(before, name); v != 0 {
			t.Fatalf("%s = %v before any work, want 0", name, v)
		}
	}
	if v := value(before, "hardneg_collection_items", "collection", "docs"); v != 0 {
		t.Fatalf("items before ingest = %v", v)
	}

	// Ingest and mine in the background while scraping.
	work := make(chan error, 1)
	var negatives int
	go func() {
		r := rand.New(rand.NewPCG(3, 4))
		for b := 0; b < batches; b++ {
			ids := make([]string, perBatch)
			for i := range ids {
				ids[i] = fmt.Sprintf("d%d-%d", b, i)
			}
			if _, err := ss.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: ids, Dim: dim, Vectors: f32bytes(randVecs(r, perBatch, dim)...)}}); err != nil {
				work <- err
				return
			}
		}
		for m := 0; m < mines; m++ {
			resp, err := ss.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs",
				Anchors: []*hardnegv1.Anchor{{Id: fmt.Sprintf("d0-%d", m), PositiveIds: []string{fmt.Sprintf("d1-%d", m)}}},
				Policy:  &hardnegv1.MiningPolicy{NumNegatives: 5, RangeMax: 50}})
			if err != nil {
				work <- err
				return
			}
			negatives += len(resp.Results[0].Negatives)
		}
		work <- nil
	}()
	var last map[string]*dto.MetricFamily = before
	monotonic := []string{"hardneg_ingest_items_total", "hardneg_ingest_bytes_total", "hardneg_mine_anchors_total", "hardneg_mine_negatives_total", "grpc_server_handled_total"}
	for running := true; running; {
		select {
		case err := <-work:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(5 * time.Millisecond):
		}
		now := scrape(t, ss.srv.HTTPAddr())
		for _, name := range monotonic {
			if value(now, name) < value(last, name) {
				t.Errorf("%s went down: %v → %v", name, value(last, name), value(now, name))
			}
		}
		last = now
	}

	// A rejected batch and an unauthenticated call are counted too.
	bad := &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"bad"}, Dim: dim, Vectors: f32bytes(make([]float32, dim))}}
	if _, err := ss.client.Upsert(ctx, bad); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("zero vector: %v", err)
	}
	if _, err := ss.client.Mine(context.Background(), &hardnegv1.MineRequest{Collection: "docs"}); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("mine without token: %v", err)
	}

	after := scrape(t, ss.srv.HTTPAddr())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hardneg_ingest_items_total", []string{"result", "inserted"}, batches * perBatch},
		{"hardneg_ingest_items_total", []string{"result", "rejected"}, 1},
		{"hardneg_ingest_bytes_total", []string{"result", "inserted"}, batches * perBatch * dim * 4},
		{"hardneg_collection_items", []string{"collection", "docs"}, batches * perBatch},
		{"hardneg_collections", nil, 1},
		{"hardneg_mine_requests_total", nil, mines},
		{"hardneg_mine_anchors_total", nil, mines},
		{"hardneg_mine_negatives_total", nil, float64(negatives)},
		{"hardneg_mine_negative_score", nil, float64(negatives)},
		{"hardneg_mine_positive_score", nil, mines},
		{"hardneg_mine_candidates_removed_total", []string{"rule", "self"}, mines},
		{"grpc_server_handled_total", []string{"grpc_method", "Mine", "grpc_code", "OK"}, mines},
		{"grpc_server_handled_total", []string{"grpc_method", "Mine", "grpc_code", "Unauthenticated"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "Upsert", "grpc_code", "InvalidArgument"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Upsert"}, batches + 1},
		{"hardneg_in_flight_requests", nil, 0},
		{"hardneg_build_info", nil, 1},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if v := value(after, "hardneg_tls_certificate_expiry_timestamp_seconds"); v < float64(time.Now().Unix()) {
		t.Errorf("certificate expiry = %v, want in the future", v)
	}
	if v := value(after, "hardneg_data_volume_available_bytes"); v <= 0 {
		t.Errorf("volume available = %v", v)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}

// TestInFlightLimitCountsInspectorCallsByHost checks that without authentication the
// inspector's API counts a host's calls with its gRPC calls, whatever the connection:
// a gRPC stream from 127.0.0.1 holding the host's one slot makes an inspector call from
// another connection of the same host answer 429.
func TestInFlightLimitCountsInspectorCallsByHost(t *testing.T) {
	ts := startServerArgs(t, t.TempDir(), "-max-in-flight-per-client=1", "-retry-after=150ms")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ts.srv.HTTPAddr() + "/ui/api/collections"
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("inspector call with the slot free: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	st, err := ts.client.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&hardnegv1.UpsertStreamRequest{Collection: "docs", WriterId: "w", Sequence: 1,
		Items: &hardnegv1.ItemBatch{Ids: []string{"x"}, Dim: 4, Vectors: f32bytes([]float32{1, 0, 0, 0})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // acknowledged: the stream holds the host's slot
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("inspector call while the host's gRPC stream holds its slot: %d, want 429", resp.StatusCode)
	}
}

// Client certificates guard the gRPC port only. Without tokens, the inspector's API on
// the plaintext HTTP port would be open to anyone who reaches it, so under mutual TLS
// without tokens the inspector is off unless -ui=true asks for it.
func TestMutualTLSWithoutTokensTurnsTheInspectorOff(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		want  int
	}{{nil, http.StatusNotFound}, {[]string{"-ui=true"}, http.StatusOK}} {
		ca := newTestCA(t)
		srvCert, srvKey := ca.issue(t, "server", time.Now().Add(time.Hour))
		cliCert, cliKey := ca.issue(t, "trainer-host", time.Now().Add(time.Hour))
		p := writeFiles(t, t.TempDir(), map[string][]byte{"tls.crt": srvCert, "tls.key": srvKey, "ca.crt": ca.pem})
		args := append([]string{
			"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir(), "-shutdown-timeout=5s",
			"-tls-cert-file=" + p["tls.crt"], "-tls-key-file=" + p["tls.key"], "-tls-client-ca-file=" + p["ca.crt"],
		}, tc.extra...)
		cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(cfg, discard)
		if err != nil {
			t.Fatal(err)
		}
		serveSecure(t, srv, ca, cliCert, cliKey)
		resp, err := http.Get("http://" + srv.HTTPAddr() + "/ui/api/collections")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("flags %v: GET /ui/api/collections = %d, want %d", tc.extra, resp.StatusCode, tc.want)
		}
	}
}
