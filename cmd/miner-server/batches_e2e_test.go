package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// buildBatches calls BuildBatches and collects the stream.
func buildBatches(t *testing.T, c hardnegv1.MinerServiceClient, req *hardnegv1.BuildBatchesRequest) ([]*hardnegv1.BuildBatchesResponse, error) {
	t.Helper()
	st, err := c.BuildBatches(context.Background(), req)
	if err != nil {
		return nil, err
	}
	var out []*hardnegv1.BuildBatchesResponse
	for {
		b, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

// TestBuildBatchesThroughTheServer streams batches of both strategies: every anchor
// once per epoch, anchors sharing a positive or reported as a false negative of each
// other never together, the same batches for the same seed, and bad requests answered
// INVALID_ARGUMENT naming the field (NOT_FOUND for an unknown collection).
func TestBuildBatchesThroughTheServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	loopCollection(t, c, "b", 300, 8)
	var anchors []*hardnegv1.BatchAnchor
	for i := range 120 {
		a := &hardnegv1.BatchAnchor{Id: "i" + strconv.Itoa(i), PositiveIds: []string{"i" + strconv.Itoa(150+i)}}
		if i%10 == 0 {
			a.PositiveIds = []string{"i299"} // shared by twelve anchors
		}
		anchors = append(anchors, a)
	}
	// i1 reports i2 as a false negative: they must not share a batch.
	if _, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "b", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "i1", ItemIds: []string{"i2"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []hardnegv1.BatchStrategy{hardnegv1.BatchStrategy_BATCH_STRATEGY_CLUSTERS, hardnegv1.BatchStrategy_BATCH_STRATEGY_NEIGHBOURS} {
		req := &hardnegv1.BuildBatchesRequest{Collection: "b", Anchors: anchors, BatchSize: 16, Strategy: strategy, Epochs: 3, Seed: 7, ClusterSizeStart: 4, NumNearest: 5, NumSampled: 2}
		got, err := buildBatches(t, c, req)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint32]map[uint32]int{}
		for _, b := range got {
			if seen[b.Epoch] == nil {
				seen[b.Epoch] = map[uint32]int{}
			}
			shared := 0
			for i, r := range b.Rows {
				seen[b.Epoch][r]++
				if b.AnchorIds[i] != anchors[r].Id {
					t.Fatalf("row %d is %s, anchor_ids says %s", r, anchors[r].Id, b.AnchorIds[i])
				}
				if r%10 == 0 {
					shared++
				}
			}
			if shared > 1 {
				t.Fatalf("%s: batch %d/%d holds %d anchors sharing a positive", strategy, b.Epoch, b.Index, shared)
			}
			if slices.Contains(b.AnchorIds, "i1") && slices.Contains(b.AnchorIds, "i2") {
				t.Fatalf("%s: batch %d/%d holds i1 and its reported false negative i2", strategy, b.Epoch, b.Index)
			}
		}
		if len(seen) != 3 {
			t.Fatalf("%s: %d epochs", strategy, len(seen))
		}
		for e, m := range seen {
			if len(m) != len(anchors) {
				t.Fatalf("%s epoch %d: %d anchors placed", strategy, e, len(m))
			}
			for r, n := range m {
				if n != 1 {
					t.Fatalf("%s epoch %d: row %d placed %d times", strategy, e, r, n)
				}
			}
		}
		again, err := buildBatches(t, c, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(got) {
			t.Fatalf("%s: %d batches, then %d", strategy, len(got), len(again))
		}
		for i := range got {
			if !proto.Equal(got[i], again[i]) {
				t.Fatalf("%s: batch %d differs between two runs with the same seed", strategy, i)
			}
		}
	}
	_, err := buildBatches(t, c, &hardnegv1.BuildBatchesRequest{Collection: "b", Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "zz"}}, BatchSize: 0})
	if codeOf(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "batch_size") {
		t.Fatalf("batch_size 0: %v", err)
	}
	_, err = buildBatches(t, c, &hardnegv1.BuildBatchesRequest{Collection: "b", Anchors: []*hardnegv1.BatchAnchor{{Id: "i1"}, {Id: "zz"}}, BatchSize: 2})
	if codeOf(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "anchors[1].id") {
		t.Fatalf("unknown anchor: %v", err)
	}
	// Anchors with their own vectors need not be stored.
	qv := randVecs(rand.New(rand.NewPCG(5, 5)), 30, 8)
	var vanchors []*hardnegv1.BatchAnchor
	for i, v := range qv {
		vanchors = append(vanchors, &hardnegv1.BatchAnchor{Id: "query" + strconv.Itoa(i), Vector: f32bytes(v), PositiveIds: []string{"i" + strconv.Itoa(i)}})
	}
	vb, err := buildBatches(t, c, &hardnegv1.BuildBatchesRequest{Collection: "b", Anchors: vanchors, BatchSize: 8, Strategy: hardnegv1.BatchStrategy_BATCH_STRATEGY_NEIGHBOURS, NumNearest: 3})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range vb {
		n += len(b.Rows)
	}
	if n != 30 {
		t.Fatalf("vector anchors: %d rows placed, want 30", n)
	}
	vanchors[0].Vector = vanchors[0].Vector[:8]
	if _, err := buildBatches(t, c, &hardnegv1.BuildBatchesRequest{Collection: "b", Anchors: vanchors, BatchSize: 8}); codeOf(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "anchors[0].vector") {
		t.Fatalf("short vector: %v", err)
	}
	if _, err := buildBatches(t, c, &hardnegv1.BuildBatchesRequest{Collection: "nope", Anchors: anchors, BatchSize: 2}); codeOf(err) != codes.NotFound {
		t.Fatalf("unknown collection: %v", err)
	}
}

