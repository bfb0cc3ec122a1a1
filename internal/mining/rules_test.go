package mining

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/validate"
)

// it is a test item.
type it struct {
	id string
	v  []float32
	g  []string
}

// build stores items in a fresh exact collection of metric m.
func build(t *testing.T, m engine.Metric, items ...it) *index.Collection {
	t.Helper()
	b := &engine.Batch{Groups: make([][]string, len(items))}
	for i, x := range items {
		b.IDs = append(b.IDs, x.id)
		b.Vectors = append(b.Vectors, x.v...)
		b.Groups[i] = x.g
	}
	return newCollection(t, engine.Config{Name: "t", Dim: len(items[0].v), Metric: m}, b, nil).(*index.Collection)
}

// line returns items "x0".."x{n-1}" with dot scores 1, 0.9, 0.8, … against the query
// (1, 0): vector (1 − i/10, 0).
func line(n int) []it {
	out := make([]it, n)
	for i := range out {
		out[i] = it{id: "x" + strconv.Itoa(i), v: []float32{1 - float32(i)/10, 0}}
	}
	return out
}

var q10 = []float32{1, 0}

func mineOK(t *testing.T, s Searcher, req Request) []Result {
	t.Helper()
	res, err := Mine(context.Background(), s, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Examined != r.Removed.Total()+len(r.Negatives)+r.Unsampled {
			t.Fatalf("anchor %d: examined %d ≠ removed %d + negatives %d + unsampled %d", i, r.Examined, r.Removed.Total(), len(r.Negatives), r.Unsampled)
		}
		if r.Shortfall != req.Policy.NumNegatives-len(r.Negatives) {
			t.Fatalf("anchor %d: shortfall %d with %d of %d negatives", i, r.Shortfall, len(r.Negatives), req.Policy.NumNegatives)
		}
	}
	return res
}

func policy(k int, edit func(p *Policy)) Policy {
	p := DefaultPolicy()
	p.NumNegatives = k
	p.RangeMax = 1000
	if edit != nil {
		edit(&p)
	}
	return p
}

func ids(r Result) []string { return negIDs(r.Negatives) }

func TestSelfPositivesAndExclusionsAreNeverReturned(t *testing.T) {
	s := build(t, engine.Dot, line(8)...)
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{ID: "x0", PositiveIDs: []string{"x1", "x3", "x3"}, ExcludeIDs: []string{"x2"}}},
		Policy:  policy(3, nil),
	})[0]
	if got, want := ids(res), []string{"x4", "x5", "x6"}; !slices.Equal(got, want) {
		t.Fatalf("negatives %v, want %v", got, want)
	}
	if r := res.Removed; r.Self != 1 || r.Positive != 2 || r.Excluded != 1 {
		t.Errorf("removed %+v", r)
	}
	if !res.HasPositiveScore || res.PositiveScore != 0.7 {
		t.Errorf("s⁺ = %v (%v), want 0.7, the minimum positive score", res.PositiveScore, res.HasPositiveScore)
	}
	// Raw ranks leave the anchor item out: x4 is the fourth item after x0.
	if res.Negatives[0].Rank != 3 {
		t.Errorf("rank of x4 = %d, want 3", res.Negatives[0].Rank)
	}
}

func TestAnchorsWithDifferentNumbersOfPositives(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	// Default window: range_min + k + number of positives, counted on survivors.
	p := policy(2, func(p *Policy) { p.RangeMax = 0; p.Sampling = SampleUniform })
	res := mineOK(t, s, Request{
		Anchors: []Anchor{
			{Vector: q10, PositiveIDs: []string{"x0"}},
			{Vector: q10, PositiveIDs: []string{"x0", "x1", "x2"}, PositiveVectors: [][]float32{{0.5, 0}}},
		},
		Policy: p,
	})
	if res[0].PositiveScore != 1 || res[1].PositiveScore != 0.5 {
		t.Errorf("s⁺ = %v, %v; want 1 and 0.5", res[0].PositiveScore, res[1].PositiveScore)
	}
	// Windows: 2+1 = 3 survivors (x1..x3) and 2+4 = 6 survivors (x3..x8).
	if w := len(res[0].Negatives) + res[0].Unsampled + res[0].Removed.Diversity; w != 3 {
		t.Errorf("anchor 0 window holds %d candidates, want 3", w)
	}
	if w := len(res[1].Negatives) + res[1].Unsampled; w != 6 {
		t.Errorf("anchor 1 window holds %d candidates, want 6", w)
	}
	for _, n := range res[1].Negatives {
		if slices.Contains([]string{"x0", "x1", "x2"}, n.ID) {
			t.Errorf("positive %s returned", n.ID)
		}
	}
}

func TestGroupExclusion(t *testing.T) {
	items := line(8)
	items[0].g = []string{"doc-a"}      // anchor item
	items[1].g = []string{"doc-a", "x"} // shares the anchor's group
	items[2].g = []string{"doc-p"}      // the positive
	items[3].g = []string{"doc-p"}      // shares the positive's group
	items[4].g = []string{"req"}        // in the request's groups
	items[5].g = []string{"other"}      // unrelated
	s := build(t, engine.Dot, items...)
	req := Request{Anchors: []Anchor{{ID: "x0", PositiveIDs: []string{"x2"}, Groups: []string{"req"}}}, Policy: policy(2, nil)}
	res := mineOK(t, s, req)[0]
	if got, want := ids(res), []string{"x5", "x6"}; !slices.Equal(got, want) {
		t.Fatalf("negatives %v, want %v", got, want)
	}
	if res.Removed.SameGroup != 3 {
		t.Errorf("same-group removals %d, want 3", res.Removed.SameGroup)
	}
	req.Policy.ExcludeSameGroup = false
	if got := ids(mineOK(t, s, req)[0]); !slices.Equal(got, []string{"x1", "x3"}) {
		t.Errorf("without group exclusion: %v", got)
	}
}

