package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/validate"
)

func TestValidationMessageSaysItOnceInFloats(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	const dim = 384
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	anchors := func(n int) []*hardnegv1.Anchor {
		out := make([]*hardnegv1.Anchor, n)
		for i := range out {
			out[i] = &hardnegv1.Anchor{Vector: f32bytes(make([]float32, 100))}
		}
		return out
	}
	_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors(7)})
	if codeOf(err) != codes.InvalidArgument {
		t.Fatalf("mine: %v", err)
	}
	want := "anchors[0].vector: has 100 floats; the collection's dimension is 384 (7 anchors affected)"
	if got := status.Convert(err).Message(); got != want {
		t.Errorf("message = %q\nwant      %q", got, want)
	}
	if f := fieldViolations(err); len(f) != 7 || f[6] != "anchors[6].vector" {
		t.Errorf("field violations = %v", f)
	}

	_, err = ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors(300)})
	if msg := status.Convert(err).Message(); !strings.HasSuffix(msg, "(300 anchors affected)") || strings.Count(msg, "anchors[") != 1 {
		t.Errorf("message = %q", msg)
	}
	if f := fieldViolations(err); len(f) > 10 {
		t.Errorf("%d field violations listed, want at most 10", len(f))
	}
}

// rawCodec sends []byte messages as they are, so a test can send bytes that are not
// a valid protobuf message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func TestUndecodableRequestsAreInvalidArgument(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	// Field 1 (collection / writer_id, a string) holding bytes that are not UTF-8.
	badUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff\xfe")
	// A length-delimited field that claims more bytes than follow.
	truncated := []byte{0x0a, 0x7f, 'a'}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{{"invalid UTF-8 id", badUTF8}, {"garbage", truncated}} {
		t.Run("unary "+tc.name, func(t *testing.T) {
			var out []byte
			err := ts.conn.Invoke(ctx, hardnegv1.MinerService_GetItems_FullMethodName, tc.msg, &out, grpc.ForceCodec(rawCodec{}))
			if codeOf(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "malformed request message") {
				t.Errorf("err = %v, want INVALID_ARGUMENT", err)
			}
		})
		t.Run("stream "+tc.name, func(t *testing.T) {
			st, err := ts.conn.NewStream(ctx, &hardnegv1.MinerService_ServiceDesc.Streams[0], hardnegv1.MinerService_UpsertStream_FullMethodName, grpc.ForceCodec(rawCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SendMsg(tc.msg); err != nil {
				t.Fatal(err)
			}
			var out []byte
			if err := st.RecvMsg(&out); codeOf(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	// A well-formed request still works through the server's codec.
	if _, err := ts.client.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{}); err != nil {
		t.Fatal(err)
	}
	// A string that is not UTF-8 is named by its field, nested ones too.
	str := func(b []byte, num protowire.Number, v string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	batch := str(str(nil, 1, "a"), 1, "b\xc3")                                                            // ItemBatch{ids: ["a", "b\xc3"]}
	upsert := protowire.AppendBytes(protowire.AppendTag(str(nil, 1, "c"), 2, protowire.BytesType), batch) // UpsertRequest{collection, items}
	for _, tc := range []struct {
		method, field string
		msg           []byte
	}{
		{hardnegv1.MinerService_GetItems_FullMethodName, "collection", badUTF8},
		{hardnegv1.MinerService_Upsert_FullMethodName, "items.ids[1]", upsert},
	} {
		var out []byte
		err := ts.conn.Invoke(ctx, tc.method, tc.msg, &out, grpc.ForceCodec(rawCodec{}))
		if codeOf(err) != codes.InvalidArgument || !sameStrings(fieldViolations(err), []string{tc.field}) ||
			!strings.HasPrefix(status.Convert(err).Message(), tc.field+": is not valid UTF-8") {
			t.Errorf("%s: err = %v, want INVALID_ARGUMENT naming %s", tc.method, err, tc.field)
		}
	}
}

func TestExtremeNormsNeverGiveNonFiniteScores(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	for name, m := range map[string]hardnegv1.Metric{"cos": hardnegv1.Metric_METRIC_COSINE, "dot": hardnegv1.Metric_METRIC_DOT} {
		if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: name, Dim: 4, Metric: m}); err != nil {
			t.Fatal(err)
		}
	}
	tiny := []float32{1e-39, 1e-39, 1e-39, 1e-39}
	sub := []float32{1e-45, 0, 0, 0}
	huge := []float32{3e38, 3e38, 3e38, 3e38}
	items := &hardnegv1.ItemBatch{Ids: []string{"sub", "tiny", "huge", "x", "y"}, Dim: 4,
		Vectors: f32bytes(sub, tiny, huge, []float32{0, 1, 0, 0}, []float32{0, 0, 1, 0})}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "cos", Items: items}); err != nil {
		t.Fatalf("cosine upsert of tiny and huge vectors: %v", err)
	}
	// Near-duplicate rules off: every item here is exactly as close to the positive as the
	// anchor is, so the default relative rule would remove them all.
	mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "cos", Policy: &hardnegv1.MiningPolicy{NumNegatives: 4, ExcludeNearDuplicates: proto.Bool(false)},
		Anchors: []*hardnegv1.Anchor{
			{Vector: f32bytes([]float32{0, 1e-45, 0, 0}), PositiveVectors: f32bytes(tiny)},
			{Id: "x"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range mr.Results {
		if len(r.Negatives) == 0 {
			t.Errorf("anchor %d: no negatives", i)
		}
		for _, n := range r.Negatives {
			if math.IsNaN(float64(n.Score)) || math.IsInf(float64(n.Score), 0) {
				t.Errorf("anchor %d: %s scored %v", i, n.Id, n.Score)
			}
		}
		if ps := r.PositiveScore; ps != nil && (math.IsNaN(float64(*ps)) || math.IsInf(float64(*ps), 0)) {
			t.Errorf("anchor %d: positive score %v", i, *ps)
		}
	}

	_, err = c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "dot", Items: items})
	if f := fieldViolations(err); codeOf(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "items.vectors[2]" {
		t.Errorf("dot upsert of a huge vector: %v (%v)", err, f)
	}
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "dot", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes(sub), PositiveVectors: f32bytes(huge)}}})
	if f := fieldViolations(err); codeOf(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "anchors[0].positive_vectors[0]" {
		t.Errorf("dot positive vector with a huge norm: %v (%v)", err, f)
	}
}

