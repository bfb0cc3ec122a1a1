package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// The bad-input battery: every RPC, called the way a new user gets it wrong, must answer
// the documented code with a message naming the bad field, apply nothing, and leave the
// server SERVING.

const batteryDim = 8

// batteryCase is one bad call. field must appear in the status message or in one of its
// BadRequest field violations.
type batteryCase struct {
	name  string
	code  codes.Code
	field string
	call  func(ctx context.Context, c hardnegv1.MinerServiceClient) error
}

// batteryState is what a rejected call must leave unchanged.
type batteryState struct {
	collections []string
	counts      map[string]uint64
	items       map[string]*hardnegv1.GetItemsResponse
}

func readBatteryState(t *testing.T, c hardnegv1.MinerServiceClient, ids []string) batteryState {
	t.Helper()
	ctx := context.Background()
	st := batteryState{counts: map[string]uint64{}, items: map[string]*hardnegv1.GetItemsResponse{}}
	lc, err := c.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range lc.Collections {
		st.collections = append(st.collections, col.Name)
		st.counts[col.Name] = col.GetStats().GetItemCount()
		if col.Name == "c" || col.Name == "dot" {
			it, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: col.Name, Ids: append(ids, "new", "x"), IncludeVectors: true})
			if err != nil {
				t.Fatal(err)
			}
			st.items[col.Name] = it
		}
	}
	return st
}

func (a batteryState) equal(b batteryState) bool {
	if strings.Join(a.collections, ",") != strings.Join(b.collections, ",") || len(a.counts) != len(b.counts) {
		return false
	}
	for k, v := range a.counts {
		if b.counts[k] != v {
			return false
		}
	}
	for k, v := range a.items {
		if !proto.Equal(v, b.items[k]) {
			return false
		}
	}
	return true
}

// statusText is a status's message and its BadRequest field names, for "names the field".
func statusText(err error) string {
	return status.Convert(err).Message() + " | " + strings.Join(fieldViolations(err), " ")
}

func vecBytes(xs ...float32) []byte { return f32bytes(xs) }

func unit(i int) []float32 {
	v := make([]float32, batteryDim)
	v[i%batteryDim] = 1
	v[(i+1)%batteryDim] = 0.5 + float32(i)/100
	return v
}

func setUpBattery(t *testing.T, c hardnegv1.MinerServiceClient) []string {
	t.Helper()
	ctx := context.Background()
	for _, cr := range []*hardnegv1.CreateCollectionRequest{
		{Name: "c", Dim: batteryDim, Metric: hardnegv1.Metric_METRIC_COSINE},
		{Name: "dot", Dim: batteryDim, Metric: hardnegv1.Metric_METRIC_DOT},
		{Name: "g", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE},
	} {
		if _, err := c.CreateCollection(ctx, cr); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	var vs [][]float32
	var groups []*hardnegv1.GroupList
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("i%d", i))
		vs = append(vs, unit(i))
		groups = append(groups, &hardnegv1.GroupList{Groups: []string{fmt.Sprintf("g%d", i%5)}})
	}
	for _, name := range []string{"c", "dot"} {
		if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: name, Items: &hardnegv1.ItemBatch{Ids: ids, Dim: batteryDim, Vectors: f32bytes(vs...), Groups: groups}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// resetBattery undoes what a wrongly accepted call changed, so one defect does not fail
// the cases after it.
func resetBattery(t *testing.T, c hardnegv1.MinerServiceClient, ids []string) {
	t.Helper()
	ctx := context.Background()
	lc, err := c.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range lc.Collections {
		if _, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: col.Name}); err != nil {
			t.Fatal(err)
		}
	}
	setUpBattery(t, c)
}

func mine(pol *hardnegv1.MiningPolicy, anchors ...*hardnegv1.Anchor) func(context.Context, hardnegv1.MinerServiceClient) error {
	if len(anchors) == 0 {
		anchors = []*hardnegv1.Anchor{{Id: "i1", PositiveIds: []string{"i2"}}}
	}
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Policy: pol, Anchors: anchors})
		return err
	}
}

func upsert(coll string, b *hardnegv1.ItemBatch) func(context.Context, hardnegv1.MinerServiceClient) error {
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: coll, Items: b})
		return err
	}
}

func batches(req *hardnegv1.BuildBatchesRequest) func(context.Context, hardnegv1.MinerServiceClient) error {
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		if req.Collection == "" {
			req.Collection = "c"
		}
		st, err := c.BuildBatches(ctx, req)
		if err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
}

func backup(req *hardnegv1.BackupRequest) func(context.Context, hardnegv1.MinerServiceClient) error {
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		st, err := c.Backup(ctx, req)
		if err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
}

// restoreMsgs sends msgs on a Restore stream and returns the answer.
func restoreMsgs(msgs ...*hardnegv1.RestoreRequest) func(context.Context, hardnegv1.MinerServiceClient) error {
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		st, err := c.Restore(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break // the server answered early; CloseAndRecv returns its status
			}
		}
		_, err = st.CloseAndRecv()
		return err
	}
}

func stream(msgs ...*hardnegv1.UpsertStreamRequest) func(context.Context, hardnegv1.MinerServiceClient) error {
	return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
		st, err := c.UpsertStream(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break
			}
		}
		if err := st.CloseSend(); err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
}

func f32p(v float32) *float32 { return &v }

var (
	nan  = float32(math.NaN())
	inf  = float32(math.Inf(1))
	long = strings.Repeat("a", 10_000)
)

// floatPolicyCases returns, for every float field of MiningPolicy, values it must
// reject.
func floatPolicyCases() []batteryCase {
	type field struct {
		name string
		set  func(p *hardnegv1.MiningPolicy, v float32)
		bad  []float32
	}
	fields := []field{
		{"duplicate_threshold", func(p *hardnegv1.MiningPolicy, v float32) { p.DuplicateThreshold = &v }, []float32{nan, inf, 1.5, -1.5}},
		{"absolute_margin", func(p *hardnegv1.MiningPolicy, v float32) { p.AbsoluteMargin = &v }, []float32{nan, inf, -inf}},
		{"relative_margin", func(p *hardnegv1.MiningPolicy, v float32) { p.RelativeMargin = &v }, []float32{nan, inf, -0.5, 1.5}},
		{"min_score", func(p *hardnegv1.MiningPolicy, v float32) { p.MinScore = &v }, []float32{nan, inf, -inf}},
		{"max_score", func(p *hardnegv1.MiningPolicy, v float32) { p.MaxScore = &v }, []float32{nan, inf, -inf}},
		{"temperature", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Sampling = hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX
			p.Temperature = &v
		}, []float32{nan, inf, 0, -1}},
		{"simans_a", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Sampling = hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS
			p.SimansA = &v
		}, []float32{nan, inf, -1}},
		{"simans_b", func(p *hardnegv1.MiningPolicy, v float32) { p.SimansB = &v }, []float32{nan, inf}},
		{"diversity_threshold", func(p *hardnegv1.MiningPolicy, v float32) { p.DiversityThreshold = &v }, []float32{nan, inf, 1.5, -1.5}},
		{"duplicate_quantile", func(p *hardnegv1.MiningPolicy, v float32) { p.DuplicateQuantile = &v }, []float32{nan, inf, -0.1, 1.5}},
		{"duplicate_zscore", func(p *hardnegv1.MiningPolicy, v float32) { p.DuplicateZscore = &v }, []float32{nan, inf, -inf}},
		{"guide_margin", func(p *hardnegv1.MiningPolicy, v float32) { p.GuideCollection = "g"; p.GuideMargin = &v }, []float32{nan, inf}},
		{"guide_duplicate_threshold", func(p *hardnegv1.MiningPolicy, v float32) { p.GuideCollection = "g"; p.GuideDuplicateThreshold = &v }, []float32{nan, inf, 1.5}},
		{"duplicate_margin", func(p *hardnegv1.MiningPolicy, v float32) { p.DuplicateMargin = &v }, []float32{nan, inf, -inf}},
		{"synthetic.alpha_min", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 2, AlphaMin: &v}
		}, []float32{nan, inf, -0.1, 1.1}},
		{"synthetic.alpha_max", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 2, AlphaMax: &v}
		}, []float32{nan, inf, -0.1, 1.1}},
		{"synthetic.beta_min", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumQueryMixed: 2, BetaMin: &v}
		}, []float32{nan, inf, -0.1, 1.1}},
		{"synthetic.beta_max", func(p *hardnegv1.MiningPolicy, v float32) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumQueryMixed: 2, BetaMax: &v}
		}, []float32{nan, inf, -0.1, 1.1}},
	}
	var out []batteryCase
	for _, f := range fields {
		for _, v := range f.bad {
			p := &hardnegv1.MiningPolicy{NumNegatives: 2}
			f.set(p, v)
			out = append(out, batteryCase{fmt.Sprintf("Mine/policy.%s=%v", f.name, v), codes.InvalidArgument, f.name, mine(p)})
		}
	}
	return out
}