func TestNearDuplicatesOfPositives(t *testing.T) {
	s := build(t, engine.Dot,
		it{id: "p", v: []float32{0.5, 0.5}},
		it{id: "dup", v: []float32{0.5, 0.5}},     // sim to p = 0.5: at the threshold, dropped
		it{id: "near", v: []float32{0.5, 0.25}},   // sim to p = 0.375
		it{id: "rawdup", v: []float32{0, 1}},      // duplicate of the raw positive
		it{id: "far", v: []float32{0.25, -0.5}},   // sim to p < 0
		it{id: "far2", v: []float32{0.125, -0.5}}, //
	)
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{Vector: []float32{1, 1}, PositiveIDs: []string{"p"}, PositiveVectors: [][]float32{{0, 1}}}},
		Policy:  policy(3, func(p *Policy) { p.DuplicateThreshold = ptr(0.5) }),
	})[0]
	if got, want := ids(res), []string{"near", "far", "far2"}; !slices.Equal(got, want) {
		t.Fatalf("negatives %v, want %v", got, want)
	}
	if res.Removed.Duplicate != 2 {
		t.Errorf("duplicates removed %d, want 2", res.Removed.Duplicate)
	}
}

func TestAbsoluteMarginKeepsOnlyScoresBelowPositiveMinusMargin(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	// s⁺ = 0.75 (raw positive); keep s < 0.75 − 0.25 = 0.5: x6 (0.4) onwards. x5 scores
	// 0.5 exactly and is dropped.
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{Vector: q10, PositiveVectors: [][]float32{{0.75, 0}}}},
		Policy:  policy(2, func(p *Policy) { p.AbsoluteMargin = ptr(0.25) }),
	})[0]
	if got := ids(res); !slices.Equal(got, []string{"x6", "x7"}) {
		t.Fatalf("negatives %v, want [x6 x7]", got)
	}
	if res.Removed.Margin != 6 {
		t.Errorf("margin removals %d, want 6", res.Removed.Margin)
	}
}

func TestRelativeMarginIsSignSafe(t *testing.T) {
	// Scores −0.25, −0.5, −0.75, −1, −1.25 against the query (1, 0).
	var items []it
	for i := range 5 {
		items = append(items, it{id: "n" + strconv.Itoa(i), v: []float32{-0.25 * float32(i+1), 0}})
	}
	s := build(t, engine.Dot, items...)
	// s⁺ = −0.5, r = 0.5: keep s < −0.5 − 0.25 = −0.75. The naive s⁺·(1 − r) = −0.25
	// would keep everything below −0.25, including the positive's own score.
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{Vector: q10, PositiveVectors: [][]float32{{-0.5, 0}}}},
		Policy:  policy(5, func(p *Policy) { p.RelativeMargin = ptr(0.5) }),
	})[0]
	if got := ids(res); !slices.Equal(got, []string{"n3", "n4"}) {
		t.Fatalf("negatives %v, want [n3 n4]", got)
	}
	if res.Removed.Margin != 3 || res.Shortfall != 3 {
		t.Errorf("margin removals %d shortfall %d, want 3 and 3", res.Removed.Margin, res.Shortfall)
	}
	// Positive s⁺ = 0.5 with r = 0.5: keep s < 0.25.
	s2 := build(t, engine.Dot, line(10)...)
	res = mineOK(t, s2, Request{
		Anchors: []Anchor{{Vector: q10, PositiveVectors: [][]float32{{0.5, 0}}}},
		Policy:  policy(1, func(p *Policy) { p.RelativeMargin = ptr(0.5) }),
	})[0]
	if got := ids(res); !slices.Equal(got, []string{"x8"}) {
		t.Fatalf("negatives %v, want [x8] (score 0.2)", got)
	}
}

func TestUnknownPositivesAreExcludedButGiveNoPositiveScore(t *testing.T) {
	s := build(t, engine.Dot, line(6)...)
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{Vector: q10, PositiveIDs: []string{"ghost", "x0"}}, {Vector: q10, PositiveIDs: []string{"ghost"}}},
		Policy:  policy(1, func(p *Policy) { p.AbsoluteMargin = ptr(0.15); p.InBatchExclusion = false }),
	})
	if !slices.Equal(res[0].UnknownPositiveIDs, []string{"ghost"}) || !res[0].HasPositiveScore || res[0].PositiveScore != 1 {
		t.Errorf("anchor 0: unknown %v, s⁺ %v (%v)", res[0].UnknownPositiveIDs, res[0].PositiveScore, res[0].HasPositiveScore)
	}
	if got := ids(res[0]); !slices.Equal(got, []string{"x2"}) {
		t.Errorf("anchor 0 negatives %v, want [x2] (s < 1 − 0.15)", got)
	}
	// No known positive: no s⁺, so the margin cannot apply; the hardest item comes back.
	if res[1].HasPositiveScore || res[1].Removed.Margin != 0 {
		t.Errorf("anchor 1: s⁺ %v (%v), margin removals %d", res[1].PositiveScore, res[1].HasPositiveScore, res[1].Removed.Margin)
	}
	if got := ids(res[1]); !slices.Equal(got, []string{"x0"}) {
		t.Errorf("anchor 1 negatives %v, want [x0]", got)
	}
}

func TestScoreBand(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{Vector: q10}},
		Policy:  policy(10, func(p *Policy) { p.MaxScore = ptr(0.75); p.MinScore = ptr(0.5) }),
	})[0]
	if got := ids(res); !slices.Equal(got, []string{"x3", "x4", "x5"}) {
		t.Fatalf("negatives %v, want scores 0.7, 0.6, 0.5", got)
	}
	// x0..x2 above the band; x6 below it ends the stream (best-first order).
	if res.Removed.ScoreBand != 4 || res.Examined != 7 {
		t.Errorf("score-band removals %d examined %d, want 4 and 7", res.Removed.ScoreBand, res.Examined)
	}
}

func TestRankWindowCountsSurvivorsOrRawRanks(t *testing.T) {
	s := build(t, engine.Dot, line(12)...)
	a := Anchor{Vector: q10, PositiveIDs: []string{"x0", "x2"}}
	surv := mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: policy(2, func(p *Policy) { p.RangeMin, p.RangeMax = 2, 4 })})[0]
	// Survivors: x1 x3 x4 x5 …; window [2, 4) of them: x4, x5.
	if got := ids(surv); !slices.Equal(got, []string{"x4", "x5"}) {
		t.Errorf("surviving ranks: %v, want [x4 x5]", got)
	}
	raw := mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: policy(2, func(p *Policy) { p.RangeMin, p.RangeMax, p.RankMode = 2, 4, RankRaw })})[0]
	// Raw ranks 2 and 3 are x2 (a positive) and x3.
	if got := ids(raw); !slices.Equal(got, []string{"x3"}) || raw.Shortfall != 1 {
		t.Errorf("raw ranks: %v (shortfall %d), want [x3] and 1", got, raw.Shortfall)
	}
	if raw.Removed.RankWindow != 2 || raw.Removed.Positive != 2 {
		t.Errorf("raw removals %+v", raw.Removed)
	}
}

