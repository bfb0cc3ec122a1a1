package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// loopCollection creates collection name with n random items "i0"… whose version is
// their index modulo 10, and returns the raw vectors.
func loopCollection(t *testing.T, c hardnegv1.MinerServiceClient, name string, n, dim int) [][]float32 {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: name, Dim: uint32(dim), Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	vs := randVecs(rand.New(rand.NewPCG(21, 22)), n, dim)
	b := &hardnegv1.ItemBatch{Dim: uint32(dim)}
	for i, v := range vs {
		b.Ids = append(b.Ids, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, f32bytes(v)...)
		b.Versions = append(b.Versions, int64(i%10))
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: name, Items: b}); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestFreshnessRuleAndRefreshQueue checks the freshness contract through the server:
// negatives report their version, max_staleness drops exactly the stale ones, rescore
// keeps them for anchors with a fresh vector only, and RefreshQueue lists the stale
// items with the ones Mine served first; the metrics carry the versions.
func TestFreshnessRuleAndRefreshQueue(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	vs := loopCollection(t, c, "v", 200, 8)
	mine := func(p *hardnegv1.MiningPolicy, anchors ...*hardnegv1.Anchor) []*hardnegv1.AnchorResult {
		t.Helper()
		resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "v", Anchors: anchors, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results
	}
	fresh := &hardnegv1.Anchor{Vector: f32bytes(vs[3])}
	stored := &hardnegv1.Anchor{Id: "i3"}
	// Newest 9, max_staleness 2: versions 7–9 are fresh.
	skip := &hardnegv1.MiningPolicy{NumNegatives: 10, MaxStaleness: proto.Int64(2)}
	for _, r := range mine(skip, fresh, stored) {
		if len(r.Negatives) != 10 || r.Removed.Stale == 0 {
			t.Fatalf("skip: %d negatives, %d stale removed", len(r.Negatives), r.Removed.Stale)
		}
		for _, n := range r.Negatives {
			if idx, _ := strconv.Atoi(n.Id[1:]); n.Version != int64(idx%10) || n.Version < 7 || n.Stale {
				t.Errorf("skip returned %s version %d stale %v", n.Id, n.Version, n.Stale)
			}
		}
	}
	// Without the rule, the same anchor's top 10 hold stale items, all reported.
	plain := mine(&hardnegv1.MiningPolicy{NumNegatives: 10}, fresh)[0]
	var old int
	for _, n := range plain.Negatives {
		if n.Version < 7 {
			old++
		}
	}
	if old == 0 {
		t.Fatal("the top 10 hold no item below version 7; the test proves nothing")
	}
	rescore := &hardnegv1.MiningPolicy{NumNegatives: 10, MaxStaleness: proto.Int64(2), StaleRule: hardnegv1.StaleRule_STALE_RULE_RESCORE}
	rs := mine(rescore, fresh)
	if !proto.Equal(negativesOnly(rs[0]), negativesOnlyStale(plain, 7)) || rs[0].Removed.Stale != 0 {
		t.Errorf("rescore with a fresh vector: %v, want the plain top 10 marked stale below 7 (%v)", rs[0].Negatives, plain.Negatives)
	}
	for _, n := range mine(rescore, stored)[0].Negatives {
		if n.Version < 7 || n.Stale {
			t.Errorf("rescore without a fresh vector returned %s version %d", n.Id, n.Version)
		}
	}
	// min_version and max_staleness together: the higher bound applies.
	for _, n := range mine(&hardnegv1.MiningPolicy{NumNegatives: 10, MinVersion: proto.Int64(8), MaxStaleness: proto.Int64(5)}, fresh)[0].Negatives {
		if n.Version < 8 {
			t.Errorf("min_version 8 returned version %d", n.Version)
		}
	}
	_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "v", Anchors: []*hardnegv1.Anchor{fresh}, Policy: &hardnegv1.MiningPolicy{MaxStaleness: proto.Int64(-1)}})
	if codeOf(err) != codes.InvalidArgument || fieldViolations(err)[0] != "policy.max_staleness" {
		t.Errorf("negative max_staleness: %v", err)
	}

	// RefreshQueue: every item below version 9 is due; among the stalest (version 0),
	// those Mine served come first.
	rq, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "v", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if rq.TargetVersion != 9 || rq.Due != 180 || len(rq.Items) != 180 {
		t.Fatalf("refresh queue: target %d due %d items %d", rq.TargetVersion, rq.Due, len(rq.Items))
	}
	served := map[string]bool{}
	for _, n := range plain.Negatives {
		served[n.Id] = true
	}
	for i, it := range rq.Items {
		if it.Staleness != 9-it.Version || (served[it.Id] && it.RecentExposures == 0) {
			t.Errorf("item %v", it)
		}
		if i > 0 {
			p, q := rq.Items[i-1], it
			if float64(p.Staleness)*float64(1+p.RecentExposures) < float64(q.Staleness)*float64(1+q.RecentExposures) {
				t.Fatalf("out of order at %d: %v before %v", i, p, q)
			}
		}
	}
	if rq.Items[0].RecentExposures == 0 {
		t.Errorf("the first item to refresh was never served: %v", rq.Items[0])
	}
	few, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "v", Limit: 3, TargetVersion: proto.Int64(1)})
	if err != nil || few.Due != 20 || len(few.Items) != 3 || few.Items[0].Version != 0 {
		t.Errorf("target 1 limit 3: %v, %v", few, err)
	}
	if _, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "v", Limit: 70000}); codeOf(err) != codes.InvalidArgument {
		t.Errorf("limit 70000: %v", err)
	}
	if _, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "nope"}); codeOf(err) != codes.NotFound {
		t.Errorf("unknown collection: %v", err)
	}

	fams := scrape(t, ts.srv.HTTPAddr())
	var newest float64
	var count uint64
	for _, m := range fams["hardneg_collection_newest_version"].GetMetric() {
		newest = m.GetGauge().GetValue()
	}
	for _, m := range fams["hardneg_collection_item_staleness_versions"].GetMetric() {
		count = m.GetHistogram().GetSampleCount()
	}
	if newest != 9 || count != 200 {
		t.Errorf("version metrics: newest %v, staleness count %d", newest, count)
	}
	if m := fams["hardneg_collection_exposure_window_served"].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() == 0 {
		t.Errorf("exposure served metric %v", m)
	}
}

