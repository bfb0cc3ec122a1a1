package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

func negativeIDs(r *hardnegv1.AnchorResult) []string {
	out := make([]string, len(r.Negatives))
	for i, n := range r.Negatives {
		out[i] = n.Id
	}
	return out
}

// TestMiningRulesEndToEnd drives the false-negative rules through the real server and
// the generated Go client: groups, near-duplicates of the positive, in-batch
// consistency, feedback verdicts, seeded sampling and per-rule statistics.
func TestMiningRulesEndToEnd(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const dim = 16
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	// 40 documents of 5 chunks each: chunks of one document are close and share the
	// group "doc-N". "copy-N" is a near-duplicate of chunk 0 of document N under
	// another id and in no group.
	r := rand.New(rand.NewPCG(3, 4))
	items := &hardnegv1.ItemBatch{Dim: dim}
	vec := map[string][]float32{}
	for d := range 40 {
		center := randVecs(r, 1, dim)[0]
		for k := range 5 {
			id := "doc" + strconv.Itoa(d) + "-" + strconv.Itoa(k)
			v := make([]float32, dim)
			for j := range v {
				v[j] = center[j] + float32(r.NormFloat64()*0.35)
			}
			vec[id] = v
			items.Ids = append(items.Ids, id)
			items.Vectors = append(items.Vectors, f32bytes(v)...)
			items.Groups = append(items.Groups, &hardnegv1.GroupList{Groups: []string{"doc-" + strconv.Itoa(d)}})
		}
		cp := slices.Clone(vec["doc"+strconv.Itoa(d)+"-0"])
		cp[0] += 0.01
		id := "copy" + strconv.Itoa(d)
		vec[id] = cp
		items.Ids = append(items.Ids, id)
		items.Vectors = append(items.Vectors, f32bytes(cp)...)
		items.Groups = append(items.Groups, &hardnegv1.GroupList{})
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: items}); err != nil {
		t.Fatal(err)
	}

	// A query near document 7, whose positive is doc7-0.
	query := slices.Clone(vec["doc7-1"])
	query[1] += 0.2
	anchor := &hardnegv1.Anchor{Vector: f32bytes(query), Key: "q7", PositiveIds: []string{"doc7-0"}}
	mine := func(p *hardnegv1.MiningPolicy, anchors ...*hardnegv1.Anchor) []*hardnegv1.AnchorResult {
		t.Helper()
		mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: anchors, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		return mr.Results
	}

	// Naive top-k (groups and near-duplicates off) returns the positive's chunks and its
	// copy.
	naive := mine(&hardnegv1.MiningPolicy{NumNegatives: 5, ExcludeSameGroup: proto.Bool(false), ExcludeNearDuplicates: proto.Bool(false)}, anchor)[0]
	if ids := negativeIDs(naive); !slices.ContainsFunc(ids, func(id string) bool { return id == "copy7" || id[:5] == "doc7-" }) {
		t.Fatalf("naive top-5 %v holds no false negative; the test data is too easy", ids)
	}

	// Defaults exclude doc-7's group; the duplicate threshold drops copy7.
	res := mine(&hardnegv1.MiningPolicy{NumNegatives: 5, DuplicateThreshold: proto.Float32(0.98)}, anchor)[0]
	for _, n := range res.Negatives {
		if n.Id == "copy7" || n.Id[:5] == "doc7-" {
			t.Errorf("false negative %s returned", n.Id)
		}
	}
	if res.Removed.SameGroup != 4 || res.Removed.Duplicate != 1 || res.Removed.Positive != 1 {
		t.Errorf("removed %v, want 4 same-group, 1 duplicate, 1 positive", res.Removed)
	}
	if len(res.Negatives) != 5 || res.Shortfall != 0 || res.PositiveScore == nil || !res.ExactScan {
		t.Errorf("result %v", res)
	}
	hardest := res.Negatives[0].Id

	// Feedback: the hardest negative is reported for key q7 and never comes back for
	// it, while another anchor still gets it.
	fr, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "docs", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "q7", ItemIds: []string{hardest, hardest}}}})
	if err != nil || fr.Recorded != 1 {
		t.Fatalf("report = %v, %v; want 1 recorded", fr, err)
	}
	other := proto.Clone(anchor).(*hardnegv1.Anchor)
	other.Key = "someone-else"
	both := mine(&hardnegv1.MiningPolicy{NumNegatives: 5, DuplicateThreshold: proto.Float32(0.98), InBatchExclusion: proto.Bool(false)}, anchor, other)
	if slices.Contains(negativeIDs(both[0]), hardest) || both[0].Removed.Feedback != 1 {
		t.Errorf("after feedback: %v (feedback removals %d), %s must be gone", negativeIDs(both[0]), both[0].Removed.Feedback, hardest)
	}
	if negativeIDs(both[1])[0] != hardest {
		t.Errorf("another key lost %s: %v", hardest, negativeIDs(both[1]))
	}

	// In-batch consistency: a second anchor whose positive is the first's hardest.
	second := &hardnegv1.Anchor{Id: "doc3-0", PositiveIds: []string{negativeIDs(both[0])[0]}}
	ib := mine(&hardnegv1.MiningPolicy{NumNegatives: 5}, anchor, second)
	if slices.Contains(negativeIDs(ib[0]), negativeIDs(both[0])[0]) || ib[0].Removed.InBatch == 0 {
		t.Errorf("in-batch: anchor 0 got %v (in-batch removals %d)", negativeIDs(ib[0]), ib[0].Removed.InBatch)
	}

	// Seeded sampling: the same request twice gives the same negatives, with vectors.
	sp := &hardnegv1.MiningPolicy{NumNegatives: 4, Sampling: hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX, Temperature: proto.Float32(0.1), RangeMax: 40, Seed: 99}
	req := &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{anchor}, Policy: sp, IncludeVectors: true}
	a1, err := c.Mine(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.Mine(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(negativeIDs(a1.Results[0]), negativeIDs(a2.Results[0])) {
		t.Errorf("same seed: %v then %v", negativeIDs(a1.Results[0]), negativeIDs(a2.Results[0]))
	}
	if len(a1.Results[0].NegativeVectors) != 4*dim*4 {
		t.Errorf("negative vectors: %d bytes", len(a1.Results[0].NegativeVectors))
	}
	if len(a1.Results[0].Negatives) != 4 || a1.Results[0].Removed.SameGroup != 4 {
		t.Errorf("sampled result %v", a1.Results[0])
	}

	// Errors: a verdict without a key, an unknown collection, a window too small for k.
	_, err = c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "docs", Reports: []*hardnegv1.FalseNegativeReport{{ItemIds: []string{"x"}}}})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"reports[0].anchor_key"}) {
		t.Errorf("report without key: %v (%v)", err, fieldViolations(err))
	}
	_, err = c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "nope", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "k", ItemIds: []string{"x"}}}})
	if codeOf(err) != codes.NotFound {
		t.Errorf("unknown collection: %v", err)
	}
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{anchor}, Policy: &hardnegv1.MiningPolicy{NumNegatives: 5, RangeMin: 3, RangeMax: 5}})
	if codeOf(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "policy.num_negatives") {
		t.Errorf("window too small: %v", err)
	}
}

