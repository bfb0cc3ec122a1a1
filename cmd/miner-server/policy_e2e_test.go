package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// TestEveryPolicyFieldChangesMine mines through the real server, for each field of
// MiningPolicy (found through its descriptor), a request without the field and one that
// sets it, and checks that the responses differ: a field the server ignores fails, and
// so does a new field without a case here.
func TestEveryPolicyFieldChangesMine(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const dim = 16
	// Searched through the HNSW graph (exact_threshold 1), so that ef_search and widen
	// matter.
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "f", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{ExactThreshold: 1}}); err != nil {
		t.Fatal(err)
	}
	// 60 documents of 5 chunks sharing the group "doc-N"; "copy-N" duplicates chunk 0.
	r := rand.New(rand.NewPCG(8, 9))
	items := &hardnegv1.ItemBatch{Dim: dim}
	vec := map[string][]float32{}
	// Each document's items carry the document number as their version.
	add := func(id string, version int64, v []float32, groups ...string) {
		vec[id] = v
		items.Ids = append(items.Ids, id)
		items.Versions = append(items.Versions, version)
		items.Vectors = append(items.Vectors, f32bytes(v)...)
		items.Groups = append(items.Groups, &hardnegv1.GroupList{Groups: groups})
	}
	for d := range 60 {
		center := randVecs(r, 1, dim)[0]
		for k := range 5 {
			v := make([]float32, dim)
			for j := range v {
				v[j] = center[j] + float32(r.NormFloat64()*0.35)
			}
			add("doc"+strconv.Itoa(d)+"-"+strconv.Itoa(k), int64(d), v, "doc-"+strconv.Itoa(d))
		}
		cp := slices.Clone(vec["doc"+strconv.Itoa(d)+"-0"])
		cp[0] += 0.01
		add("copy"+strconv.Itoa(d), int64(d), cp)
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "f", Items: items}); err != nil {
		t.Fatal(err)
	}
	// Two guide collections with the same ids: "fg" holds the first 8 dimensions of each
	// vector plus noise (a guide that roughly agrees), "fg2" unrelated vectors.
	for _, g := range []string{"fg", "fg2"} {
		if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: g, Dim: 8, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
			t.Fatal(err)
		}
		gb := &hardnegv1.ItemBatch{Dim: 8, Ids: items.Ids}
		for _, id := range items.Ids {
			gv := randVecs(r, 1, 8)[0]
			if g == "fg" {
				for j := range gv {
					gv[j] = vec[id][j] + 0.3*gv[j]
				}
			}
			gb.Vectors = append(gb.Vectors, f32bytes(gv)...)
		}
		if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: g, Items: gb}); err != nil {
			t.Fatal(err)
		}
	}
	query := slices.Clone(vec["doc7-1"])
	query[1] += 0.2
	anchor := func(key string) *hardnegv1.Anchor {
		return &hardnegv1.Anchor{Vector: f32bytes(query), Key: key, PositiveIds: []string{"doc7-0"}}
	}
	mine := func(p *hardnegv1.MiningPolicy, anchors ...*hardnegv1.Anchor) *hardnegv1.MineResponse {
		t.Helper()
		if len(anchors) == 0 {
			anchors = []*hardnegv1.Anchor{anchor("q")}
		}
		mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "f", Anchors: anchors, Policy: p})
		if err != nil {
			t.Fatalf("policy %v: %v", p, err)
		}
		return mr
	}
	hardest := mine(&hardnegv1.MiningPolicy{NumNegatives: 1}).Results[0].Negatives[0].Id
	if _, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: "f", Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "fb", ItemIds: []string{hardest}}}}); err != nil {
		t.Fatal(err)
	}
	pair := []*hardnegv1.Anchor{anchor("q"), {Id: "doc30-0", PositiveIds: []string{hardest}}}
	guided := anchor("q")
	guided.GuideVector = f32bytes(query[:8])
	gAnchors := []*hardnegv1.Anchor{guided}
	gbase := &hardnegv1.MiningPolicy{NumNegatives: 4, GuideCollection: "fg", GuideMargin: proto.Float32(0)}
	groupsOff := proto.Bool(false)
	type pcase struct {
		base, set *hardnegv1.MiningPolicy
		anchors   []*hardnegv1.Anchor
	}
	sampled := func(s hardnegv1.SamplingStrategy) *hardnegv1.MiningPolicy {
		return &hardnegv1.MiningPolicy{NumNegatives: 4, Sampling: s, RangeMax: 80, Seed: 5}
	}
	with := func(p *hardnegv1.MiningPolicy, edit func(p *hardnegv1.MiningPolicy)) *hardnegv1.MiningPolicy {
		q := proto.Clone(p).(*hardnegv1.MiningPolicy)
		edit(q)
		return q
	}
	base := &hardnegv1.MiningPolicy{NumNegatives: 4}
	groupless := &hardnegv1.MiningPolicy{NumNegatives: 4, ExcludeSameGroup: groupsOff}
	// Calibrate the collection: each chunk with a sibling as its positive.
	var warm []*hardnegv1.Anchor
	for d := range 60 {
		warm = append(warm, &hardnegv1.Anchor{Id: "doc" + strconv.Itoa(d) + "-1", PositiveIds: []string{"doc" + strconv.Itoa(d) + "-2"}})
	}
	mine(&hardnegv1.MiningPolicy{NumNegatives: 16, ExcludeSameGroup: groupsOff, InBatchExclusion: proto.Bool(false)}, warm...)
	cal, err := c.GetCalibration(ctx, &hardnegv1.GetCalibrationRequest{Collection: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if ps := cal.PositiveSimilarities; ps.Count < 256 || len(ps.Quantiles) != len(ps.Probabilities) || ps.Quantiles[4] > ps.Quantiles[8] || cal.PositiveScores.Count < 60 {
		t.Fatalf("calibration after warm-up: %v", cal)
	}
	// The key "rot" has served the top 4 once: rotation then serves the next ones.
	mine(&hardnegv1.MiningPolicy{NumNegatives: 4, Rotate: true}, anchor("rot"))
	cases := map[string]pcase{
		"duplicate_margin":          {groupless, with(groupless, func(p *hardnegv1.MiningPolicy) { p.DuplicateMargin = proto.Float32(-0.4) }), nil},
		"guide_collection":          {gbase, with(gbase, func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "fg2" }), gAnchors},
		"guide_margin":              {&hardnegv1.MiningPolicy{NumNegatives: 4, GuideCollection: "fg2"}, with(gbase, func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "fg2" }), gAnchors},
		"guide_duplicate_threshold": {&hardnegv1.MiningPolicy{NumNegatives: 4, GuideCollection: "fg"}, &hardnegv1.MiningPolicy{NumNegatives: 4, GuideCollection: "fg", GuideDuplicateThreshold: proto.Float32(0.3)}, gAnchors},
		"num_negatives":             {base, &hardnegv1.MiningPolicy{NumNegatives: 6}, nil},
		"exclude_same_group":        {base, with(base, func(p *hardnegv1.MiningPolicy) { p.ExcludeSameGroup = groupsOff }), nil},
		"duplicate_threshold":       {base, with(base, func(p *hardnegv1.MiningPolicy) { p.DuplicateThreshold = proto.Float32(0.3) }), nil},
		"absolute_margin":           {base, with(base, func(p *hardnegv1.MiningPolicy) { p.AbsoluteMargin = proto.Float32(0.35) }), nil},
		"relative_margin":           {base, with(base, func(p *hardnegv1.MiningPolicy) { p.RelativeMargin = proto.Float32(0.4) }), nil},
		"min_score":                 {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MinScore = proto.Float32(0.9) }), nil},
		"max_score":                 {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MaxScore = proto.Float32(0) }), nil},
		"range_min":                 {base, with(base, func(p *hardnegv1.MiningPolicy) { p.RangeMin = 3 }), nil},
		"range_max":                 {sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM), with(sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM), func(p *hardnegv1.MiningPolicy) { p.RangeMax = 6 }), nil},
		"rank_mode":                 {with(base, func(p *hardnegv1.MiningPolicy) { p.RangeMin = 2 }), with(base, func(p *hardnegv1.MiningPolicy) { p.RangeMin, p.RankMode = 2, hardnegv1.RankMode_RANK_MODE_RAW }), nil},
		"in_batch_exclusion":        {base, with(base, func(p *hardnegv1.MiningPolicy) { p.InBatchExclusion = proto.Bool(false) }), pair},
		"use_feedback":              {base, with(base, func(p *hardnegv1.MiningPolicy) { p.UseFeedback = proto.Bool(false) }), []*hardnegv1.Anchor{anchor("fb")}},
		"sampling": {base, with(base, func(p *hardnegv1.MiningPolicy) {
			p.Sampling, p.RangeMax = hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM, 80
		}), nil},
		"temperature":             {sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX), with(sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX), func(p *hardnegv1.MiningPolicy) { p.Temperature = proto.Float32(5) }), nil},
		"simans_a":                {sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS), with(sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS), func(p *hardnegv1.MiningPolicy) { p.SimansA = proto.Float32(200) }), nil},
		"simans_b":                {sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS), with(sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS), func(p *hardnegv1.MiningPolicy) { p.SimansB = proto.Float32(-0.8) }), nil},
		"seed":                    {sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM), with(sampled(hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM), func(p *hardnegv1.MiningPolicy) { p.Seed = 6 }), nil},
		"diversity_threshold":     {base, with(base, func(p *hardnegv1.MiningPolicy) { p.DiversityThreshold = proto.Float32(0.2) }), nil},
		"widen":                   {&hardnegv1.MiningPolicy{NumNegatives: 40, EfSearch: 8}, &hardnegv1.MiningPolicy{NumNegatives: 40, EfSearch: 8, Widen: proto.Bool(false)}, nil},
		"max_candidates":          {&hardnegv1.MiningPolicy{NumNegatives: 20}, &hardnegv1.MiningPolicy{NumNegatives: 20, MaxCandidates: 10}, nil},
		"ef_search":               {&hardnegv1.MiningPolicy{NumNegatives: 40, Widen: proto.Bool(false)}, &hardnegv1.MiningPolicy{NumNegatives: 40, Widen: proto.Bool(false), EfSearch: 8}, nil},
		"exclude_near_duplicates": {&hardnegv1.MiningPolicy{NumNegatives: 4, ExcludeSameGroup: groupsOff}, &hardnegv1.MiningPolicy{NumNegatives: 4, ExcludeSameGroup: groupsOff, ExcludeNearDuplicates: proto.Bool(false)}, nil},
		"max_rank":                {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MaxRank = 4 }), nil},
		"duplicate_quantile":      {groupless, with(groupless, func(p *hardnegv1.MiningPolicy) { p.DuplicateQuantile = proto.Float32(0.5) }), nil},
		"duplicate_zscore":        {groupless, with(groupless, func(p *hardnegv1.MiningPolicy) { p.DuplicateZscore = proto.Float32(-1) }), nil},
		"min_version":             {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MinVersion = proto.Int64(30) }), nil},
		"max_staleness":           {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MaxStaleness = proto.Int64(10) }), nil},
		"rotate":                  {base, with(base, func(p *hardnegv1.MiningPolicy) { p.Rotate = true }), []*hardnegv1.Anchor{anchor("rot")}},
		"max_exposures":           {base, with(base, func(p *hardnegv1.MiningPolicy) { p.MaxExposures = 1 }), nil},
		"synthetic": {base, with(base, func(p *hardnegv1.MiningPolicy) {
			p.Synthetic = &hardnegv1.SyntheticPolicy{NumMixed: 2}
		}), nil},
		"closed_loop":       {base, with(base, func(p *hardnegv1.MiningPolicy) { p.ClosedLoop = true }), nil},
		"closed_loop_depth": {with(base, func(p *hardnegv1.MiningPolicy) { p.ClosedLoop = true }), with(base, func(p *hardnegv1.MiningPolicy) { p.ClosedLoop, p.ClosedLoopDepth = true, 5 }), nil},
		"pfn_threshold":     {groupless, with(groupless, func(p *hardnegv1.MiningPolicy) { p.PfnThreshold = proto.Float32(0.999) }), nil},
		"pfn_budget":        {groupless, with(groupless, func(p *hardnegv1.MiningPolicy) { p.PfnBudget = proto.Uint32(0) }), nil},
		"stale_rule": {with(base, func(p *hardnegv1.MiningPolicy) { p.MinVersion = proto.Int64(30) }), with(base, func(p *hardnegv1.MiningPolicy) {
			p.MinVersion, p.StaleRule = proto.Int64(30), hardnegv1.StaleRule_STALE_RULE_RESCORE
		}), nil},
	}
	fields := (&hardnegv1.MiningPolicy{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		t.Run(name, func(t *testing.T) {
			tc, ok := cases[name]
			if !ok {
				t.Fatalf("no end-to-end case for MiningPolicy.%s: add one", name)
			}
			if !tc.set.ProtoReflect().Has(fd) {
				t.Fatalf("the case does not set %s", name)
			}
			a, b := mine(tc.base, tc.anchors...), mine(tc.set, tc.anchors...)
			if proto.Equal(a, b) {
				t.Errorf("setting %s did not change the response:\n%v", name, a)
			}
		})
	}
	if len(cases) != fields.Len() {
		t.Errorf("%d cases for %d fields", len(cases), fields.Len())
	}

	// The default protects: copy7, a near-duplicate of the positive outside any group,
	// is not returned by an empty policy (cosine ≥ 0.80 to the positive).
	def := mine(&hardnegv1.MiningPolicy{NumNegatives: 8}).Results[0]
	if slices.Contains(negativeIDs(def), "copy7") || def.Removed.Duplicate == 0 {
		t.Errorf("empty policy returned %v (duplicates removed %d)", negativeIDs(def), def.Removed.Duplicate)
	}
	// Every negative of an anchor with a positive carries p_fn; without one, none does.
	for _, n := range def.Negatives {
		if n.PFn == nil || !(*n.PFn > 0 && *n.PFn < 1) {
			t.Errorf("negative %s: p_fn %v", n.Id, n.PFn)
		}
	}
	for _, n := range mine(&hardnegv1.MiningPolicy{NumNegatives: 4}, &hardnegv1.Anchor{Vector: f32bytes(query)}).Results[0].Negatives {
		if n.PFn != nil {
			t.Errorf("anchor without a positive: p_fn %v on %s", *n.PFn, n.Id)
		}
	}
	// The hardness floor is reported.
	fl := mine(&hardnegv1.MiningPolicy{NumNegatives: 4, MaxRank: 4}).Results[0]
	if !fl.FloorReached || fl.MaxRank != 4 || fl.Shortfall == 0 {
		t.Errorf("floor 4: %v", fl)
	}
	if d := mine(&hardnegv1.MiningPolicy{NumNegatives: 4}).Results[0]; d.FloorReached || d.MaxRank != 200 {
		t.Errorf("default floor: %v", d)
	}
	if d := mine(&hardnegv1.MiningPolicy{NumNegatives: 4, MaxRank: 4294967295}).Results[0]; d.MaxRank != 4294967295 {
		t.Errorf("no floor: max_rank %d", d.MaxRank)
	}
	// A quantile threshold is the calibration's quantile.
	med := mine(&hardnegv1.MiningPolicy{NumNegatives: 4, DuplicateQuantile: proto.Float32(0.5)}).Results[0]
	cal, err = c.GetCalibration(ctx, &hardnegv1.GetCalibrationRequest{Collection: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if cal.PositiveSimilarities.Probabilities[4] != 0.5 || med.DuplicateThreshold == nil || *med.DuplicateThreshold > cal.PositiveSimilarities.Quantiles[5] || *med.DuplicateThreshold < cal.PositiveSimilarities.Quantiles[3] {
		t.Errorf("quantile 0.5 applied %v; calibration %v", med.DuplicateThreshold, cal.PositiveSimilarities)
	}
	if _, err := c.GetCalibration(ctx, &hardnegv1.GetCalibrationRequest{Collection: "nope"}); codeOf(err) != codes.NotFound {
		t.Errorf("calibration of an unknown collection: %v", err)
	}
	// The metrics carry the calibration and the floor counter.
	fams := scrape(t, ts.srv.HTTPAddr())
	var calCount uint64
	for _, m := range fams["hardneg_mine_calibration_score"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["collection"] == "f" && labels["stream"] == "positive_similarity" {
			calCount = m.GetSummary().GetSampleCount()
		}
	}
	if calCount != cal.PositiveSimilarities.Count {
		t.Errorf("metric positive_similarity count %d, GetCalibration %d", calCount, cal.PositiveSimilarities.Count)
	}
	if fr := fams["hardneg_mine_floor_reached_anchors_total"].GetMetric(); len(fr) != 1 || fr[0].GetCounter().GetValue() < 1 {
		t.Errorf("floor counter %v", fr)
	}
	// The collection's background similarity: in GetCalibration, with the default
	// threshold it gives, and as a gauge.
	if cal.BackgroundSimilarity == nil || cal.DefaultDuplicateThreshold == nil || *cal.DefaultDuplicateThreshold < 0.8 {
		t.Errorf("calibration scale: background %v, default threshold %v", cal.BackgroundSimilarity, cal.DefaultDuplicateThreshold)
	} else {
		var bg float64
		found := false
		for _, m := range fams["hardneg_collection_background_similarity"].GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "f" {
				bg, found = m.GetGauge().GetValue(), true
			}
		}
		if !found || bg != *cal.BackgroundSimilarity {
			t.Errorf("background gauge %v (found %v), GetCalibration %v", bg, found, *cal.BackgroundSimilarity)
		}
	}
	// The guide margin reports the guide positive score and its removals (fg2's random
	// guide ranks many candidates above the positive).
	gr := mine(with(gbase, func(p *hardnegv1.MiningPolicy) { p.GuideCollection = "fg2" }), gAnchors...).Results[0]
	if gr.GuidePositiveScore == nil || gr.Removed.Guide == 0 {
		t.Errorf("guide margin 0: %v", gr)
	}
	// A field the rest of the policy leaves without effect comes back as a warning; the
	// answer is the one without it.
	plain := mine(&hardnegv1.MiningPolicy{NumNegatives: 3}, anchor("q"))
	warned := mine(&hardnegv1.MiningPolicy{NumNegatives: 3, Temperature: proto.Float32(0.5), ClosedLoopDepth: 7}, anchor("q"))
	if want := []string{"policy.temperature: has no effect unless sampling is SAMPLING_STRATEGY_SOFTMAX",
		"policy.closed_loop_depth: has no effect unless closed_loop is true"}; !slices.Equal(warned.Warnings, want) {
		t.Errorf("warnings %q, want %q", warned.Warnings, want)
	}
	if len(plain.Warnings) != 0 || !proto.Equal(plain.Results[0], warned.Results[0]) {
		t.Errorf("without the ignored fields: %v (warnings %q), with them: %v", plain.Results[0], plain.Warnings, warned.Results[0])
	}
	// Guide vectors without a guide collection, and a guide collection that is the mined
	// one, are rejected.
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "f", Anchors: gAnchors, Policy: &hardnegv1.MiningPolicy{}})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"anchors[0].guide_vector"}) {
		t.Errorf("guide vector without a guide collection: %v (%v)", err, fieldViolations(err))
	}
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "f", Anchors: []*hardnegv1.Anchor{anchor("q")}, Policy: &hardnegv1.MiningPolicy{GuideCollection: "f", GuideMargin: proto.Float32(0)}})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"policy.guide_collection"}) {
		t.Errorf("the mined collection as its own guide: %v (%v)", err, fieldViolations(err))
	}
	// "fg" served as f's guide above, so it cannot be mined with f as its guide: two
	// requests nesting the two collections' locks in opposite orders could deadlock.
	swapped := &hardnegv1.Anchor{Vector: f32bytes(query[:8]), GuideVector: f32bytes(query), PositiveIds: []string{"doc7-0"}}
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "fg", Anchors: []*hardnegv1.Anchor{swapped}, Policy: &hardnegv1.MiningPolicy{GuideCollection: "f", GuideMargin: proto.Float32(0)}})
	if codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `"fg"`) {
		t.Errorf("a guide collection mined with guide rules: %v", err)
	}
	// Mining "fg" without guide rules, and f with its guide again, still work.
	if _, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "fg", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes(query[:8])}}}); err != nil {
		t.Errorf("mining a guide collection without guide rules: %v", err)
	}
	if _, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "f", Anchors: gAnchors, Policy: gbase}); err != nil {
		t.Errorf("mining f with its guide again: %v", err)
	}
	// Policy floats outside the metric's score range are rejected, naming the field.
	_, err = c.Mine(ctx, &hardnegv1.MineRequest{Collection: "f", Anchors: []*hardnegv1.Anchor{anchor("q")}, Policy: &hardnegv1.MiningPolicy{DiversityThreshold: proto.Float32(-2)}})
	if codeOf(err) != codes.InvalidArgument || !slices.Equal(fieldViolations(err), []string{"policy.diversity_threshold"}) {
		t.Errorf("diversity_threshold −2 under cosine: %v (%v)", err, fieldViolations(err))
	}
}