// A Mine with a bad policy is refused naming the policy's fields, together with the
// anchors' own errors, before the response-size check reads the policy's counts: out
// of range, they would make that check's estimate meaningless.
func TestBadPolicyIsNamedBeforeTheResponseSizeCheck(t *testing.T) {
	ts := startServerArgs(t, t.TempDir(), "-grpc-max-msg-bytes=1048576")
	ctx := context.Background()
	const dim = 256
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	anchors := make([]*hardnegv1.Anchor, 1000)
	for i := range anchors {
		v := make([]float32, dim)
		v[i%dim] = 1
		anchors[i] = &hardnegv1.Anchor{Vector: f32bytes(v)}
	}
	anchors[3] = &hardnegv1.Anchor{Vector: f32bytes(make([]float32, dim-1))}
	huge := uint32(1 << 20)
	for _, tc := range []struct {
		name   string
		policy *hardnegv1.MiningPolicy
		want   []string
	}{
		{"too many negatives", &hardnegv1.MiningPolicy{NumNegatives: huge}, []string{"policy.num_negatives", "anchors[3].vector"}},
		{"range out of bounds", &hardnegv1.MiningPolicy{NumNegatives: 64, RangeMin: huge + 1}, []string{"policy.range_min", "anchors[3].vector"}},
	} {
		_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors, Policy: tc.policy, IncludeVectors: true})
		if codeOf(err) != codes.InvalidArgument {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := fieldViolations(err); !sameStrings(got, tc.want) {
			t.Errorf("%s: field violations %v, want %v (%v)", tc.name, got, tc.want, err)
		}
	}
	// Valid, the same request is refused for its size, naming include_vectors.
	anchors[3] = anchors[4]
	_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors, Policy: &hardnegv1.MiningPolicy{NumNegatives: 64}, IncludeVectors: true})
	if got := fieldViolations(err); codeOf(err) != codes.InvalidArgument || !sameStrings(got, []string{"include_vectors"}) {
		t.Errorf("valid request over the size: %v (fields %v)", err, got)
	}
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// An answer larger than -grpc-max-msg-bytes that no estimate before the work could
// see (long ids) is refused as INVALID_ARGUMENT naming the field to reduce, with a
// RESPONSE_TOO_LARGE ErrorInfo giving its size, and counted as such: not a transport
// failure after an OK. Mine records nothing of the refused answer in its metrics.
func TestAnswersOverTheMessageLimitAreRefusedNamingTheField(t *testing.T) {
	ts := startServerArgs(t, t.TempDir(), "-grpc-max-msg-bytes=1048576")
	ctx := context.Background()
	const dim, n = 16, 2000
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "long", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%0480d", i) // 480-byte ids
	}
	vecs := randVecs(rand.New(rand.NewPCG(5, 6)), n, dim)
	for lo := 0; lo < n; lo += 1000 {
		items := &hardnegv1.ItemBatch{Ids: ids[lo : lo+1000], Dim: dim, Vectors: f32bytes(vecs[lo : lo+1000]...)}
		if _, err := ts.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "long", Items: items}); err != nil {
			t.Fatal(err)
		}
	}
	anchors := make([]*hardnegv1.Anchor, 64)
	for i := range anchors {
		anchors[i] = &hardnegv1.Anchor{Id: ids[i], Key: fmt.Sprintf("k%d", i)}
	}
	mine := func(anchors []*hardnegv1.Anchor, columnar bool) (*hardnegv1.MineResponse, error) {
		return ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "long", Anchors: anchors, Columnar: columnar,
			Policy: &hardnegv1.MiningPolicy{NumNegatives: 64, Rotate: true}})
	}
	for _, columnar := range []bool{false, true} {
		_, err := mine(anchors, columnar) // 64 × 64 × 480 bytes of ids: about 2 MB
		if codeOf(err) != codes.InvalidArgument || !sameStrings(fieldViolations(err), []string{"anchors"}) ||
			!strings.Contains(status.Convert(err).Message(), "over the largest response (-grpc-max-msg-bytes 1048576)") {
			t.Fatalf("columnar %v: %v", columnar, err)
		}
		need, limit := tooLargeInfo(t, err)
		if need <= 1<<20 || limit != 1<<20 {
			t.Errorf("columnar %v: ErrorInfo bytes %d, limit %d", columnar, need, limit)
		}
	}
	// A quarter of the anchors fits.
	resp, err := mine(anchors[:16], true)
	if err != nil || len(resp.GetColumns().GetIds()) != 16*64 {
		t.Fatalf("16 anchors: %v", err)
	}

	// GetItems: 2,000 ids of 480 bytes, asked back.
	_, err = ts.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "long", Ids: ids, IncludeVectors: true})
	if codeOf(err) != codes.InvalidArgument || !sameStrings(fieldViolations(err), []string{"ids"}) {
		t.Fatalf("get items: %v", err)
	}
	if need, _ := tooLargeInfo(t, err); need <= 1<<20 {
		t.Errorf("get items: ErrorInfo bytes %d", need)
	}
	if got, err := ts.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "long", Ids: ids[:1000]}); err != nil || len(got.GetItems().GetIds()) != 1000 {
		t.Fatalf("get 1,000 items: %v", err)
	}
	fams := scrape(t, ts.srv.HTTPAddr())
	if got := value(fams, "grpc_server_handled_total", "grpc_method", "Mine", "grpc_code", "InvalidArgument"); got != 2 {
		t.Errorf("Mine InvalidArgument count = %v, want 2", got)
	}
	if got := value(fams, "grpc_server_handled_total", "grpc_method", "GetItems", "grpc_code", "InvalidArgument"); got != 1 {
		t.Errorf("GetItems InvalidArgument count = %v, want 1", got)
	}
	if got := value(fams, "hardneg_mine_anchors_total"); got != 16 {
		t.Errorf("anchors mined = %v, want the 16 of the request that was answered", got)
	}
}