func TestEffectiveRangeMaxFollowsSentenceTransformers(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *Policy)
		pos  int
		want int
	}{
		{"no filter", nil, 2, 3 + 4 + 2},
		{"absolute margin", func(p *Policy) { p.AbsoluteMargin = ptr(0.1) }, 2, 3 + 40 + 2},
		{"relative margin", func(p *Policy) { p.RelativeMargin = ptr(0.1) }, 1, 3 + 40 + 1},
		{"max score", func(p *Policy) { p.MaxScore = ptr(0.9) }, 0, 3 + 40},
		{"min score does not widen", func(p *Policy) { p.MinScore = ptr(0.1) }, 0, 3 + 4},
		{"explicit", func(p *Policy) { p.RangeMax = 50 }, 5, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			p.NumNegatives, p.RangeMin = 4, 3
			if tc.edit != nil {
				tc.edit(&p)
			}
			if got := p.EffectiveRangeMax(tc.pos); got != tc.want {
				t.Errorf("EffectiveRangeMax(%d) = %d, want %d", tc.pos, got, tc.want)
			}
		})
	}
}

func TestShortfallIsReportedNeverPadded(t *testing.T) {
	s := build(t, engine.Dot, line(5)...)
	res := mineOK(t, s, Request{Anchors: []Anchor{{ID: "x0", PositiveIDs: []string{"x1"}}}, Policy: policy(10, nil)})[0]
	if got := ids(res); !slices.Equal(got, []string{"x2", "x3", "x4"}) || res.Shortfall != 7 {
		t.Fatalf("negatives %v shortfall %d, want 3 negatives and shortfall 7", got, res.Shortfall)
	}
	if !res.ExactScan {
		t.Error("exact scan not reported")
	}
}

func TestInBatchConsistency(t *testing.T) {
	s := build(t, engine.Dot, line(8)...)
	req := Request{
		Anchors: []Anchor{
			{Vector: q10, Key: "a", PositiveIDs: []string{"x0"}},
			{ID: "x5", PositiveIDs: []string{"x1"}, ExcludeIDs: []string{"x2"}},
		},
		Policy: policy(2, nil),
	}
	res := mineOK(t, s, req)
	// Anchor 0 must not get x1 (positive of 1), x2 (exclusion of 1) or x5 (anchor 1).
	if got := ids(res[0]); !slices.Equal(got, []string{"x3", "x4"}) || res[0].Removed.InBatch != 2 {
		t.Errorf("anchor 0: %v (in-batch %d), want [x3 x4] and 2", got, res[0].Removed.InBatch)
	}
	// Anchor 1 must not get x0 (positive of 0).
	if got := ids(res[1]); slices.Contains(got, "x0") || res[1].Removed.InBatch != 1 {
		t.Errorf("anchor 1: %v (in-batch %d)", got, res[1].Removed.InBatch)
	}
	req.Policy.InBatchExclusion = false
	res = mineOK(t, s, req)
	if got := ids(res[0]); !slices.Equal(got, []string{"x1", "x2"}) {
		t.Errorf("without in-batch exclusion: %v, want [x1 x2]", got)
	}
}

func TestFeedbackExcludesReportedItemsForThatAnchorKey(t *testing.T) {
	s := build(t, engine.Dot, line(8)...)
	if n := s.AddFalseNegatives("x0", []string{"x1", "x2"}); n != 2 {
		t.Fatalf("recorded %d", n)
	}
	s.AddFalseNegatives("query-7", []string{"x0"})
	req := Request{
		Anchors: []Anchor{{ID: "x0"}, {Vector: q10, Key: "query-7"}, {Vector: q10}},
		Policy:  policy(1, func(p *Policy) { p.InBatchExclusion = false }),
	}
	res := mineOK(t, s, req)
	for i, want := range []string{"x3", "x1", "x0"} {
		if got := ids(res[i]); !slices.Equal(got, []string{want}) {
			t.Errorf("anchor %d: %v, want [%s]", i, got, want)
		}
	}
	if res[0].Removed.Feedback != 2 || res[1].Removed.Feedback != 1 || res[2].Removed.Feedback != 0 {
		t.Errorf("feedback removals %d %d %d", res[0].Removed.Feedback, res[1].Removed.Feedback, res[2].Removed.Feedback)
	}
	req.Policy.UseFeedback = false
	if got := ids(mineOK(t, s, req)[0]); !slices.Equal(got, []string{"x1"}) {
		t.Errorf("feedback off: %v", got)
	}
}

func TestDiversityGreedyInHardnessOrder(t *testing.T) {
	s := build(t, engine.Cosine,
		it{id: "a", v: []float32{1, 0.1, 0}},
		it{id: "a2", v: []float32{1, 0.12, 0.01}}, // near copy of a
		it{id: "b", v: []float32{0.7, 0, 0.7}},
		it{id: "c", v: []float32{0.6, -0.6, 0}},
	)
	p := policy(3, func(p *Policy) { p.DiversityThreshold = ptr(0.95) })
	res := mineOK(t, s, Request{Anchors: []Anchor{{Vector: []float32{1, 0, 0}}}, Policy: p})[0]
	if got := ids(res); !slices.Equal(got, []string{"a", "b", "c"}) || res.Removed.Diversity != 1 {
		t.Fatalf("negatives %v (diversity removals %d), want [a b c] and 1", got, res.Removed.Diversity)
	}
	for _, sampling := range []Sampling{SampleUniform, SampleSoftmax, SampleSimANS, SampleTop1Sampled} {
		p.Sampling, p.NumNegatives = sampling, 2
		for seed := range uint64(20) {
			p.Seed = seed
			got := ids(mineOK(t, s, Request{Anchors: []Anchor{{Vector: []float32{1, 0, 0}}}, Policy: p})[0])
			if slices.Contains(got, "a") && slices.Contains(got, "a2") {
				t.Fatalf("%v seed %d returned both near copies: %v", sampling, seed, got)
			}
		}
	}
}