// Anchors in columns, through the generated client: the same answer as the same
// anchors in rows; a malformed column, or anchors in both forms, refused with
// INVALID_ARGUMENT naming the column.
func TestAnchorColumnsEndToEnd(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const dim = 8
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 1))
	items := &hardnegv1.ItemBatch{Dim: dim}
	for i, v := range randVecs(r, 80, dim) {
		items.Ids = append(items.Ids, "i"+strconv.Itoa(i))
		items.Vectors = append(items.Vectors, f32bytes(v)...)
		items.Groups = append(items.Groups, &hardnegv1.GroupList{Groups: []string{"g" + strconv.Itoa(i%7)}})
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "c", Items: items}); err != nil {
		t.Fatal(err)
	}
	var rows []*hardnegv1.Anchor
	for i, q := range randVecs(r, 9, dim) {
		a := &hardnegv1.Anchor{Vector: f32bytes(q), Key: "k" + strconv.Itoa(i)}
		if i%3 == 0 {
			a.Id = "i" + strconv.Itoa(i*5)
		}
		for j := range i % 3 {
			a.PositiveIds = append(a.PositiveIds, "i"+strconv.Itoa(i*7+j))
		}
		if i%2 == 1 {
			a.ExcludeIds, a.Groups = []string{"i" + strconv.Itoa(i)}, []string{"g" + strconv.Itoa(i%7)}
			a.PositiveVectors = f32bytes(randVecs(r, 1, dim)[0])
		}
		rows = append(rows, a)
	}
	f := func(v float32) *float32 { return &v }
	on := true
	pol := &hardnegv1.MiningPolicy{NumNegatives: 4, DuplicateThreshold: f(0.9), ExcludeSameGroup: &on}
	byRows, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: rows, Policy: pol, Columnar: true})
	if err != nil {
		t.Fatal(err)
	}
	byCols, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", AnchorColumns: columnsOf(rows, dim, 0), Policy: pol, Columnar: true})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(byCols, byRows) {
		t.Fatalf("anchors in columns answered\n%v\nin rows\n%v", byCols, byRows)
	}
	if len(byRows.Columns.Ids) == 0 {
		t.Fatal("no negatives: the comparison saw nothing")
	}
	bad := columnsOf(rows, dim, 0)
	bad.PositiveIdCounts = bad.PositiveIdCounts[:8]
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", AnchorColumns: bad, Policy: pol})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"anchor_columns.positive_id_counts"}) {
		t.Fatalf("malformed counts: %v (%v)", err, fieldViolations(err))
	}
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: rows[:1], AnchorColumns: columnsOf(rows, dim, 0), Policy: pol})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"anchor_columns"}) {
		t.Fatalf("both forms: %v (%v)", err, fieldViolations(err))
	}
}