// tooLargeInfo returns the bytes and limit of err's RESPONSE_TOO_LARGE ErrorInfo.
func tooLargeInfo(t *testing.T, err error) (need, limit int64) {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == ReasonResponseTooLarge {
			need, _ = strconv.ParseInt(info.Metadata["bytes"], 10, 64)
			limit, _ = strconv.ParseInt(info.Metadata["limit"], 10, 64)
			return need, limit
		}
	}
	t.Fatalf("no %s ErrorInfo in %v", ReasonResponseTooLarge, err)
	return 0, 0
}

// A Mine with guide rules refused before any search (an unknown anchor) leaves both
// collections free to take either guide role; one that mined keeps them.
func TestRefusedGuideRequestLeavesTheRolesFree(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	vecs := randVecs(rand.New(rand.NewPCG(8, 9)), 30, 4)
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprintf("i%d", i)
	}
	for _, name := range []string{"p1", "p2"} {
		if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: name, Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: name, Items: &hardnegv1.ItemBatch{Ids: ids, Dim: 4, Vectors: f32bytes(vecs...)}}); err != nil {
			t.Fatal(err)
		}
	}
	margin := float32(0.1)
	mine := func(coll, guide, anchor string) error {
		_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: coll, Anchors: []*hardnegv1.Anchor{{Id: anchor, PositiveIds: []string{"i2"}}},
			Policy: &hardnegv1.MiningPolicy{GuideCollection: guide, GuideMargin: &margin}})
		return err
	}
	if err := mine("p1", "p2", "zz"); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("unknown anchor: %v", err)
	}
	if err := mine("p2", "p1", "i1"); err != nil {
		t.Fatalf("roles swapped after a refused request: %v", err)
	}
	err := mine("p1", "p2", "i1")
	if msg := status.Convert(err).Message(); codeOf(err) != codes.FailedPrecondition || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, `collection "p1" is another collection's guide and "p2" is mined with guide rules`) {
		t.Fatalf("roles swapped after a mined request: %v", err)
	}
}