func TestSamplingIsDeterministicForASeed(t *testing.T) {
	s := build(t, engine.Dot, line(40)...)
	anchors := []Anchor{{Vector: q10}, {Vector: q10}}
	for _, sampling := range []Sampling{SampleUniform, SampleSoftmax, SampleSimANS, SampleTop1Sampled} {
		p := policy(5, func(p *Policy) {
			p.Sampling, p.RangeMax, p.Seed, p.Temperature = sampling, 40, 42, 0.5
			p.SimANSB = -0.5
		})
		req := Request{Anchors: anchors, Policy: p, IncludeVectors: false}
		first := mineOK(t, s, req)
		for range 3 {
			again := mineOK(t, s, req)
			for i := range first {
				if !slices.Equal(ids(first[i]), ids(again[i])) {
					t.Fatalf("%v: same seed gave %v then %v", sampling, ids(first[i]), ids(again[i]))
				}
			}
		}
		if slices.Equal(ids(first[0]), ids(first[1])) {
			t.Errorf("%v: two anchors with the same query drew the same sample %v; each anchor should have its own stream", sampling, ids(first[0]))
		}
		differs := false
		for seed := uint64(43); seed < 53 && !differs; seed++ {
			req.Policy.Seed = seed
			differs = !slices.Equal(ids(mineOK(t, s, req)[0]), ids(first[0]))
		}
		if !differs {
			t.Errorf("%v: ten other seeds all drew %v", sampling, ids(first[0]))
		}
	}
}

// A call split into requests draws as one request: each request says where its anchors
// sit in the call (Request.AnchorOffset), and an anchor draws by that position. Without
// it, the second request's first anchor drew what the first request's first did.
func TestAnchorOffsetDrawsAsOneRequest(t *testing.T) {
	s := build(t, engine.Dot, line(40)...)
	anchors := []Anchor{{Vector: q10}, {Vector: q10}, {Vector: q10}}
	p := policy(5, func(p *Policy) { p.Sampling, p.RangeMax, p.Seed = SampleUniform, 40, 7 })
	whole := mineOK(t, s, Request{Anchors: anchors, Policy: p})
	for split := 1; split < len(anchors); split++ {
		first := mineOK(t, s, Request{Anchors: anchors[:split], Policy: p})
		rest := mineOK(t, s, Request{Anchors: anchors[split:], Policy: p, AnchorOffset: uint64(split)})
		for i, r := range append(first, rest...) {
			if !slices.Equal(ids(r), ids(whole[i])) {
				t.Errorf("split at %d: anchor %d drew %v, in one request %v", split, i, ids(r), ids(whole[i]))
			}
		}
	}
	if slices.Equal(ids(whole[0]), ids(whole[2])) {
		t.Errorf("anchors 0 and 2 of one call drew the same sample %v", ids(whole[0]))
	}
	// Positions past 2⁶⁴ would wrap to the first ones and repeat their draws.
	if _, err := Mine(context.Background(), s, Request{Anchors: anchors[:2], Policy: p, AnchorOffset: math.MaxUint64}); err == nil || !strings.Contains(err.Error(), "anchor_offset") {
		t.Errorf("2 anchors at offset 2⁶⁴ − 1: %v, want an error naming anchor_offset", err)
	}
	mineOK(t, s, Request{Anchors: anchors[:1], Policy: p, AnchorOffset: math.MaxUint64})
}

// sampleCounts mines one anchor with seeds 0..n-1 and counts how often each id is drawn.
func sampleCounts(t *testing.T, s Searcher, p Policy, a Anchor, n int) map[string]int {
	counts := map[string]int{}
	for seed := range uint64(n) {
		p.Seed = seed
		for _, id := range ids(mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: p})[0]) {
			counts[id]++
		}
	}
	return counts
}

func TestSamplingDistributions(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	a := Anchor{Vector: q10}
	const n = 2000
	base := func(sampling Sampling) Policy {
		return policy(1, func(p *Policy) { p.Sampling, p.RangeMax = sampling, 10 })
	}

	t.Run("softmax with tiny temperature is top", func(t *testing.T) {
		p := base(SampleSoftmax)
		p.Temperature = 0.001
		if c := sampleCounts(t, s, p, a, 200); c["x0"] != 200 {
			t.Errorf("counts %v, want x0 every time", c)
		}
	})
	t.Run("uniform", func(t *testing.T) {
		c := sampleCounts(t, s, base(SampleUniform), a, n)
		// Each of 10 candidates expects 200 draws; σ ≈ 13.4. Allow 5σ.
		for i := range 10 {
			if got := c["x"+strconv.Itoa(i)]; math.Abs(float64(got)-200) > 67 {
				t.Errorf("x%d drawn %d times of %d, want about 200", i, got, n)
			}
		}
	})
	t.Run("softmax follows exp(s/τ)", func(t *testing.T) {
		p := base(SampleSoftmax)
		p.Temperature = 0.2
		c := sampleCounts(t, s, p, a, n)
		var z float64
		for i := range 10 {
			z += math.Exp((1 - float64(i)/10) / 0.2)
		}
		for i := range 10 {
			want := n * math.Exp((1-float64(i)/10)/0.2) / z
			sd := math.Sqrt(want * (1 - want/n))
			if got := float64(c["x"+strconv.Itoa(i)]); math.Abs(got-want) > 5*sd+1 {
				t.Errorf("x%d drawn %v times, want %.1f ± %.1f", i, got, want, 5*sd)
			}
		}
	})
	t.Run("SimANS peaks at s⁺ + b", func(t *testing.T) {
		p := base(SampleSimANS)
		p.SimANSA, p.SimANSB = 200, -0.4
		// s⁺ = 1 (positive vector (1, 0)); the peak is at 0.6, item x4 — but x0 is the
		// positive's duplicate and stays a candidate here.
		c := sampleCounts(t, s, p, Anchor{Vector: q10, PositiveVectors: [][]float32{{1, 0}}}, 500)
		best, bestN := "", 0
		for id, k := range c {
			if k > bestN {
				best, bestN = id, k
			}
		}
		if best != "x4" || bestN < 300 {
			t.Errorf("counts %v, want x4 (score 0.6) most often", c)
		}
	})
	t.Run("top-1 plus sampled always holds the hardest", func(t *testing.T) {
		p := base(SampleTop1Sampled)
		p.NumNegatives = 3
		c := sampleCounts(t, s, p, a, 300)
		if c["x0"] != 300 {
			t.Errorf("x0 drawn %d of 300 times", c["x0"])
		}
		for i := 1; i < 10; i++ {
			if got := c["x"+strconv.Itoa(i)]; got < 30 || got > 110 {
				t.Errorf("x%d drawn %d times, want about 67", i, got)
			}
		}
	})
}