// negativesOnly keeps a result's negatives.
func negativesOnly(r *hardnegv1.AnchorResult) *hardnegv1.AnchorResult {
	return &hardnegv1.AnchorResult{Negatives: r.Negatives}
}

// negativesOnlyStale keeps a result's negatives, marking those below version min stale.
func negativesOnlyStale(r *hardnegv1.AnchorResult, min int64) *hardnegv1.AnchorResult {
	out := &hardnegv1.AnchorResult{}
	for _, n := range r.Negatives {
		m := proto.Clone(n).(*hardnegv1.Negative)
		m.Stale = n.Version < min
		out.Negatives = append(out.Negatives, m)
	}
	return out
}

// TestRotationAndExposureCapThroughTheServer checks rotation across calls (no repeat
// until the cycle restarts, reported in the result) and the exposure cap (no item
// served more than max_exposures times in the window) through the server, and that
// rotation needs a key.
func TestRotationAndExposureCapThroughTheServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	// 200 items: the window is as long as the collection, and the 162 negatives asked
	// for below stay within one.
	vs := loopCollection(t, c, "r", 200, 8)
	pol := &hardnegv1.MiningPolicy{NumNegatives: 4, Rotate: true, RankMode: hardnegv1.RankMode_RANK_MODE_RAW, RangeMax: 10}
	anchor := &hardnegv1.Anchor{Vector: f32bytes(vs[0]), Key: "a0"}
	seen := map[string]bool{}
	restarted := false
	for call := range 4 {
		resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "r", Anchors: []*hardnegv1.Anchor{anchor}, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Results[0]
		if r.RotationRestarted {
			restarted = true
			if call != 2 || r.Removed.Rotation == 0 || len(r.Negatives) != 4 {
				t.Errorf("call %d restarted: %v", call, r)
			}
			break
		}
		for _, n := range r.Negatives {
			if seen[n.Id] {
				t.Fatalf("call %d: %s served again within the cycle", call, n.Id)
			}
			seen[n.Id] = true
		}
		if int(r.RotationServed) != len(seen) {
			t.Errorf("call %d: rotation_served %d, want %d", call, r.RotationServed, len(seen))
		}
	}
	// The raw window holds 10 items (i0, whose vector the anchor sends, among them): two
	// calls of 4 leave 2, so the third call serves them and restarts.
	if !restarted {
		t.Error("the window was never exhausted")
	}
	_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "r", Anchors: []*hardnegv1.Anchor{{Vector: f32bytes(vs[0])}}, Policy: pol})
	if codeOf(err) != codes.InvalidArgument || fieldViolations(err)[0] != "anchors[0].key" {
		t.Errorf("rotation without a key: %v", err)
	}

	// The cap: 30 anchors near the same point, max_exposures 2, in three requests.
	counts := map[string]int{}
	var removed uint64
	for req := range 3 {
		var anchors []*hardnegv1.Anchor
		for i := range 10 {
			anchors = append(anchors, &hardnegv1.Anchor{Vector: f32bytes(vs[(req*10+i)%3])})
		}
		resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "r", Anchors: anchors, Policy: &hardnegv1.MiningPolicy{NumNegatives: 5, MaxExposures: 2, InBatchExclusion: proto.Bool(false)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Results {
			removed += r.Removed.Exposure
			for _, n := range r.Negatives {
				counts[n.Id]++
			}
		}
	}
	for id, n := range counts {
		if n > 2 {
			t.Errorf("%s served %d times under max_exposures 2", id, n)
		}
	}
	if removed == 0 {
		t.Error("the cap removed nothing")
	}
	fams := scrape(t, ts.srv.HTTPAddr())
	if m := fams["hardneg_collection_rotation_keys"].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() != 1 {
		t.Errorf("rotation keys metric %v", m)
	}
}