// A synthetic bound outside [0, 1] is named once, not also as above the other bound.
func TestSyntheticBoundOutsideItsRangeIsNamedOnce(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	two := float32(2)
	_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes([]float32{1, 0, 0, 0})}},
		Policy: &hardnegv1.MiningPolicy{Synthetic: &hardnegv1.SyntheticPolicy{NumMixed: 2, AlphaMin: &two}}})
	if got := fieldViolations(err); len(got) != 1 || got[0] != "policy.synthetic.alpha_min" ||
		status.Convert(err).Message() != "policy.synthetic.alpha_min: must be in [0, 1], got 2" {
		t.Fatalf("%v (fields %v)", err, got)
	}
}

// An error must reach a client that takes only 8 KiB of trailers, as gRPC's C-core
// (the Python client) does by default: ten violations quoting long ids of control
// characters (escaped 4 bytes each) came to over 8 KiB, and the client reported
// INTERNAL (RST_STREAM) or RESOURCE_EXHAUSTED without the field. The field paths and
// descriptions are cut, and the status is kept within a budget, so the answer is
// INVALID_ARGUMENT naming the first bad anchor.
func TestLongErrorsFitASmallClientsTrailers(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(ts.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithMaxHeaderListSize(8192))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	small := hardnegv1.NewMinerServiceClient(conn)
	for _, fill := range []string{"\x01", "x", "é"} {
		var anchors []*hardnegv1.Anchor
		for i := range 16 {
			// Ids of the longest length allowed, not in the collection.
			anchors = append(anchors, &hardnegv1.Anchor{Id: fmt.Sprintf("%03d", i) + strings.Repeat(fill, 509/len(fill))})
		}
		_, err := small.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "anchors[0].id: ") {
			t.Fatalf("ids of %q: %v; want INVALID_ARGUMENT naming anchors[0].id", fill, err)
		}
		f := fieldViolations(err)
		if len(f) == 0 || f[0] != "anchors[0].id" {
			t.Errorf("ids of %q: field violations %v", fill, f)
		}
		if n := len(st.Message()); n > maxStatusMessage || proto.Size(st.Proto()) > maxStatusBytes {
			t.Errorf("ids of %q: message of %d bytes, status of %d", fill, n, proto.Size(st.Proto()))
		}
	}
}

// Only answers over gRPC are cut to fit a client's trailers: the inspector's JSON errors
// (toStatus) keep every violation the error lists.
func TestOnlyGRPCErrorsAreCutToFitTrailers(t *testing.T) {
	verr := &validate.Error{}
	for i := range 16 {
		verr.Add(fmt.Sprintf("anchors[%d].id", i), "%q is not in the collection", fmt.Sprintf("%03d", i)+strings.Repeat("\x01", 509))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if f := fieldViolations(toStatus(log, "m", verr)); len(f) != validate.MaxViolations {
		t.Errorf("toStatus kept %d violations, want %d", len(f), validate.MaxViolations)
	}
	err := grpcStatus(log, "m", verr)
	if f := fieldViolations(err); len(f) == 0 || len(f) >= validate.MaxViolations || f[0] != "anchors[0].id" {
		t.Errorf("grpcStatus kept violations %v", f)
	}
	if st := status.Convert(err); proto.Size(st.Proto()) > maxStatusBytes || st.Code() != codes.InvalidArgument {
		t.Errorf("grpcStatus: %v, %d bytes", st.Code(), proto.Size(st.Proto()))
	}
}