// recordingSearcher records the options of each search.
type recordingSearcher struct {
	engine.Collection
	opts []engine.SearchOptions
}

func (r *recordingSearcher) Search(ctx context.Context, q []float32, o engine.SearchOptions, y func(engine.Candidate) bool) (engine.SearchStats, error) {
	r.opts = append(r.opts, o)
	return r.Collection.Search(ctx, q, o, y)
}

func TestSearchOptionsFollowThePolicy(t *testing.T) {
	c := build(t, engine.Dot, line(8)...)
	rs := &recordingSearcher{Collection: c}
	mineOK(t, rs, Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(2, func(p *Policy) {
		p.Widen, p.RankMode, p.RangeMin, p.RangeMax = false, RankRaw, 1, 5
	})})
	mineOK(t, rs, Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(2, func(p *Policy) { p.Ef, p.MaxExamined = 300, 7 })})
	lead := 2 * engine.DefaultEfSearch // twice the collection ef
	if o, want := rs.opts[0], 5+lead; !o.NoWiden || o.MaxCandidates != 6 || o.Ef != want || o.Lead != lead {
		t.Errorf("first search: NoWiden %v MaxCandidates %d Ef %d Lead %d; want true, 6, %d (window end + twice the collection ef), %d",
			o.NoWiden, o.MaxCandidates, o.Ef, o.Lead, want, lead)
	}
	if o := rs.opts[1]; o.NoWiden || o.MaxCandidates != 7 || o.Ef != 300 || o.Lead != 0 {
		t.Errorf("second search: NoWiden %v MaxCandidates %d Ef %d Lead %d; want false, 7, 300, 0", o.NoWiden, o.MaxCandidates, o.Ef, o.Lead)
	}
	if o, want := rs.opts[0], DefaultMaxRank+2; o.Depth != want {
		t.Errorf("first search: Depth %d; want the default floor + 2 = %d", o.Depth, want)
	}
}

func TestInvalidRequestsNameTheField(t *testing.T) {
	s := build(t, engine.Cosine, it{id: "a", v: []float32{1, 0}})
	good := Anchor{ID: "a"}
	for _, tc := range []struct {
		name  string
		req   Request
		field string
	}{
		{"no anchors", Request{Policy: DefaultPolicy()}, "anchors"},
		{"k zero", Request{Anchors: []Anchor{good}, Policy: policy(0, nil)}, "policy.num_negatives"},
		{"window too small for k", Request{Anchors: []Anchor{good}, Policy: policy(5, func(p *Policy) { p.RangeMin, p.RangeMax = 2, 4 })}, "policy.num_negatives"},
		{"range_max below range_min", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.RangeMin, p.RangeMax = 4, 4 })}, "policy.range_max"},
		{"NaN threshold", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.DuplicateThreshold = ptr(float32(math.NaN())) })}, "policy.duplicate_threshold"},
		{"relative margin above 1", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.RelativeMargin = ptr(2) })}, "policy.relative_margin"},
		{"softmax without temperature", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.Sampling, p.Temperature = SampleSoftmax, 0 })}, "policy.temperature"},
		{"SimANS a", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.Sampling, p.SimANSA = SampleSimANS, -1 })}, "policy.simans_a"},
		{"diversity below the cosine range", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.DiversityThreshold = ptr(-2) })}, "policy.diversity_threshold"},
		{"duplicate threshold above the cosine range", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.DuplicateThreshold = ptr(1.5) })}, "policy.duplicate_threshold"},
		{"min_score below the cosine range", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.MinScore = ptr(-1.01) })}, "policy.min_score"},
		{"max_score above the cosine range", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.MaxScore = ptr(3) })}, "policy.max_score"},
		{"absolute margin wider than the cosine range", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.AbsoluteMargin = ptr(2.5) })}, "policy.absolute_margin"},
		{"negative max rank", Request{Anchors: []Anchor{good}, Policy: policy(1, func(p *Policy) { p.MaxRank = -1 })}, "policy.max_rank"},
		{"unknown anchor id", Request{Anchors: []Anchor{{ID: "nope"}}, Policy: DefaultPolicy()}, "anchors[0].id"},
		{"empty anchor", Request{Anchors: []Anchor{good, {}}, Policy: DefaultPolicy()}, "anchors[1]"},
		{"zero vector", Request{Anchors: []Anchor{{Vector: []float32{0, 0}}}, Policy: DefaultPolicy()}, "anchors[0].vector"},
		{"bad positive vector", Request{Anchors: []Anchor{{ID: "a", PositiveVectors: [][]float32{{1}}}}, Policy: DefaultPolicy()}, "anchors[0].positive_vectors[0]"},
		{"empty positive id", Request{Anchors: []Anchor{{ID: "a", PositiveIDs: []string{""}}}, Policy: DefaultPolicy()}, "anchors[0].positive_ids[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Mine(context.Background(), s, tc.req)
			var v *validate.Error
			if !errors.As(err, &v) {
				t.Fatalf("error %v, want a validation error", err)
			}
			found := false
			for _, x := range v.Violations {
				found = found || x.Field == tc.field
			}
			if !found {
				t.Errorf("violations %+v do not name %s", v.Violations, tc.field)
			}
		})
	}
}

func TestMineHonoursCancellation(t *testing.T) {
	s := build(t, engine.Dot, line(600)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Mine(ctx, s, Request{Anchors: []Anchor{{Vector: q10}}, Policy: policy(1, func(p *Policy) { p.MinScore = ptr(-100) })})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestPolicyFloatsMustLieInTheMetricsScoreRange(t *testing.T) {
	for _, tc := range []struct {
		metric engine.Metric
		edit   func(p *Policy)
		field  string // "" when valid
	}{
		{engine.Cosine, func(p *Policy) { p.DiversityThreshold = ptr(-1) }, ""},
		{engine.Cosine, func(p *Policy) { p.DiversityThreshold = ptr(1) }, ""},
		{engine.Cosine, func(p *Policy) { p.AbsoluteMargin = ptr(2) }, ""},
		{engine.Cosine, func(p *Policy) { p.MaxScore = ptr(1.0000001) }, ""},
		{engine.L2, func(p *Policy) { p.DuplicateThreshold = ptr(-0.1) }, ""},
		{engine.L2, func(p *Policy) { p.DuplicateThreshold = ptr(0.1) }, "policy.duplicate_threshold"},
		{engine.L2, func(p *Policy) { p.MaxScore = ptr(0.5) }, "policy.max_score"},
		{engine.L2, func(p *Policy) { p.AbsoluteMargin = ptr(1e6) }, ""},
		{engine.Dot, func(p *Policy) { p.DiversityThreshold, p.MinScore = ptr(-7), ptr(-50) }, ""},
	} {
		s := build(t, tc.metric, it{id: "a", v: []float32{1, 0}}, it{id: "b", v: []float32{0, 1}})
		_, err := Mine(context.Background(), s, Request{Anchors: []Anchor{{ID: "a"}}, Policy: policy(1, tc.edit)})
		var v *validate.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.metric, err)
		case tc.field != "" && (!errors.As(err, &v) || len(v.Violations) != 1 || v.Violations[0].Field != tc.field):
			t.Errorf("%s: %v, want a violation of %s", tc.metric, err, tc.field)
		}
	}
}

