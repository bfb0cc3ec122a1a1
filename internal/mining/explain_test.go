package mining

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// fateCounts tallies an explained list per fate.
func fateCounts(xs []Explained) map[Fate]int {
	out := map[Fate]int{}
	for _, x := range xs {
		out[x.Fate]++
	}
	return out
}

// checkExplainedMatchesCounts checks that an untruncated explanation accounts for
// every candidate the anchor examined, under the rule the counters name.
func checkExplainedMatchesCounts(t *testing.T, r Result) {
	t.Helper()
	if r.ExplainTruncated {
		t.Fatal("explanation truncated")
	}
	c := fateCounts(r.Explained)
	rc := r.Removed
	want := map[Fate]int{
		FateSelf: rc.Self, FatePositive: rc.Positive, FateExcluded: rc.Excluded, FateInBatch: rc.InBatch,
		FateFeedback: rc.Feedback, FateSameGroup: rc.SameGroup, FateDuplicate: rc.Duplicate,
		FateExcludedDuplicate: rc.ExcludedDuplicate, FateGuide: rc.Guide, FateMargin: rc.Margin,
		FateScoreBand: rc.ScoreBand, FateRankWindow: rc.RankWindow, FateDiversity: rc.Diversity,
		FateReturned: len(r.Negatives), FateUnsampled: r.Unsampled,
	}
	for _, f := range Fates() {
		if c[f] != want[f] {
			t.Errorf("fate %s: %d explained, counters say %d", f, c[f], want[f])
		}
	}
	if len(r.Explained) != r.Examined {
		t.Errorf("%d explained, %d examined", len(r.Explained), r.Examined)
	}
	var returned []string
	for _, x := range r.Explained {
		if x.Fate == FateReturned {
			returned = append(returned, x.ID)
		}
	}
	slices.Sort(returned)
	got := ids(r)
	slices.Sort(got)
	if !slices.Equal(returned, got) {
		t.Errorf("explained as returned %v, negatives %v", returned, got)
	}
}

func TestExplainNamesTheRuleThatRemovedEachCandidate(t *testing.T) {
	// Dot scores against (1, 0): x0 1, x1 0.9, x2 0.8, … x9 0.1.
	s := build(t, engine.Dot, line(10)...)
	res := mineOK(t, s, Request{
		Anchors: []Anchor{{ID: "x0", PositiveIDs: []string{"x1"}, ExcludeIDs: []string{"x2"}}},
		Policy: policy(2, func(p *Policy) {
			m := float32(0.25) // s⁺ = 0.9: scores ≥ 0.65 fail the margin
			p.AbsoluteMargin = &m
			p.NearDuplicates = false
		}),
		Explain: 100,
	})[0]
	checkExplainedMatchesCounts(t, res)
	fate := map[string]Fate{}
	for _, x := range res.Explained {
		fate[x.ID] = x.Fate
	}
	want := map[string]Fate{
		"x0": FateSelf, "x1": FatePositive, "x2": FateExcluded,
		"x3": FateMargin, "x4": FateReturned, "x5": FateReturned,
	}
	for id, f := range want {
		if fate[id] != f {
			t.Errorf("%s: fate %s, want %s", id, fate[id], f)
		}
	}
	for _, x := range res.Explained {
		if x.Fate == FateMargin && (!x.HasScore || x.Score != 0.7 || x.Rank != 2) {
			t.Errorf("margin candidate %+v: want score 0.7 at raw rank 2", x)
		}
		if x.Fate == FateSelf && x.HasScore {
			t.Errorf("self %+v has a score: the id rules run before scoring", x)
		}
	}
}

func TestExplainReportsUnsampledAndDiversity(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	for _, sm := range []Sampling{SampleTop, SampleUniform, SampleSoftmax} {
		res := mineOK(t, s, Request{
			Anchors: []Anchor{{Vector: q10}},
			Policy: policy(3, func(p *Policy) {
				p.Sampling = sm
				d := float32(0.95) // x_i·x_j > 0.95 only for the largest pairs
				p.DiversityThreshold = &d
				p.RangeMax = 8
			}),
			Explain: 100,
		})[0]
		checkExplainedMatchesCounts(t, res)
	}
}

func TestExplainIsBoundedAndOffByDefault(t *testing.T) {
	s := build(t, engine.Dot, line(10)...)
	req := Request{Anchors: []Anchor{{ID: "x0"}}, Policy: policy(5, nil)}
	if r := mineOK(t, s, req)[0]; r.Explained != nil || r.ExplainTruncated {
		t.Fatalf("explain off: got %v", r.Explained)
	}
	req.Explain = 3
	r := mineOK(t, s, req)[0]
	if len(r.Explained) != 3 || !r.ExplainTruncated {
		t.Fatalf("explain 3: got %d entries, truncated %v", len(r.Explained), r.ExplainTruncated)
	}
	for _, bad := range []Request{
		{Anchors: []Anchor{{ID: "x0"}}, Policy: policy(1, nil), Explain: MaxExplain + 1},
		{Anchors: []Anchor{{ID: "x0"}}, Policy: policy(1, nil), Explain: -1},
		{Anchors: make([]Anchor, MaxExplainTotal/MaxExplain+1), Policy: policy(1, nil), Explain: MaxExplain},
	} {
		for i := range bad.Anchors {
			bad.Anchors[i].ID = "x0"
		}
		_, err := Mine(context.Background(), s, bad)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Violations[0].Field != "explain" {
			t.Errorf("explain %d × %d anchors: err %v, want a violation of explain", bad.Explain, len(bad.Anchors), err)
		}
	}
}