// TestSyntheticNegativesThroughTheServer checks that Mine returns the asked synthetic
// negatives as unit vectors with their provenance, and nothing of them without the
// policy.
func TestSyntheticNegativesThroughTheServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	loopCollection(t, c, "s", 200, 8)
	pol := &hardnegv1.MiningPolicy{NumNegatives: 8, Synthetic: &hardnegv1.SyntheticPolicy{NumMixed: 3, NumQueryMixed: 2, BetaMax: proto.Float32(0.3)}}
	resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "s", Anchors: []*hardnegv1.Anchor{{Id: "i4"}}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results[0]
	if len(r.Synthetic) != 5 || len(r.SyntheticVectors) != 5*8*4 || r.SyntheticShortfall != 0 {
		t.Fatalf("%d synthetic, %d bytes, shortfall %d", len(r.Synthetic), len(r.SyntheticVectors), r.SyntheticShortfall)
	}
	var negs []string
	for _, n := range r.Negatives {
		negs = append(negs, n.Id)
	}
	for i, sn := range r.Synthetic {
		var norm float64
		for d := range 8 {
			x := math.Float32frombits(binary.LittleEndian.Uint32(r.SyntheticVectors[4*(8*i+d):]))
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-5 || !slices.Contains(negs, sn.BId) {
			t.Fatalf("synthetic %d: |v|² %v, b_id %s", i, norm, sn.BId)
		}
		wantKind := hardnegv1.SyntheticKind_SYNTHETIC_KIND_MIXED
		if i >= 3 {
			wantKind = hardnegv1.SyntheticKind_SYNTHETIC_KIND_QUERY
			if sn.AId != "i4" || sn.Coefficient > 0.3 {
				t.Fatalf("query mix %d: a_id %q, β %v", i, sn.AId, sn.Coefficient)
			}
		}
		if sn.Kind != wantKind {
			t.Fatalf("synthetic %d is %s", i, sn.Kind)
		}
	}
	plain, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "s", Anchors: []*hardnegv1.Anchor{{Id: "i4"}}, Policy: &hardnegv1.MiningPolicy{NumNegatives: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if p := plain.Results[0]; len(p.Synthetic) != 0 || len(p.SyntheticVectors) != 0 || p.Hardness != nil {
		t.Fatal("a policy without synthetic negatives or closed loop returned their fields")
	}
}

// TestClosedLoopThroughTheServer checks ReportLoss and closed-loop mining: an anchor
// starts at hardness 0 with its window moved down by the depth, climbs with solved
// reports, backs off with a reported false negative, and ReportLoss validates its
// outcomes.
func TestClosedLoopThroughTheServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	loopCollection(t, c, "h", 200, 8)
	pol := &hardnegv1.MiningPolicy{NumNegatives: 4, ClosedLoop: true, ClosedLoopDepth: 12}
	mine := func() *hardnegv1.AnchorResult {
		t.Helper()
		resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "h", Anchors: []*hardnegv1.Anchor{{Id: "i7"}}, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results[0]
	}
	if r := mine(); r.GetHardness() != 0 || r.BandShift != 12 || r.Hardness == nil {
		t.Fatalf("new anchor: hardness %v, shift %d", r.Hardness, r.BandShift)
	}
	rep, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "h", Outcomes: []*hardnegv1.AnchorOutcome{
		{AnchorKey: "i7", Solved: proto.Bool(true)}, {AnchorKey: "i7", Solved: proto.Bool(true)}, {AnchorKey: "other", Loss: proto.Float32(0.7)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Hardness, []float32{0.25, 0.5, 0.25}) {
		t.Fatalf("hardness after the reports: %v", rep.Hardness)
	}
	if r := mine(); r.GetHardness() != 0.5 || r.BandShift != 6 {
		t.Fatalf("after two solved: hardness %v, shift %d", r.GetHardness(), r.BandShift)
	}
	// A false negative reported for i7 backs it off (a verdict already known does not).
	for range 2 {
		if _, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "h", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "i7", ItemIds: []string{"i9"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if r := mine(); r.GetHardness() != 0.25 || r.BandShift != 9 {
		t.Fatalf("after a false negative: hardness %v, shift %d", r.GetHardness(), r.BandShift)
	}
	_, err = c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "h", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "i7"}, {Loss: proto.Float32(1)}}})
	if codeOf(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "outcomes[0]") || !slices.Contains(fieldViolations(err), "outcomes[1].anchor_key") {
		t.Fatalf("bad outcomes: %v (%v)", err, fieldViolations(err))
	}
	fams := scrape(t, ts.srv.HTTPAddr())
	if m := fams["hardneg_collection_hardness_keys"].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() != 2 {
		t.Errorf("hardness keys metric %v", m)
	}
	// On a collection smaller than the window's move, a new anchor's window moves back up
	// to the last items the search finds: k negatives, the shift applied reported.
	loopCollection(t, c, "small", 20, 8)
	resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "small", Anchors: []*hardnegv1.Anchor{{Id: "i7"}},
		Policy: &hardnegv1.MiningPolicy{NumNegatives: 4, ClosedLoop: true, ClosedLoopDepth: 40}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; len(r.Negatives) != 4 || r.Shortfall != 0 || r.BandShift >= 40 || r.BandShift == 0 || r.Negatives[0].Rank < r.BandShift {
		t.Fatalf("new anchor on 20 items, depth 40: %d negatives, shortfall %d, shift %d, first rank %d", len(r.Negatives), r.Shortfall, r.BandShift, r.Negatives[0].GetRank())
	}
	if _, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: "nope", Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: "a", Solved: proto.Bool(true)}}}); codeOf(err) != codes.NotFound {
		t.Fatalf("unknown collection: %v", err)
	}
}