// TestNearDuplicateRuleIsOnByDefaultUnderCosine checks the default policy: under cosine
// a candidate with cosine ≥ 0.80 to a positive is dropped, one below it is kept; under
// dot the rule needs a threshold; NearDuplicates false turns it off.
func TestNearDuplicateRuleIsOnByDefaultUnderCosine(t *testing.T) {
	// Unit vectors at angles from the positive p = (1, 0); the query is (1, 0.3).
	at := func(id string, cos float64) it {
		return it{id: id, v: []float32{float32(cos), float32(math.Sqrt(1 - cos*cos))}}
	}
	items := []it{at("p", 1), at("c81", 0.81), at("c79", 0.79), at("c50", 0.5), at("c20", 0.2)}
	anchor := Anchor{Vector: []float32{1, 0.3}, PositiveIDs: []string{"p"}}
	cos := build(t, engine.Cosine, items...)
	// The false-negative budget (on by default as well) is off here to isolate the rule.
	noBudget := func(p *Policy) { p.PFNBudget = ptrInt(0) }
	res := mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(2, noBudget)})[0]
	if got := ids(res); !slices.Equal(got, []string{"c79", "c50"}) || res.Removed.Duplicate != 1 {
		t.Errorf("cosine default: %v (duplicates %d), want [c79 c50] with c81 removed", got, res.Removed.Duplicate)
	}
	res = mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(2, func(p *Policy) { p.NearDuplicates = false })})[0]
	if got := ids(res); !slices.Equal(got, []string{"c81", "c79"}) || res.Removed.Duplicate != 0 {
		t.Errorf("rule off: %v, want [c81 c79]", got)
	}
	res = mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(2, func(p *Policy) { noBudget(p); p.DuplicateThreshold = ptr(0.4) })})[0]
	if got := ids(res); !slices.Equal(got, []string{"c20"}) || res.Removed.Duplicate != 3 {
		t.Errorf("threshold 0.4: %v, want [c20]", got)
	}
	dot := build(t, engine.Dot, items...)
	res = mineOK(t, dot, Request{Anchors: []Anchor{anchor}, Policy: policy(2, nil)})[0]
	if got := ids(res); !slices.Equal(got, []string{"c81", "c79"}) {
		t.Errorf("dot default: %v, want [c81 c79] (no default threshold under dot)", got)
	}
	res = mineOK(t, dot, Request{Anchors: []Anchor{anchor}, Policy: policy(2, func(p *Policy) { p.DuplicateThreshold = ptr(0.8) })})[0]
	if got := ids(res); !slices.Equal(got, []string{"c79", "c50"}) {
		t.Errorf("dot with 0.8: %v, want [c79 c50]", got)
	}
}

// TestNearDuplicatesOfExcludedItemsAreExcluded: a copy of an excluded id or of a
// reported false negative is excluded with it (counted as excluded_duplicate), a copy
// of an item excluded for another anchor is not.
func TestNearDuplicatesOfExcludedItemsAreExcluded(t *testing.T) {
	s := build(t, engine.Cosine,
		it{id: "x", v: []float32{1, 0.1}}, it{id: "xcopy", v: []float32{1, 0.11}},
		it{id: "f", v: []float32{1, 0.3}}, it{id: "fcopy", v: []float32{1, 0.31}},
		it{id: "n1", v: []float32{0.2, 1}}, it{id: "n2", v: []float32{-0.5, 1}},
	)
	s.AddFalseNegatives("q", []string{"f"})
	req := Request{Anchors: []Anchor{{Vector: []float32{1, 0}, Key: "q", ExcludeIDs: []string{"x"}}, {Vector: []float32{1, 0}, Key: "other"}},
		Policy: policy(2, func(p *Policy) { p.InBatchExclusion = false })}
	res := mineOK(t, s, req)
	if got := ids(res[0]); !slices.Equal(got, []string{"n1", "n2"}) || res[0].Removed.ExcludedDuplicate != 2 || res[0].Removed.Excluded != 1 || res[0].Removed.Feedback != 1 {
		t.Errorf("anchor q: %v removed %+v, want [n1 n2] with two excluded duplicates", got, res[0].Removed)
	}
	if got := ids(res[1]); !slices.Equal(got, []string{"x", "xcopy"}) {
		t.Errorf("another anchor: %v, want [x xcopy]", got)
	}
	req.Policy.NearDuplicates = false
	if got := ids(mineOK(t, s, req)[0]); !slices.Equal(got, []string{"xcopy", "fcopy"}) {
		t.Errorf("rule off: %v, want [xcopy fcopy]", got)
	}
}