func batteryCases() []batteryCase {
	ok := func(i int) []byte { return f32bytes(unit(i)) }
	pol := func(f func(p *hardnegv1.MiningPolicy)) *hardnegv1.MiningPolicy {
		p := &hardnegv1.MiningPolicy{NumNegatives: 2}
		f(p)
		return p
	}
	nameCases := func(rpc string, field string, call func(name string) func(context.Context, hardnegv1.MinerServiceClient) error, emptyCode codes.Code) []batteryCase {
		return []batteryCase{
			{rpc + "/empty " + field, emptyCode, field, call("")},
			{rpc + "/long " + field, codes.InvalidArgument, field, call(long)},
			{rpc + "/NUL in " + field, codes.InvalidArgument, field, call("c\x00")},
			{rpc + "/slash in " + field, codes.InvalidArgument, field, call("../c")},
			{rpc + "/unknown " + field, codes.NotFound, "nope", call("nope")},
		}
	}
	var cs []batteryCase
	// Names of collections, for every RPC that takes one.
	cs = append(cs, nameCases("CreateCollection", "name", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: n, Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE})
			return err
		}
	}, codes.InvalidArgument)[:4]...)
	cs = append(cs, nameCases("GetCollection", "name", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: n})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("DeleteCollection", "name", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: n})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("Upsert", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return upsert(n, &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(3)})
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("Delete", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: n, Ids: []string{"i1"}})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("GetItems", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: n, Ids: []string{"i1"}})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("Mine", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Id: "i1"}}})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("Mine", "guide_collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return mine(pol(func(p *hardnegv1.MiningPolicy) {
			p.GuideCollection = n
			if n == "" {
				p.GuideMargin = f32p(0.1) // a guide rule without a guide collection
			}
		}))
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("ReportFalseNegatives", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: n, Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "k", ItemIds: []string{"i1"}}}})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("GetCalibration", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetCalibration(ctx, &hardnegv1.GetCalibrationRequest{Collection: n})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("SnapshotCollection", "name", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: n})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("ListSnapshots", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ListSnapshots(ctx, &hardnegv1.ListSnapshotsRequest{Collection: n})
			return err
		}
	}, codes.InvalidArgument)[1:]...) // empty: every collection
	cs = append(cs, nameCases("Backup", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return backup(&hardnegv1.BackupRequest{Collection: n})
	}, codes.InvalidArgument)[1:]...) // empty: every collection
	cs = append(cs, nameCases("RefreshQueue", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: n})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("BuildBatches", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		if n == "" {
			n = " " // batches() fills an empty name with "c"
		}
		return batches(&hardnegv1.BuildBatchesRequest{Collection: n, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}}, BatchSize: 1})
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("ReportLoss", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: n, Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "k", Solved: proto.Bool(true)}}})
			return err
		}
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("UpsertStream", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return stream(&hardnegv1.UpsertStreamRequest{Collection: n, WriterId: "w", Sequence: 1, Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(3)}})
	}, codes.InvalidArgument)...)
	cs = append(cs, nameCases("Restore", "collection", func(n string) func(context.Context, hardnegv1.MinerServiceClient) error {
		return restoreMsgs(&hardnegv1.RestoreRequest{Collection: n, Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 2, SizeBytes: 7, Collection: &hardnegv1.Collection{Name: "r", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}}}},
			&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: []byte("garbage")}})
	}, codes.InvalidArgument)[1:4]...)

	cs = append(cs,
		// CreateCollection
		batteryCase{"CreateCollection/space in name", codes.InvalidArgument, "name: holds ' ' at byte 2; must be 1–128 characters", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "my docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE})
			return err
		}},
		batteryCase{"GetItems/long collection name", codes.InvalidArgument, "collection: is 129 bytes", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: strings.Repeat("c", 129), Ids: []string{"a"}})
			return err
		}},
		batteryCase{"CreateCollection/dim 0", codes.InvalidArgument, "dim", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 0, Metric: hardnegv1.Metric_METRIC_COSINE})
			return err
		}},
		batteryCase{"CreateCollection/dim huge", codes.InvalidArgument, "dim", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 1 << 31, Metric: hardnegv1.Metric_METRIC_COSINE})
			return err
		}},
		batteryCase{"CreateCollection/no metric", codes.InvalidArgument, "metric", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4})
			return err
		}},
		batteryCase{"CreateCollection/unknown metric", codes.InvalidArgument, "metric", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: 99})
			return err
		}},
		batteryCase{"CreateCollection/huge m", codes.InvalidArgument, "index_params.m", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{M: 1 << 30}})
			return err
		}},
		batteryCase{"CreateCollection/huge ef_construction", codes.InvalidArgument, "index_params.ef_construction", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{EfConstruction: 1 << 30}})
			return err
		}},
		batteryCase{"CreateCollection/ef_construction below m", codes.InvalidArgument, "index_params.ef_construction: must be at least m (16), got 8", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{EfConstruction: 8}})
			return err
		}},
		batteryCase{"CreateCollection/huge ef_search", codes.InvalidArgument, "index_params.ef_search", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{EfSearch: 1 << 30}})
			return err
		}},
		batteryCase{"CreateCollection/int8 on l2", codes.InvalidArgument, "index_params.quantization", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_L2, IndexParams: &hardnegv1.IndexParams{Quantization: hardnegv1.Quantization_QUANTIZATION_INT8}})
			return err
		}},
		batteryCase{"CreateCollection/unknown quantization", codes.InvalidArgument, "index_params.quantization", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "n", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{Quantization: 7}})
			return err
		}},
		batteryCase{"CreateCollection/exists", codes.AlreadyExists, "c", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE})
			return err
		}},

		// Upsert
		batteryCase{"Upsert/no items is a no-op", codes.OK, "", upsert("c", nil)},
		batteryCase{"Upsert/empty batch is a no-op", codes.OK, "", upsert("c", &hardnegv1.ItemBatch{Dim: batteryDim})},
		batteryCase{"Upsert/empty id", codes.InvalidArgument, "items.ids[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", ""}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2))})},
		batteryCase{"Upsert/long id", codes.InvalidArgument, "items.ids[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", long}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2))})},
		batteryCase{"Upsert/NUL id", codes.InvalidArgument, "items.ids[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "a\x00b"}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2))})},
		batteryCase{"Upsert/duplicate id", codes.InvalidArgument, "items.ids[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "new"}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2))})},
		batteryCase{"Upsert/wrong dim", codes.InvalidArgument, "items.dim", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: 4, Vectors: vecBytes(1, 0, 0, 0)})},
		batteryCase{"Upsert/dim unset", codes.InvalidArgument, "items.dim", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Vectors: ok(1)})},
		batteryCase{"Upsert/short vectors", codes.InvalidArgument, "items.vectors", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: ok(1)})},
		batteryCase{"Upsert/odd bytes", codes.InvalidArgument, "items.vectors", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: append(ok(1), 7)})},
		batteryCase{"Upsert/NaN", codes.InvalidArgument, "items.vectors[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: f32bytes(unit(1), []float32{nan, 0, 0, 0, 0, 0, 0, 0})})},
		batteryCase{"Upsert/Inf", codes.InvalidArgument, "items.vectors[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: f32bytes(unit(1), []float32{inf, 0, 0, 0, 0, 0, 0, 0})})},
		batteryCase{"Upsert/zero vector cosine", codes.InvalidArgument, "items.vectors[1]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: f32bytes(unit(1), make([]float32, batteryDim))})},
		batteryCase{"Upsert/groups length", codes.InvalidArgument, "items.groups", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2)), Groups: []*hardnegv1.GroupList{{Groups: []string{"a"}}}})},
		batteryCase{"Upsert/NUL group", codes.InvalidArgument, "items.groups[0]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1), Groups: []*hardnegv1.GroupList{{Groups: []string{"a\x00"}}}})},
		batteryCase{"Upsert/long group", codes.InvalidArgument, "items.groups[0]", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1), Groups: []*hardnegv1.GroupList{{Groups: []string{long}}}})},
		batteryCase{"Upsert/versions length", codes.InvalidArgument, "items.versions", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new", "x"}, Dim: batteryDim, Vectors: f32bytes(unit(1), unit(2)), Versions: []int64{1}})},

		batteryCase{"Upsert/message over the size limit", codes.ResourceExhausted, "larger than max", upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: make([]byte, 65<<20)})},

		// Delete, GetItems
		batteryCase{"Delete/duplicate id", codes.InvalidArgument, "ids[1]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c", Ids: []string{"i1", "i1"}})
			return err
		}},
		batteryCase{"Delete/no ids is a no-op", codes.OK, "", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c"})
			return err
		}},
		batteryCase{"Delete/empty id", codes.InvalidArgument, "ids[1]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c", Ids: []string{"i1", ""}})
			return err
		}},
		batteryCase{"Delete/NUL id", codes.InvalidArgument, "ids[1]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c", Ids: []string{"i1", "\x00"}})
			return err
		}},
		batteryCase{"Delete/long id", codes.InvalidArgument, "ids[1]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c", Ids: []string{"i1", long}})
			return err
		}},
		batteryCase{"GetItems/empty id", codes.InvalidArgument, "ids[0]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "c", Ids: []string{""}})
			return err
		}},
		batteryCase{"GetItems/long id", codes.InvalidArgument, "ids[0]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "c", Ids: []string{long}})
			return err
		}},
		batteryCase{"GetItems/too many ids", codes.InvalidArgument, "ids", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "c", Ids: make([]string, 200_000)})
			return err
		}},

		// Mine: anchors
		batteryCase{"Mine/no anchors", codes.InvalidArgument, "anchors", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c"})
			return err
		}},
		batteryCase{"Mine/too many anchors", codes.InvalidArgument, "anchors", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			as := make([]*hardnegv1.Anchor, 1025)
			for i := range as {
				as[i] = &hardnegv1.Anchor{Id: "i1"}
			}
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: as})
			return err
		}},
		batteryCase{"Mine/empty anchor", codes.InvalidArgument, "anchors[0]", mine(nil, &hardnegv1.Anchor{})},
		batteryCase{"Mine/unknown anchor id", codes.InvalidArgument, "anchors[0].id", mine(nil, &hardnegv1.Anchor{Id: "nope"})},
		batteryCase{"Mine/NUL anchor key", codes.InvalidArgument, "anchors[0].key: must be UTF-8 without NUL", mine(nil, &hardnegv1.Anchor{Id: "i1", Key: "k\x00"})},
		batteryCase{"Mine/empty anchor group", codes.InvalidArgument, "anchors[0].groups[1]", mine(nil, &hardnegv1.Anchor{Id: "i1", Groups: []string{"g", ""}})},
		batteryCase{"Mine/NUL anchor id", codes.InvalidArgument, "anchors[0].id", mine(nil, &hardnegv1.Anchor{Id: "i\x00"})},
		batteryCase{"Mine/long anchor id", codes.InvalidArgument, "anchors[0].id", mine(nil, &hardnegv1.Anchor{Id: long})},
		batteryCase{"Mine/long key", codes.InvalidArgument, "anchors[0].key", mine(nil, &hardnegv1.Anchor{Id: "i1", Key: long})},
		batteryCase{"Mine/wrong dim", codes.InvalidArgument, "anchors[0].vector", mine(nil, &hardnegv1.Anchor{Vector: vecBytes(1, 0, 0)})},
		batteryCase{"Mine/NaN vector", codes.InvalidArgument, "anchors[0].vector", mine(nil, &hardnegv1.Anchor{Vector: f32bytes([]float32{nan, 1, 0, 0, 0, 0, 0, 0})})},
		batteryCase{"Mine/Inf vector", codes.InvalidArgument, "anchors[0].vector", mine(nil, &hardnegv1.Anchor{Vector: f32bytes([]float32{inf, 1, 0, 0, 0, 0, 0, 0})})},
		batteryCase{"Mine/zero vector", codes.InvalidArgument, "anchors[0].vector", mine(nil, &hardnegv1.Anchor{Vector: make([]byte, 4*batteryDim)})},
		batteryCase{"Mine/positive_vectors length", codes.InvalidArgument, "anchors[0].positive_vectors", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveVectors: append(ok(1), 1, 2, 3, 4)})},
		batteryCase{"Mine/NaN positive", codes.InvalidArgument, "anchors[0].positive_vectors", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveVectors: f32bytes([]float32{nan, 1, 0, 0, 0, 0, 0, 0})})},
		batteryCase{"Mine/too many exclude ids", codes.InvalidArgument, "anchors[0].exclude_ids", mine(nil, &hardnegv1.Anchor{Id: "i1", ExcludeIds: make([]string, 4097)})},
		batteryCase{"Mine/too many positive ids", codes.InvalidArgument, "anchors[0].positive_ids", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveIds: make([]string, 1025)})},
		batteryCase{"Mine/too many groups", codes.InvalidArgument, "anchors[0].groups", mine(nil, &hardnegv1.Anchor{Id: "i1", Groups: make([]string, 257)})},
		batteryCase{"Mine/empty positive id", codes.InvalidArgument, "anchors[0].positive_ids[0]", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveIds: []string{""}})},
		batteryCase{"Mine/NUL positive id", codes.InvalidArgument, "anchors[0].positive_ids[1]: contains a NUL byte", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveIds: []string{"i2", "p\x00"}})},
		batteryCase{"Mine/long positive id", codes.InvalidArgument, "anchors[0].positive_ids[0]: is 10000 bytes", mine(nil, &hardnegv1.Anchor{Id: "i1", PositiveIds: []string{long}})},
		batteryCase{"Mine/NUL exclude id", codes.InvalidArgument, "anchors[0].exclude_ids[0]: contains a NUL byte", mine(nil, &hardnegv1.Anchor{Id: "i1", ExcludeIds: []string{"x\x00"}})},
		batteryCase{"Mine/long exclude id", codes.InvalidArgument, "anchors[0].exclude_ids[0]: is 10000 bytes", mine(nil, &hardnegv1.Anchor{Id: "i1", ExcludeIds: []string{long}})},
		batteryCase{"Mine/long anchor id with a vector", codes.InvalidArgument, "anchors[0].id: is 10000 bytes", mine(nil, &hardnegv1.Anchor{Id: long, Vector: ok(3)})},
		batteryCase{"Mine/NUL anchor id with a vector", codes.InvalidArgument, "anchors[0].id: contains a NUL byte", mine(nil, &hardnegv1.Anchor{Id: "a\x00", Vector: ok(3)})},
		batteryCase{"Mine/unknown guide collection", codes.NotFound, "policy.guide_collection: \"nope\": collection not found", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "nope"; p.GuideMargin = f32p(0) }))},
		batteryCase{"Mine/searched collection as its guide, no guide rule", codes.InvalidArgument, "policy.guide_collection: must not be the searched collection", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "c" }))},
		batteryCase{"Mine/guide vector without guide", codes.InvalidArgument, "anchors[0].guide_vector", mine(nil, &hardnegv1.Anchor{Id: "i1", GuideVector: vecBytes(1, 0, 0, 0)})},
		batteryCase{"Mine/guide vector wrong dim", codes.InvalidArgument, "anchors[0].guide_vector", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "g"; p.GuideMargin = f32p(0) }), &hardnegv1.Anchor{Id: "i1", GuideVector: vecBytes(1, 0)})},
		batteryCase{"Mine/guide positives wrong dim", codes.InvalidArgument, "anchors[0].guide_positive_vectors", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "g"; p.GuideMargin = f32p(0) }), &hardnegv1.Anchor{Id: "i1", GuidePositiveVectors: vecBytes(1, 0)})},
		// Mine: counts
		batteryCase{"Mine/huge k", codes.InvalidArgument, "num_negatives", mine(&hardnegv1.MiningPolicy{NumNegatives: 1 << 31})},
		batteryCase{"Mine/pfn_budget 2000", codes.InvalidArgument, "pfn_budget: must be 0–1024, got 2000", mine(pol(func(p *hardnegv1.MiningPolicy) { p.PfnBudget = proto.Uint32(2000) }))},
		batteryCase{"Mine/pfn_budget max uint32", codes.InvalidArgument, "pfn_budget: must be 0–1024, got 4294967295", mine(pol(func(p *hardnegv1.MiningPolicy) { p.PfnBudget = proto.Uint32(math.MaxUint32) }))},
		batteryCase{"Mine/k 1025", codes.InvalidArgument, "num_negatives", mine(&hardnegv1.MiningPolicy{NumNegatives: 1025})},
		batteryCase{"Mine/range_min > range_max", codes.InvalidArgument, "range", mine(pol(func(p *hardnegv1.MiningPolicy) { p.RangeMin, p.RangeMax = 10, 5 }))},
		batteryCase{"Mine/range huge", codes.InvalidArgument, "range_max", mine(pol(func(p *hardnegv1.MiningPolicy) { p.RangeMax = 1 << 31 }))},
		batteryCase{"Mine/min_score > max_score", codes.InvalidArgument, "score", mine(pol(func(p *hardnegv1.MiningPolicy) { p.MinScore, p.MaxScore = f32p(0.9), f32p(0.1) }))},
		batteryCase{"Mine/ef_search huge", codes.InvalidArgument, "ef_search", mine(pol(func(p *hardnegv1.MiningPolicy) { p.EfSearch = 1 << 31 }))},
		batteryCase{"Mine/closed_loop_depth huge", codes.InvalidArgument, "closed_loop_depth", mine(pol(func(p *hardnegv1.MiningPolicy) { p.ClosedLoop = true; p.ClosedLoopDepth = 1 << 31 }))},
		batteryCase{"Mine/max_staleness negative", codes.InvalidArgument, "max_staleness", mine(pol(func(p *hardnegv1.MiningPolicy) { p.MaxStaleness = proto.Int64(-1) }))},
		batteryCase{"Mine/explain huge", codes.InvalidArgument, "explain", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Explain: 1 << 31, Anchors: []*hardnegv1.Anchor{{Id: "i1"}}})
			return err
		}},
		batteryCase{"Mine/synthetic num_mixed huge", codes.InvalidArgument, "synthetic.num_mixed", mine(pol(func(p *hardnegv1.MiningPolicy) { p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 1 << 31} }))},
		batteryCase{"Mine/synthetic num_query_mixed huge", codes.InvalidArgument, "synthetic.num_query_mixed", mine(pol(func(p *hardnegv1.MiningPolicy) { p.Synthetic = &hardnegv1.SyntheticPolicy{NumQueryMixed: 1 << 31} }))},
		batteryCase{"Mine/synthetic pool huge", codes.InvalidArgument, "synthetic.pool", mine(pol(func(p *hardnegv1.MiningPolicy) { p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 1, Pool: 1 << 31} }))},
		// Mine: enums and contradictions
		batteryCase{"Mine/hardness floor at range_min", codes.InvalidArgument, "policy.max_rank: 10 is not above range_min (50)", mine(pol(func(p *hardnegv1.MiningPolicy) { p.RangeMin, p.RangeMax, p.MaxRank = 50, 60, 10 }))},
		batteryCase{"Mine/unknown rank_mode", codes.InvalidArgument, "rank_mode", mine(pol(func(p *hardnegv1.MiningPolicy) { p.RankMode = 99 }))},
		batteryCase{"Mine/unknown sampling", codes.InvalidArgument, "sampling", mine(pol(func(p *hardnegv1.MiningPolicy) { p.Sampling = 99 }))},
		batteryCase{"Mine/unknown stale_rule", codes.InvalidArgument, "stale_rule", mine(pol(func(p *hardnegv1.MiningPolicy) { p.StaleRule = 99; p.MinVersion = proto.Int64(1) }))},
		batteryCase{"Mine/alpha_min > alpha_max", codes.InvalidArgument, "synthetic.alpha", mine(pol(func(p *hardnegv1.MiningPolicy) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 2, AlphaMin: f32p(0.9), AlphaMax: f32p(0.1)}
		}))},
		batteryCase{"Mine/beta_min > beta_max", codes.InvalidArgument, "synthetic.beta", mine(pol(func(p *hardnegv1.MiningPolicy) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumQueryMixed: 2, BetaMin: f32p(0.9), BetaMax: f32p(0.1)}
		}))},
		batteryCase{"Mine/quantile and zscore", codes.InvalidArgument, "duplicate_", mine(pol(func(p *hardnegv1.MiningPolicy) { p.DuplicateQuantile, p.DuplicateZscore = f32p(0.9), f32p(2) }))},
		batteryCase{"Mine/guide rule without guide", codes.InvalidArgument, "guide_collection", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideDuplicateThreshold = f32p(0.9) }))},
		batteryCase{"Mine/guide of other dim as own collection", codes.InvalidArgument, "anchors[0].guide_vector", mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "c"; p.GuideMargin = f32p(0) }), &hardnegv1.Anchor{Id: "i1", GuideVector: vecBytes(1, 0, 0, 0)})},
		batteryCase{"Mine/guide positive vectors without guide", codes.InvalidArgument, "anchors[0].guide_positive_vectors: guide vectors need policy.guide_collection", mine(nil, &hardnegv1.Anchor{Id: "i1", GuidePositiveVectors: vecBytes(1, 0, 0, 0)})},
		batteryCase{"Mine/rotate vector-only anchor", codes.InvalidArgument, "anchors[0].key", mine(pol(func(p *hardnegv1.MiningPolicy) { p.Rotate = true }), &hardnegv1.Anchor{Vector: ok(3)})},
		batteryCase{"Mine/closed_loop vector-only anchor", codes.InvalidArgument, "anchors[0].key", mine(pol(func(p *hardnegv1.MiningPolicy) { p.ClosedLoop = true }), &hardnegv1.Anchor{Vector: ok(3)})},
		batteryCase{"Mine/synthetic on dot", codes.InvalidArgument, "synthetic", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "dot", Policy: &hardnegv1.MiningPolicy{NumNegatives: 2, Synthetic: &hardnegv1.SyntheticPolicy{NumMixed: 2}}, Anchors: []*hardnegv1.Anchor{{Id: "i1"}}})
			return err
		}},

		batteryCase{"Mine/guide collection already mined with a guide", codes.FailedPrecondition, "guide", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			if err := mine(pol(func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "g"; p.GuideMargin = f32p(0) }))(ctx, c); err != nil {
				return fmt.Errorf("first call: %w", err)
			}
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "g", Policy: &hardnegv1.MiningPolicy{GuideCollection: "dot", GuideMargin: f32p(0)},
				Anchors: []*hardnegv1.Anchor{{Vector: vecBytes(1, 0, 0, 0)}}})
			return err
		}},

		// ReportFalseNegatives
		batteryCase{"ReportFalseNegatives/no reports", codes.InvalidArgument, "reports", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c"})
			return err
		}},
		batteryCase{"ReportFalseNegatives/empty key", codes.InvalidArgument, "reports[0].anchor_key", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{ItemIds: []string{"i1"}}}})
			return err
		}},
		batteryCase{"ReportFalseNegatives/NUL key", codes.InvalidArgument, "reports[0].anchor_key: must not contain NUL", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "k\x00", ItemIds: []string{"i1"}}}})
			return err
		}},
		batteryCase{"ReportFalseNegatives/long key", codes.InvalidArgument, "reports[0].anchor_key", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: long, ItemIds: []string{"i1"}}}})
			return err
		}},
		batteryCase{"ReportFalseNegatives/no item ids", codes.InvalidArgument, "reports[0].item_ids", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "k"}}})
			return err
		}},
		batteryCase{"ReportFalseNegatives/NUL item id", codes.InvalidArgument, "reports[0].item_ids[1]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "k", ItemIds: []string{"i1", "\x00"}}}})
			return err
		}},

		// RefreshQueue
		batteryCase{"RefreshQueue/limit huge", codes.InvalidArgument, "limit", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "c", Limit: 1 << 31})
			return err
		}},

		// Backup
		batteryCase{"Backup/chunk_bytes huge", codes.InvalidArgument, "chunk_bytes", backup(&hardnegv1.BackupRequest{Collection: "c", ChunkBytes: 1 << 31})},

		// Restore
		batteryCase{"Restore/empty stream", codes.InvalidArgument, "header", restoreMsgs()},
		batteryCase{"Restore/chunk first", codes.InvalidArgument, "header", restoreMsgs(&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: []byte("x")}})},
		batteryCase{"Restore/garbage bytes", codes.DataLoss, "checksum", restoreMsgs(
			&hardnegv1.RestoreRequest{Collection: "r", Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 2, Collection: &hardnegv1.Collection{Name: "r", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}, SizeBytes: 7}}},
			&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: []byte("garbage")}})},
		batteryCase{"Restore/header only", codes.DataLoss, "truncated", restoreMsgs(
			&hardnegv1.RestoreRequest{Collection: "r", Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 2, Collection: &hardnegv1.Collection{Name: "r", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}, SizeBytes: 100}}})},
		batteryCase{"Restore/second header", codes.InvalidArgument, "header", restoreMsgs(
			&hardnegv1.RestoreRequest{Collection: "r", Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 2, SizeBytes: 100}}},
			&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 2}}})},
		batteryCase{"Restore/empty header", codes.InvalidArgument, "format version", restoreMsgs(&hardnegv1.RestoreRequest{Collection: "r", Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{}}})},
		batteryCase{"Restore/unknown format", codes.InvalidArgument, "format version", restoreMsgs(&hardnegv1.RestoreRequest{Collection: "r", Part: &hardnegv1.RestoreRequest_Header{Header: &hardnegv1.BackupHeader{FormatVersion: 99, SizeBytes: 1}}})},

		batteryCase{"Restore/onto a collection with items", codes.FailedPrecondition, "dot", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			bs, err := c.Backup(ctx, &hardnegv1.BackupRequest{Collection: "c"})
			if err != nil {
				return err
			}
			var msgs []*hardnegv1.RestoreRequest
			for {
				m, err := bs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				if h := m.GetHeader(); h != nil {
					msgs = append(msgs, &hardnegv1.RestoreRequest{Collection: "dot", Part: &hardnegv1.RestoreRequest_Header{Header: h}})
				} else {
					msgs = append(msgs, &hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: m.GetChunk()}})
				}
			}
			return restoreMsgs(msgs...)(ctx, c)
		}},

		// BuildBatches
		batteryCase{"BuildBatches/no anchors", codes.InvalidArgument, "anchors", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2})},
		batteryCase{"BuildBatches/num_epochs past the schedule", codes.InvalidArgument, "num_epochs: 5 epochs from first_epoch 1 run past the schedule of 2 epochs", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Epochs: 2, FirstEpoch: 1, NumEpochs: 5, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/unknown anchor", codes.InvalidArgument, "anchors[1].id", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "nope"}}})},
		batteryCase{"BuildBatches/empty anchor", codes.InvalidArgument, "anchors[1]", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {}}})},
		batteryCase{"BuildBatches/NUL anchor id", codes.InvalidArgument, "anchors[1].id", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "\x00"}}})},
		batteryCase{"BuildBatches/long anchor id with a vector", codes.InvalidArgument, "anchors[1].id: is 10000 bytes", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: long, Vector: ok(3)}}})},
		batteryCase{"BuildBatches/NUL positive id", codes.InvalidArgument, "anchors[0].positive_ids[0]: contains a NUL byte", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1", PositiveIds: []string{"p\x00"}}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/long positive id", codes.InvalidArgument, "anchors[0].positive_ids[0]: is 10000 bytes", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1", PositiveIds: []string{long}}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/duplicate anchor", codes.InvalidArgument, "anchors[1].id", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i1"}}})},
		batteryCase{"BuildBatches/NaN vector", codes.InvalidArgument, "anchors[0].vector", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "v", Vector: f32bytes([]float32{nan, 1, 0, 0, 0, 0, 0, 0})}, {Id: "i1"}}})},
		batteryCase{"BuildBatches/zero vector", codes.InvalidArgument, "anchors[0].vector", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "v", Vector: make([]byte, 4*batteryDim)}, {Id: "i1"}}})},
		batteryCase{"BuildBatches/wrong dim", codes.InvalidArgument, "anchors[0].vector", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "v", Vector: vecBytes(1)}, {Id: "i1"}}})},
		batteryCase{"BuildBatches/batch size 0", codes.InvalidArgument, "batch_size", batches(&hardnegv1.BuildBatchesRequest{Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/batch size huge", codes.InvalidArgument, "batch_size", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 1 << 31, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/unknown strategy", codes.InvalidArgument, "strategy", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Strategy: 99, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/epochs huge", codes.InvalidArgument, "epochs", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Epochs: 1 << 31, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/first_epoch past epochs", codes.InvalidArgument, "first_epoch", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Epochs: 2, FirstEpoch: 5, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/sample range reversed", codes.InvalidArgument, "sample_range", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Strategy: hardnegv1.BatchStrategy_BATCH_STRATEGY_NEIGHBOURS, SampleRangeMin: 10, SampleRangeMax: 5, NumSampled: 1, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/num_nearest huge", codes.InvalidArgument, "num_nearest", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Strategy: hardnegv1.BatchStrategy_BATCH_STRATEGY_NEIGHBOURS, NumNearest: 1 << 31, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/cluster size huge", codes.InvalidArgument, "cluster_size", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, ClusterSizeStart: 1 << 31, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/NaN duplicate_threshold", codes.InvalidArgument, "duplicate_threshold", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, DuplicateThreshold: f32p(nan), Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/NaN duplicate_margin", codes.InvalidArgument, "duplicate_margin", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, DuplicateMargin: f32p(nan), Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},
		batteryCase{"BuildBatches/duplicate_threshold 2", codes.InvalidArgument, "duplicate_threshold", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, DuplicateThreshold: f32p(2), Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}}})},

		batteryCase{"BuildBatches/too many anchors", codes.InvalidArgument, "anchors", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			as := make([]*hardnegv1.BatchAnchor, 65537)
			for i := range as {
				as[i] = &hardnegv1.BatchAnchor{Id: "i1"}
			}
			return batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: as})(ctx, c)
		}},
		batteryCase{"BuildBatches/too many positives", codes.InvalidArgument, "anchors[0].positive_ids", batches(&hardnegv1.BuildBatchesRequest{BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1", PositiveIds: make([]string, 65)}, {Id: "i2"}}})},

		// ReportLoss
		batteryCase{"ReportLoss/no outcomes", codes.InvalidArgument, "outcomes", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c"})
			return err
		}},
		batteryCase{"ReportLoss/NUL key", codes.InvalidArgument, "outcomes[0].anchor_key: must be UTF-8 without NUL", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "k\x00", Loss: f32p(1)}}})
			return err
		}},
		batteryCase{"ReportLoss/solved and loss", codes.InvalidArgument, "outcomes[1]: set solved or loss, not both", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1", Loss: f32p(1)}, {AnchorKey: "i2", Loss: f32p(1), Solved: proto.Bool(true)}}})
			return err
		}},
		batteryCase{"ReportLoss/NaN loss", codes.InvalidArgument, "outcomes[0].loss", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1", Loss: f32p(nan)}}})
			return err
		}},
		batteryCase{"ReportLoss/Inf loss", codes.InvalidArgument, "outcomes[0].loss", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1", Loss: f32p(inf)}}})
			return err
		}},
		batteryCase{"ReportLoss/no verdict", codes.InvalidArgument, "outcomes[0]", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1"}}})
			return err
		}},
		batteryCase{"ReportLoss/empty key", codes.InvalidArgument, "outcomes[1].anchor_key", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1", Solved: proto.Bool(true)}, {Solved: proto.Bool(true)}}})
			return err
		}},
		batteryCase{"ReportLoss/long key", codes.InvalidArgument, "outcomes[0].anchor_key", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: long, Solved: proto.Bool(true)}}})
			return err
		}},

		batteryCase{"ReportLoss/too many outcomes", codes.InvalidArgument, "outcomes", func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			outs := make([]*hardnegv1.AnchorOutcome, 16385)
			for i := range outs {
				outs[i] = &hardnegv1.AnchorOutcome{AnchorKey: "k", Solved: proto.Bool(true)}
			}
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: outs})
			return err
		}},

		// UpsertStream
		batteryCase{"UpsertStream/closed before any batch", codes.OK, "", stream()},
		batteryCase{"UpsertStream/bad first batch, the next not applied", codes.InvalidArgument, "items.vectors[0]", stream(
			&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w4", Sequence: 1, Items: &hardnegv1.ItemBatch{Ids: []string{"x"}, Dim: batteryDim, Vectors: f32bytes([]float32{nan, 0, 0, 0, 0, 0, 0, 0})}},
			&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w4", Sequence: 2, Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1)}})},
		batteryCase{"UpsertStream/no writer", codes.InvalidArgument, "writer_id", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", Sequence: 1, Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1)}})},
		batteryCase{"UpsertStream/sequence 0", codes.InvalidArgument, "sequence", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w0", Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1)}})},
		batteryCase{"UpsertStream/NaN", codes.InvalidArgument, "items.vectors[0]", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w1", Sequence: 1, Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: f32bytes([]float32{nan, 0, 0, 0, 0, 0, 0, 0})}})},
		batteryCase{"UpsertStream/NUL delete id", codes.InvalidArgument, "delete_ids[0]", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w2", Sequence: 1, DeleteIds: []string{"\x00"}})},
		batteryCase{"UpsertStream/empty batch is a no-op", codes.OK, "", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w3", Sequence: 1})},
		batteryCase{"UpsertStream/NUL writer", codes.InvalidArgument, "writer_id", stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w\x00", Sequence: 1, Items: &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: ok(1)}})},
	)
	cs = append(cs, floatPolicyCases()...)
	return cs
}

func TestBadInputBattery(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := ts.client
	ids := setUpBattery(t, c)
	before := readBatteryState(t, c, ids)
	cases := batteryCases()
	t.Logf("%d cases", len(cases))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := tc.call(ctx, c)
			if codeOf(err) != tc.code {
				t.Errorf("code %v, want %v: %.300s", codeOf(err), tc.code, statusText(err))
			} else if txt := statusText(err); !strings.Contains(txt, tc.field) {
				t.Errorf("status does not name %q: %.300s", tc.field, txt)
			}
			if after := readBatteryState(t, c, ids); !after.equal(before) {
				t.Errorf("state changed:\nbefore %v %v\nafter  %v %v", before.collections, before.counts, after.collections, after.counts)
				resetBattery(t, c, ids)
				before = readBatteryState(t, c, ids) // report the next case's changes only
			}
		})
	}
	checkServing(t, ts)
}

// TestServerStreamsCancelledEarly cancels BuildBatches and Backup after their first
// message: the server stays SERVING and answers the next call.
func TestServerStreamsCancelledEarly(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := ts.client
	ids := setUpBattery(t, c)
	anchors := make([]*hardnegv1.BatchAnchor, len(ids))
	for i, id := range ids {
		anchors[i] = &hardnegv1.BatchAnchor{Id: id}
	}
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		bs, err := c.BuildBatches(ctx, &hardnegv1.BuildBatchesRequest{Collection: "c", Anchors: anchors, BatchSize: 2, Epochs: 50})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Recv(); err != nil {
			t.Fatal(err)
		}
		bk, err := c.Backup(ctx, &hardnegv1.BackupRequest{Collection: "c", ChunkBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bk.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	checkServing(t, ts)
	if err := batches(&hardnegv1.BuildBatchesRequest{Collection: "c", Anchors: anchors, BatchSize: 4})(context.Background(), c); err != nil {
		t.Fatalf("BuildBatches after cancelled streams: %v", err)
	}
}

// TestUndecodableStringsEveryRPC sends each unary RPC a message whose field 1 (a string in
// every request that has one) is not UTF-8.
func TestUndecodableStringsEveryRPC(t *testing.T) {
	ts := startServer(t, t.TempDir())
	badUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "c\xff")
	for _, m := range hardnegv1.MinerService_ServiceDesc.Methods {
		t.Run(m.MethodName, func(t *testing.T) {
			var out []byte
			err := ts.conn.Invoke(context.Background(), "/"+hardnegv1.MinerService_ServiceDesc.ServiceName+"/"+m.MethodName, badUTF8, &out, grpc.ForceCodec(rawCodec{}))
			if m.MethodName == "ListCollections" {
				return // no field 1: an unknown field is ignored
			}
			if codeOf(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	checkServing(t, ts)
}

func checkServing(t *testing.T, ts *testServer) {
	t.Helper()
	resp, err := healthpb.NewHealthClient(ts.conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "hardneg.v1.MinerService"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("server not SERVING: %v %v", resp, err)
	}
}

// fuzzSeed is HARDNEG_FUZZ_SEED when set (to replay a failure), else the clock; it is
// logged either way.
// checkFuzzAnswer counts the code of one fuzzed call's answer in seen and fails on a
// code no malformed request may get: INTERNAL, UNKNOWN, a timeout or UNAVAILABLE.
func checkFuzzAnswer(t *testing.T, it int, seed uint64, err error, req any, seen map[codes.Code]int) {
	t.Helper()
	code := codeOf(err)
	seen[code]++
	if code == codes.Internal || code == codes.Unknown || code == codes.DeadlineExceeded || code == codes.Unavailable {
		t.Fatalf("iteration %d (seed %d): %v\nrequest: %v", it, seed, err, req)
	}
}

func fuzzSeed(t *testing.T) uint64 {
	seed := uint64(envInt("HARDNEG_FUZZ_SEED", 0))
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with HARDNEG_FUZZ_SEED=%d)", seed, seed)
	return seed
}

// TestMineFuzzNeverInternal mutates a valid MineRequest at random and asserts that no
// answer is INTERNAL or UNKNOWN and that the server stays SERVING.
func TestMineFuzzNeverInternal(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := ts.client
	ids := setUpBattery(t, c)
	seed := fuzzSeed(t)
	r := rand.New(rand.NewPCG(seed, 0))
	floats := []float32{nan, inf, -inf, 0, -1, 1, 2, 0.5, 1e30, -1e-30}
	ints := []uint32{0, 1, 2, 7, 1024, 1025, 1 << 20, 1<<32 - 1}
	pick := func(xs []float32) *float32 {
		if r.IntN(3) == 0 {
			return nil
		}
		v := xs[r.IntN(len(xs))]
		return &v
	}
	pickU := func() uint32 {
		if r.IntN(2) == 0 {
			return 0
		}
		return ints[r.IntN(len(ints))]
	}
	strs := []string{"", "i1", "i2", "nope", "\x00", long, "g0"}
	pickS := func() string { return strs[r.IntN(len(strs))] }
	// Each mutation changes one field of a valid request to a random, often bad, value.
	type req = hardnegv1.MineRequest
	anchor := func(q *req) *hardnegv1.Anchor { return q.Anchors[r.IntN(len(q.Anchors))] }
	badVec := func(n int) []byte {
		v := unit(r.IntN(50))
		v[r.IntN(len(v))] = floats[r.IntN(len(floats))]
		return f32bytes(v)[:4*r.IntN(n+1)]
	}
	mutations := []func(q *req){
		func(q *req) { q.Collection = []string{"dot", "g", "", "nope", "c\x00"}[r.IntN(5)] },
		func(q *req) { q.Explain = pickU() },
		func(q *req) { q.IncludeVectors = !q.IncludeVectors },
		func(q *req) { q.Anchors = append(q.Anchors, &hardnegv1.Anchor{Id: pickS()}) },
		func(q *req) { q.Anchors = nil },
		func(q *req) { anchor(q).Id = pickS() },
		func(q *req) { anchor(q).Key = pickS() },
		func(q *req) { anchor(q).Vector = badVec(batteryDim) },
		func(q *req) { anchor(q).Vector, anchor(q).Id = f32bytes(unit(r.IntN(50))), "" },
		func(q *req) { anchor(q).PositiveIds = []string{pickS(), ids[r.IntN(len(ids))]} },
		func(q *req) { anchor(q).PositiveVectors = badVec(batteryDim) },
		func(q *req) { anchor(q).ExcludeIds, anchor(q).Groups = []string{pickS()}, []string{pickS()} },
		func(q *req) { anchor(q).GuideVector = badVec(4) },
		func(q *req) { anchor(q).GuidePositiveVectors = badVec(4) },
		func(q *req) { q.Policy.NumNegatives = pickU() },
		func(q *req) { q.Policy.RangeMin, q.Policy.RangeMax = pickU(), pickU() },
		func(q *req) { q.Policy.MaxCandidates = pickU() },
		func(q *req) { q.Policy.EfSearch = pickU() },
		func(q *req) { q.Policy.MaxRank = pickU() },
		func(q *req) { q.Policy.MaxExposures = pickU() },
		func(q *req) { q.Policy.Rotate = !q.Policy.Rotate },
		func(q *req) { q.Policy.ClosedLoop, q.Policy.ClosedLoopDepth = true, pickU() },
		func(q *req) { q.Policy.RankMode = hardnegv1.RankMode(r.IntN(4)) },
		func(q *req) { q.Policy.Sampling = hardnegv1.SamplingStrategy(r.IntN(7)) },
		func(q *req) { q.Policy.StaleRule = hardnegv1.StaleRule(r.IntN(4)) },
		func(q *req) { q.Policy.Seed = r.Uint64() },
		func(q *req) { q.Policy.DuplicateThreshold = pick(floats) },
		func(q *req) { q.Policy.AbsoluteMargin = pick(floats) },
		func(q *req) { q.Policy.RelativeMargin = pick(floats) },
		func(q *req) { q.Policy.MinScore, q.Policy.MaxScore = pick(floats), pick(floats) },
		func(q *req) { q.Policy.Temperature = pick(floats) },
		func(q *req) { q.Policy.SimansA, q.Policy.SimansB = pick(floats), pick(floats) },
		func(q *req) { q.Policy.DiversityThreshold = pick(floats) },
		func(q *req) { q.Policy.DuplicateQuantile = pick(floats) },
		func(q *req) { q.Policy.DuplicateZscore = pick(floats) },
		func(q *req) { q.Policy.DuplicateMargin = pick(floats) },
		func(q *req) {
			q.Policy.GuideCollection = []string{"g", "c", "dot", "nope", ""}[r.IntN(5)]
			q.Policy.GuideMargin, q.Policy.GuideDuplicateThreshold = pick(floats), pick(floats)
		},
		func(q *req) {
			q.Policy.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: pickU() % 2000, NumQueryMixed: pickU() % 2000, Pool: pickU(),
				AlphaMin: pick(floats), AlphaMax: pick(floats), BetaMin: pick(floats), BetaMax: pick(floats)}
		},
		func(q *req) {
			q.Policy.MinVersion = proto.Int64(int64(r.IntN(5)) - 2)
			q.Policy.MaxStaleness = proto.Int64(int64(r.IntN(5)) - 2)
		},
		func(q *req) {
			q.Policy.ExcludeSameGroup, q.Policy.InBatchExclusion = proto.Bool(r.IntN(2) == 0), proto.Bool(r.IntN(2) == 0)
			q.Policy.UseFeedback, q.Policy.Widen, q.Policy.ExcludeNearDuplicates = proto.Bool(r.IntN(2) == 0), proto.Bool(r.IntN(2) == 0), proto.Bool(r.IntN(2) == 0)
		},
	}
	iters := envInt("HARDNEG_FUZZ_ITERATIONS", 3000)
	codesSeen := map[codes.Code]int{}
	ctx := context.Background()
	for it := range iters {
		req := &hardnegv1.MineRequest{Collection: "c", Policy: &hardnegv1.MiningPolicy{NumNegatives: 3},
			Anchors: []*hardnegv1.Anchor{{Id: ids[r.IntN(len(ids))], PositiveIds: []string{ids[r.IntN(len(ids))]}}, {Vector: f32bytes(unit(r.IntN(50))), Key: "v"}}}
		for range 1 + r.IntN(3) {
			if len(req.Anchors) == 0 {
				break
			}
			mutations[r.IntN(len(mutations))](req)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.Mine(cctx, req)
		cancel()
		checkFuzzAnswer(t, it, seed, err, req, codesSeen)
	}
	t.Logf("codes: %v", codesSeen)
	checkServing(t, ts)
}

// TestBuildBatchesFuzzNeverInternal mutates valid BuildBatches requests at random: no
// answer is INTERNAL or UNKNOWN, and the server stays SERVING.
func TestBuildBatchesFuzzNeverInternal(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := ts.client
	ids := setUpBattery(t, c)
	seed := fuzzSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	ints := []uint32{0, 1, 2, 3, 7, 40, 41, 4096, 4097, 1 << 20, 1<<32 - 1}
	pickU := func() uint32 { return ints[r.IntN(len(ints))] }
	floats := []float32{nan, inf, -inf, 0, -1, 1, 2, 0.5}
	pickF := func() *float32 { v := floats[r.IntN(len(floats))]; return &v }
	strs := []string{"", "i1", "i2", "nope", "\x00", long}
	type req = hardnegv1.BuildBatchesRequest
	mutations := []func(q *req){
		func(q *req) { q.BatchSize = pickU() },
		func(q *req) { q.Strategy = hardnegv1.BatchStrategy(r.IntN(4)) },
		func(q *req) { q.Epochs, q.FirstEpoch, q.NumEpochs = pickU()%20, pickU()%20, pickU()%20 },
		func(q *req) { q.ClusterSizeStart, q.ClusterSizeEnd = pickU(), pickU() },
		func(q *req) { q.NumNearest, q.NumSampled = pickU(), pickU() },
		func(q *req) { q.SampleRangeMin, q.SampleRangeMax = pickU(), pickU() },
		func(q *req) { q.DuplicateThreshold, q.DuplicateMargin = pickF(), pickF() },
		func(q *req) {
			q.ExcludeNearDuplicates, q.UseFeedback = proto.Bool(r.IntN(2) == 0), proto.Bool(r.IntN(2) == 0)
		},
		func(q *req) { q.Anchors[r.IntN(len(q.Anchors))].Id = strs[r.IntN(len(strs))] },
		func(q *req) {
			q.Anchors[r.IntN(len(q.Anchors))].PositiveIds = []string{strs[r.IntN(len(strs))], ids[r.IntN(len(ids))]}
		},
		func(q *req) {
			v := unit(r.IntN(50))
			v[r.IntN(len(v))] = floats[r.IntN(len(floats))]
			q.Anchors[r.IntN(len(q.Anchors))].Vector = f32bytes(v)[:4*r.IntN(batteryDim+1)]
		},
		func(q *req) { q.Anchors = q.Anchors[:r.IntN(len(q.Anchors))+1] },
	}
	iters := envInt("HARDNEG_FUZZ_ITERATIONS", 3000) / 3
	seen := map[codes.Code]int{}
	for it := range iters {
		q := &req{Collection: "c", BatchSize: 4, Seed: r.Uint64()}
		for _, i := range r.Perm(len(ids))[:8+r.IntN(20)] {
			q.Anchors = append(q.Anchors, &hardnegv1.BatchAnchor{Id: ids[i], PositiveIds: []string{ids[(i+1)%len(ids)]}})
		}
		for range 1 + r.IntN(3) {
			mutations[r.IntN(len(mutations))](q)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := batches(q)(ctx, c)
		cancel()
		checkFuzzAnswer(t, it, seed, err, q, seen)
	}
	t.Logf("codes: %v", seen)
	checkServing(t, ts)
}

// TestCallsDuringConcurrentDelete runs every collection RPC while the collection is
// deleted and created again: each answer is a success or NOT_FOUND, never INTERNAL.
func TestCallsDuringConcurrentDelete(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := ts.client
	ctx := context.Background()
	create := func() {
		if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: batteryDim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil && codeOf(err) != codes.AlreadyExists {
			t.Error(err)
		}
		var vs [][]float32
		var ids []string
		for i := range 20 {
			ids, vs = append(ids, fmt.Sprintf("i%d", i)), append(vs, unit(i))
		}
		c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "c", Items: &hardnegv1.ItemBatch{Ids: ids, Dim: batteryDim, Vectors: f32bytes(vs...)}})
	}
	create()
	calls := []func(context.Context, hardnegv1.MinerServiceClient) error{
		mine(&hardnegv1.MiningPolicy{NumNegatives: 2, Rotate: true, ClosedLoop: true, MaxExposures: 3}),
		upsert("c", &hardnegv1.ItemBatch{Ids: []string{"new"}, Dim: batteryDim, Vectors: f32bytes(unit(3))}),
		batches(&hardnegv1.BuildBatchesRequest{Collection: "c", BatchSize: 2, Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "i2"}, {Id: "i3"}}}),
		backup(&hardnegv1.BackupRequest{Collection: "c"}),
		stream(&hardnegv1.UpsertStreamRequest{Collection: "c", WriterId: "w", Sequence: 1, DeleteIds: []string{"i5"}}),
		func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "c", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "i1", ItemIds: []string{"i2"}}}})
			return err
		},
		func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "c", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i1", Solved: proto.Bool(true)}}})
			return err
		},
		func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "c"})
			return err
		},
		func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "c"})
			return err
		},
		func(ctx context.Context, c hardnegv1.MinerServiceClient) error {
			_, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: "c", Ids: []string{"i4"}})
			return err
		},
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	bad := map[string]int{}
	for i, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := call(cctx, c)
				cancel()
				switch {
				case codeOf(err) == codes.OK, codeOf(err) == codes.NotFound:
				case codeOf(err) == codes.InvalidArgument && strings.Contains(status.Convert(err).Message(), "is not in the collection"):
					// recreated, its items not upserted yet
				default:
					mu.Lock()
					bad[fmt.Sprintf("call %d: %v", i, err)]++
					mu.Unlock()
				}
			}
		}()
	}
	for range 30 {
		if _, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: "c"}); err != nil && codeOf(err) != codes.NotFound {
			t.Error(err)
		}
		create()
	}
	close(stop)
	wg.Wait()
	for msg, n := range bad {
		t.Errorf("%d× %s", n, msg)
	}
	checkServing(t, ts)
}
