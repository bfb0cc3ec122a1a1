package main

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// TestMineExplainThroughTheServer mines with explain on through the real server and
// checks that each candidate carries the rule that removed it, that the listed fates
// add up to the per-rule counts, and that explain is bounded.
func TestMineExplainThroughTheServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "e", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	// x0 … x9 score 1, 0.9, … 0.1 against the query (1, 0).
	items := &hardnegv1.ItemBatch{Dim: 2}
	for i := range 10 {
		items.Ids = append(items.Ids, "x"+strconv.Itoa(i))
		items.Vectors = append(items.Vectors, f32bytes([]float32{1 - float32(i)/10, 0})...)
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "e", Items: items}); err != nil {
		t.Fatal(err)
	}
	req := &hardnegv1.MineRequest{
		Collection: "e",
		Anchors:    []*hardnegv1.Anchor{{Id: "x0", PositiveIds: []string{"x1"}}},
		Policy:     &hardnegv1.MiningPolicy{NumNegatives: 2, AbsoluteMargin: proto.Float32(0.25), ExcludeNearDuplicates: proto.Bool(false)},
		Explain:    100,
	}
	mr, err := c.Mine(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := mr.Results[0]
	if uint64(len(r.Explained)) != r.CandidatesExamined || r.ExplainTruncated {
		t.Fatalf("%d explained (truncated %v), %d examined", len(r.Explained), r.ExplainTruncated, r.CandidatesExamined)
	}
	fate := map[string]*hardnegv1.ExplainedCandidate{}
	count := map[hardnegv1.CandidateFate]uint64{}
	for _, x := range r.Explained {
		fate[x.Id] = x
		count[x.Fate]++
	}
	if x := fate["x2"]; x.Fate != hardnegv1.CandidateFate_CANDIDATE_FATE_MARGIN || x.GetScore() != 0.8 || x.Rank == nil || x.GetRank() != 1 {
		t.Errorf("x2: %v, want margin at score 0.8, raw rank 1", x)
	}
	if x := fate["x1"]; x.Fate != hardnegv1.CandidateFate_CANDIDATE_FATE_POSITIVE || x.Score != nil {
		t.Errorf("x1: %v, want positive without a score", x)
	}
	if count[hardnegv1.CandidateFate_CANDIDATE_FATE_MARGIN] != r.Removed.Margin ||
		count[hardnegv1.CandidateFate_CANDIDATE_FATE_RETURNED] != uint64(len(r.Negatives)) {
		t.Errorf("fates %v, removed %v, %d negatives", count, r.Removed, len(r.Negatives))
	}
	var returned []string
	for _, x := range r.Explained {
		if x.Fate == hardnegv1.CandidateFate_CANDIDATE_FATE_RETURNED {
			returned = append(returned, x.Id)
		}
	}
	if want := []string{r.Negatives[0].Id, r.Negatives[1].Id}; !slices.Equal(returned, want) {
		t.Errorf("returned %v, negatives %v", returned, want)
	}
	// Off by default; bounded.
	req.Explain = 0
	if mr, err = c.Mine(ctx, req); err != nil || len(mr.Results[0].Explained) != 0 {
		t.Errorf("explain 0: %v, %v", mr, err)
	}
	req.Explain = 1025
	_, err = c.Mine(ctx, req)
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"explain"}) {
		t.Errorf("explain 1025: %v (%v)", err, fieldViolations(err))
	}
}