// TestHardnessFloorStopsTheSearchAndReportsIt: with most candidates removed, the search
// stops at max_rank and reports a shortfall and FloorReached instead of going deeper.
func TestHardnessFloorStopsTheSearchAndReportsIt(t *testing.T) {
	s := build(t, engine.Dot, line(30)...)
	// s⁺ = 1 (positive x0); an absolute margin of 0.45 keeps s < 0.55: x5 onwards.
	anchor := Anchor{Vector: q10, PositiveIDs: []string{"x0"}}
	res := mineOK(t, s, Request{Anchors: []Anchor{anchor}, Policy: policy(3, func(p *Policy) { p.AbsoluteMargin, p.MaxRank = ptr(0.45), 6 })})[0]
	if got := ids(res); !slices.Equal(got, []string{"x5"}) || !res.FloorReached || res.MaxRank != 6 || res.Shortfall != 2 {
		t.Errorf("floor 6: %v floor %d reached %v shortfall %d; want [x5], 6, true, 2", got, res.MaxRank, res.FloorReached, res.Shortfall)
	}
	res = mineOK(t, s, Request{Anchors: []Anchor{anchor}, Policy: policy(3, func(p *Policy) { p.AbsoluteMargin, p.MaxRank = ptr(0.45), 8 })})[0]
	if got := ids(res); !slices.Equal(got, []string{"x5", "x6", "x7"}) || res.FloorReached {
		t.Errorf("floor 8: %v reached %v; want [x5 x6 x7], false", got, res.FloorReached)
	}
	// The default floor is max(200, 2·end); NoMaxRank removes it.
	p := policy(3, nil)
	if got := p.EffectiveMaxRank(1000); got != 2000 {
		t.Errorf("default floor for a window ending at 1000: %d", got)
	}
	if got := p.EffectiveMaxRank(13); got != DefaultMaxRank {
		t.Errorf("default floor for a window ending at 13: %d", got)
	}
	p.MaxRank = NoMaxRank
	if got := p.EffectiveMaxRank(13); got != math.MaxInt {
		t.Errorf("NoMaxRank: %d", got)
	}
}

// TestFalseNegativeProbability checks p_fn on a small collection: it follows the
// documented logistic model, grows with similarity to the positive and is absent for an
// anchor without a positive.
func TestFalseNegativeProbability(t *testing.T) {
	s := build(t, engine.Dot, line(6)...)
	sig := func(z float64) float32 { return float32(1 / (1 + math.Exp(-z))) }
	// Positive (0.5, 0) as a raw vector: s⁺ = 0.5, s(c, p) = 0.5·(1 − i/10).
	res := mineOK(t, s, Request{Anchors: []Anchor{{Vector: q10, PositiveVectors: [][]float32{{0.5, 0}}}, {Vector: q10}},
		Policy: policy(3, func(p *Policy) { p.NearDuplicates = false })})
	for _, n := range res[0].Negatives {
		i, _ := strconv.Atoi(n.ID[1:])
		x := 1 - float64(i)/10
		want := sig(-6.83 + 6.87*0.5*x + 4.56*(x-0.5))
		if !n.HasPFN || math.Abs(float64(n.PFN-want)) > 1e-6 {
			t.Errorf("%s: p_fn %v (%v), want %v", n.ID, n.PFN, n.HasPFN, want)
		}
	}
	if ns := res[0].Negatives; !(ns[0].PFN > ns[1].PFN && ns[1].PFN > ns[2].PFN) {
		t.Errorf("p_fn not decreasing with hardness rank: %+v", ns)
	}
	for _, n := range res[1].Negatives {
		if n.HasPFN {
			t.Errorf("anchor without a positive: p_fn %v for %s", n.PFN, n.ID)
		}
	}
}

// TestDuplicateMarginIsRelativeToThePositiveScore: duplicate_margin δ drops candidates
// whose similarity to the positive is ≥ s⁺ + δ, the lower of that and a set threshold.
func TestDuplicateMarginIsRelativeToThePositiveScore(t *testing.T) {
	s := build(t, engine.Dot, line(6)...)
	// Positive (0.5, 0): s⁺ = 0.5, s(x_i, p) = 0.5·(1 − i/10); s⁺ − 0.1 = 0.4 drops x0–x2.
	a := Anchor{Vector: q10, PositiveVectors: [][]float32{{0.5, 0}}}
	res := mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: policy(3, func(p *Policy) { p.DuplicateMargin = ptr(-0.1) })})[0]
	if got := ids(res); !slices.Equal(got, []string{"x3", "x4", "x5"}) || res.Removed.Duplicate != 3 || math.Abs(float64(res.DuplicateThreshold)-0.4) > 1e-6 {
		t.Errorf("margin −0.1: %v, duplicates %d, threshold %v; want [x3 x4 x5], 3, 0.4", got, res.Removed.Duplicate, res.DuplicateThreshold)
	}
	// A lower set threshold wins; a higher one does not.
	res = mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: policy(2, func(p *Policy) { p.DuplicateMargin, p.DuplicateThreshold = ptr(-0.1), ptr(0.3) })})[0]
	if got := ids(res); !slices.Equal(got, []string{"x5"}) || res.DuplicateThreshold != 0.3 {
		t.Errorf("threshold 0.3 and margin: %v (threshold %v), want [x5]", got, res.DuplicateThreshold)
	}
	res = mineOK(t, s, Request{Anchors: []Anchor{a}, Policy: policy(3, func(p *Policy) { p.DuplicateMargin, p.NearDuplicates = ptr(-0.1), false })})[0]
	if got := ids(res); !slices.Equal(got, []string{"x0", "x1", "x2"}) || res.HasDuplicateThreshold {
		t.Errorf("rule off: %v", got)
	}
}

// TestFalseNegativeBudgetIsOnByDefaultUnderCosine: under cosine an empty policy drops
// the ⌈k/2⌉ likeliest survivors with p_fn ≥ 0.01 and keeps later ones whatever their p_fn; the
// threshold and the budget can be set, a budget of 0 or NearDuplicates false turns the
// default off, and under dot the rule needs both values. duplicate_margin is off by
// default.
func TestFalseNegativeBudgetIsOnByDefaultUnderCosine(t *testing.T) {
	// p at 0°, the query at 50° (s⁺ = cos 50° ≈ 0.643). Query order: c44, c57, c30, c75,
	// c100. c30 is a near-duplicate of p (cos 0.866 ≥ 0.80). p_fn = σ(−6.83 + 6.87·cos(c, p)
	// + 4.56·(s − s⁺)): c44 0.43, c57 0.18, c75 0.021, c100 0.0003.
	items := []it{deg("p", 0), deg("c44", 44), deg("c57", 57), deg("c30", 30), deg("c75", 75), deg("c100", 100)}
	anchor := Anchor{Vector: deg("q", 50).v, PositiveIDs: []string{"p"}}
	cos := build(t, engine.Cosine, items...)
	for _, tc := range []struct {
		name    string
		edit    func(p *Policy)
		want    []string
		dropped int
	}{
		{"default", nil, []string{"c57", "c75"}, 1}, // k = 2: a budget of 1
		{"budget 2", func(p *Policy) { p.PFNBudget = ptrInt(2) }, []string{"c75", "c100"}, 2},
		{"threshold 0.2", func(p *Policy) { p.PFNThreshold = ptr(0.2) }, []string{"c57", "c75"}, 1},
		{"budget 0", func(p *Policy) { p.PFNBudget = ptrInt(0) }, []string{"c44", "c57"}, 0},
		{"near-duplicate rules off", func(p *Policy) { p.NearDuplicates = false }, []string{"c44", "c57"}, 0},
	} {
		res := mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(2, tc.edit), Explain: 16})[0]
		if got := ids(res); !slices.Equal(got, tc.want) || res.Removed.LikelyFalseNegative != tc.dropped {
			t.Errorf("%s: %v (likely false negatives %d), want %v, %d", tc.name, got, res.Removed.LikelyFalseNegative, tc.want, tc.dropped)
		}
		checkExplainedMatchesCounts(t, res)
	}
	// The default budget grows with k: at k = 6 it is 3, and all three candidates with
	// p_fn ≥ 0.01 go.
	if res := mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(6, nil)})[0]; res.Removed.LikelyFalseNegative != 3 || !slices.Equal(ids(res), []string{"c100"}) {
		t.Errorf("k = 6: %v (likely false negatives %d), want [c100], 3", ids(res), res.Removed.LikelyFalseNegative)
	}
	for k, want := range map[int]int{1: 1, 2: 1, 3: 2, 8: 4, 9: 5, 32: 16} {
		if got := DefaultCosinePFNBudget(k); got != want {
			t.Errorf("DefaultCosinePFNBudget(%d) = %d, want %d", k, got, want)
		}
	}
	res := mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(3, func(p *Policy) { p.PFNBudget = ptrInt(0) })})[0]
	if res.DuplicateThreshold != DefaultCosineDuplicateThreshold || res.Removed.Duplicate != 1 {
		t.Errorf("duplicate threshold %v (%d removed), want %v: no default duplicate_margin", res.DuplicateThreshold, res.Removed.Duplicate, DefaultCosineDuplicateThreshold)
	}
	dot := build(t, engine.Dot, items...)
	for _, tc := range []struct {
		name string
		edit func(p *Policy)
		want []string
	}{
		{"dot default", nil, []string{"c44", "c57"}},
		{"dot, threshold only", func(p *Policy) { p.PFNThreshold = ptr(0.01) }, []string{"c44", "c57"}},
		// No near-duplicate rule under dot: c30 (p_fn 0.62) counts against the budget.
		{"dot, both set", func(p *Policy) { p.PFNThreshold, p.PFNBudget = ptr(0.01), ptrInt(3) }, []string{"c75", "c100"}},
	} {
		if got := ids(mineOK(t, dot, Request{Anchors: []Anchor{anchor}, Policy: policy(2, tc.edit)})[0]); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFalseNegativeBudgetDropsTheLikeliestFirst: the budget judges the first k + budget
// candidates that pass the other rules together and drops those with the highest p_fn,
// not the first flagged ones; the held candidates after the window is full count as
// unsampled, and the counts match the explanation.
func TestFalseNegativeBudgetDropsTheLikeliestFirst(t *testing.T) {
	// p at 0°, the query at 50° (s⁺ ≈ 0.643). Query order: x (52°), y (45°), z (60°),
	// w (70°). p_fn: x 0.27, y 0.41, z 0.14, w 0.04: y, second in rank, is the likeliest
	// false negative.
	items := []it{deg("p", 0), deg("x", 52), deg("y", 45), deg("z", 60), deg("w", 70)}
	anchor := Anchor{Vector: deg("q", 50).v, PositiveIDs: []string{"p"}}
	cos := build(t, engine.Cosine, items...)
	for _, tc := range []struct {
		name      string
		edit      func(p *Policy)
		want      []string
		dropped   int
		unsampled int
	}{
		{"default: budget 1 of a window of 3", nil, []string{"x", "z"}, 1, 0},
		{"budget 2", func(p *Policy) { p.PFNBudget = ptrInt(2) }, []string{"z", "w"}, 2, 0},
		{"threshold 0.3: only y", func(p *Policy) { p.PFNThreshold, p.PFNBudget = ptr(0.3), ptrInt(2) }, []string{"x", "z"}, 1, 1},
		{"threshold 0.5: none", func(p *Policy) { p.PFNThreshold = ptr(0.5) }, []string{"x", "y"}, 0, 1},
		{"range_min 1: the window starts at y", func(p *Policy) { p.RangeMin = 1 }, []string{"z", "w"}, 1, 0},
	} {
		for _, mode := range []RankMode{RankSurviving, RankRaw} {
			res := mineOK(t, cos, Request{Anchors: []Anchor{anchor}, Policy: policy(2, func(p *Policy) {
				if tc.edit != nil {
					tc.edit(p)
				}
				p.RankMode = mode
			}), Explain: 16})[0]
			if got := ids(res); !slices.Equal(got, tc.want) || res.Removed.LikelyFalseNegative != tc.dropped || res.Unsampled != tc.unsampled {
				t.Errorf("%s, rank mode %d: %v (likely false negatives %d, unsampled %d), want %v, %d, %d",
					tc.name, mode, got, res.Removed.LikelyFalseNegative, res.Unsampled, tc.want, tc.dropped, tc.unsampled)
			}
			checkExplainedMatchesCounts(t, res)
		}
	}
	// Held candidates past the window's end count there, not as unsampled: uniform
	// sampling over a window of 3 ranks (x, y, z), a budget of 3 that flags nothing
	// holds x, y, z, w and v; w and v are past the window.
	cos5 := build(t, engine.Cosine, append(items, deg("v", 80))...)
	res := mineOK(t, cos5, Request{Anchors: []Anchor{anchor}, Policy: policy(2, func(p *Policy) {
		p.Sampling, p.RangeMax, p.PFNThreshold, p.PFNBudget = SampleUniform, 3, ptr(0.5), ptrInt(3)
	}), Explain: 16})[0]
	if res.Removed.RankWindow != 2 || res.Unsampled != 1 || len(res.Negatives) != 2 {
		t.Errorf("uniform sampling: rank window %d, unsampled %d, %d negatives; want 2, 1, 2", res.Removed.RankWindow, res.Unsampled, len(res.Negatives))
	}
	checkExplainedMatchesCounts(t, res)
}

func ptrInt(v int) *int { return &v }

// deg is a unit vector in the plane at d degrees.
func deg(id string, d float64) it {
	r := d * math.Pi / 180
	return it{id: id, v: []float32{float32(math.Cos(r)), float32(math.Sin(r))}}
}
