package mining

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

func boolp(b bool) *bool { return &b }

// TestHardnessBandMoves checks the specified moves of h: +HardnessStep per solved
// report up to 1, −HardnessStep per unsolved one down to 0, −HardnessBackoff per
// false-negative verdict, losses compared with the running mean, and the band shift
// round((1 − h)·depth).
func TestHardnessBandMoves(t *testing.T) {
	h := NewHardness()
	want := []float64{0.25, 0.5, 0.75, 1, 1}
	for i, w := range want {
		if got := h.Report([]Outcome{{Key: "a", Solved: boolp(true)}})[0]; got != w {
			t.Fatalf("solved report %d: h = %v, want %v", i, got, w)
		}
	}
	if got := h.Report([]Outcome{{Key: "a", Solved: boolp(false)}})[0]; got != 0.75 {
		t.Fatalf("unsolved: h = %v, want 0.75", got)
	}
	h.BackOff("a", 2)
	if got := h.Of("a"); got != 0.25 {
		t.Fatalf("after two false negatives: h = %v, want 0.25", got)
	}
	h.BackOff("a", 5)
	if got := h.Of("a"); got != 0 {
		t.Fatalf("backing off below 0: h = %v", got)
	}
	// Losses: the first sets the mean (and counts as solved), a lower one is solved, a
	// higher one is not.
	l := func(x float32) *float32 { return &x }
	got := h.Report([]Outcome{{Key: "b", Loss: l(1)}, {Key: "b", Loss: l(0.5)}, {Key: "c", Loss: l(3)}})
	if !reflect.DeepEqual(got, []float64{0.25, 0.5, 0}) {
		t.Fatalf("loss reports: %v", got)
	}
	for _, c := range []struct {
		h     float64
		depth int
		shift int
	}{{0, 40, 40}, {0.25, 40, 30}, {0.5, 10, 5}, {1, 40, 0}} {
		if got := bandShift(c.h, c.depth); got != c.shift {
			t.Fatalf("bandShift(%v, %d) = %d, want %d", c.h, c.depth, got, c.shift)
		}
	}
}

// TestHardnessIsBounded checks that the tracker forgets the least recently used key
// beyond MaxHardnessKeys.
func TestHardnessIsBounded(t *testing.T) {
	h := NewHardness()
	h.Report([]Outcome{{Key: "first", Solved: boolp(true)}})
	outs := make([]Outcome, 0, MaxOutcomes)
	for i := range MaxHardnessKeys {
		outs = append(outs, Outcome{Key: strconv.Itoa(i), Solved: boolp(true)})
		if len(outs) == MaxOutcomes || i == MaxHardnessKeys-1 {
			h.Report(outs)
			outs = outs[:0]
		}
	}
	if h.Len() != MaxHardnessKeys {
		t.Fatalf("%d keys held, want %d", h.Len(), MaxHardnessKeys)
	}
	if h.Of("first") != 0 {
		t.Fatal("the least recently used key was kept")
	}
	if h.Of(strconv.Itoa(MaxHardnessKeys-1)) != HardnessStep {
		t.Fatal("the newest key was forgotten")
	}
}

// TestClosedLoopShiftsTheWindow checks that mining under ClosedLoop returns what the
// same policy returns with its window moved down by the anchor's band shift, that the
// shift follows the reports, and that results report h and the shift.
func TestClosedLoopShiftsTheWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	w := randomWorld(r, 300, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	h := NewHardness()
	anchors := []Anchor{{ID: "i1", PositiveIDs: []string{"i2"}}, {Vector: w.raw[5], Key: "q5"}}
	for _, mode := range []RankMode{RankSurviving, RankRaw} {
		for step := range 6 {
			pol := DefaultPolicy()
			pol.NumNegatives, pol.RankMode, pol.ClosedLoop, pol.ClosedLoopDepth = 4, mode, true, 20
			pol.NearDuplicates, pol.ExcludeSameGroup = false, false
			got, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: pol, Hardness: h})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range anchors {
				key := a.Key
				if key == "" {
					key = a.ID
				}
				hk := h.Of(key)
				shift := bandShift(hk, 20)
				if !got[i].HasHardness || float64(got[i].Hardness) != hk || got[i].BandShift != shift {
					t.Fatalf("step %d anchor %d: hardness %v shift %d reported, want %v %d", step, i, got[i].Hardness, got[i].BandShift, hk, shift)
				}
				ref := DefaultPolicy()
				ref.NumNegatives, ref.RankMode = 4, mode
				ref.NearDuplicates, ref.ExcludeSameGroup = false, false
				ref.RangeMin = shift
				ref.RangeMax = shift + ref.NumNegatives + len(a.PositiveIDs)
				want, err := Mine(context.Background(), s, Request{Anchors: []Anchor{a}, Policy: ref})
				if err != nil {
					t.Fatal(err)
				}
				if len(want[0].Negatives) != 4 || !slices.Equal(negIDs(got[i].Negatives), negIDs(want[0].Negatives)) {
					t.Fatalf("step %d anchor %d (h %v): %v, want the window shifted by %d: %v", step, i, hk, negIDs(got[i].Negatives), shift, negIDs(want[0].Negatives))
				}
			}
			h.Report([]Outcome{{Key: "i1", Solved: boolp(true)}, {Key: "q5", Solved: boolp(step%2 == 0)}})
		}
	}
	if h.Of("i1") != 1 {
		t.Fatalf("i1 solved 12 times: h = %v", h.Of("i1"))
	}
}

// TestClosedLoopShiftIsClampedToWhatTheSearchFinds checks that a closed-loop window
// moved past the collection's last candidate moves back up by as few ranks as give k
// negatives: on a collection of 30 items a new anchor (h = 0, shift 40) gets the 4
// deepest survivors, not a shortfall, and the shift reported is the one applied.
func TestClosedLoopShiftIsClampedToWhatTheSearchFinds(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	w := randomWorld(r, 30, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	anchors := []Anchor{{ID: "i1", PositiveIDs: []string{"i2"}}}
	for _, mode := range []RankMode{RankSurviving, RankRaw} {
		for _, sampling := range []Sampling{SampleTop, SampleUniform} {
			all := DefaultPolicy()
			all.NumNegatives, all.RangeMax, all.RankMode = 100, 100, mode
			all.NearDuplicates, all.ExcludeSameGroup = false, false
			every, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: all})
			if err != nil {
				t.Fatal(err)
			}
			negs := every[0].Negatives
			if len(negs) != 28 {
				t.Fatalf("%d survivors, want 28 (30 less the anchor and its positive)", len(negs))
			}
			deepest := negs[len(negs)-4:]
			wantShift := len(negs) - 4
			if mode == RankRaw {
				wantShift = deepest[0].Rank
			}
			pol := DefaultPolicy()
			pol.NumNegatives, pol.RankMode, pol.Sampling = 4, mode, sampling
			pol.ClosedLoop, pol.ClosedLoopDepth = true, 40
			pol.NearDuplicates, pol.ExcludeSameGroup = false, false
			got, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: pol, Hardness: NewHardness(), Explain: 64})
			if err != nil {
				t.Fatal(err)
			}
			g := got[0]
			if g.Shortfall != 0 || !slices.Equal(negIDs(g.Negatives), negIDs(deepest)) {
				t.Fatalf("mode %v sampling %v: %v (shortfall %d), want the deepest 4 %v", mode, sampling, negIDs(g.Negatives), g.Shortfall, negIDs(deepest))
			}
			if g.BandShift != wantShift {
				t.Fatalf("mode %v sampling %v: band shift %d reported, want %d (40 clamped)", mode, sampling, g.BandShift, wantShift)
			}
			if g.Removed.RankWindow != 24 {
				t.Fatalf("mode %v sampling %v: rank window removed %d, want 24", mode, sampling, g.Removed.RankWindow)
			}
			returned := 0
			for _, x := range g.Explained {
				if x.Fate == FateReturned {
					returned++
				}
			}
			if returned != 4 {
				t.Fatalf("mode %v sampling %v: %d explained as returned, want 4", mode, sampling, returned)
			}
		}
	}
}

// TestClosedLoopWindowUnderRotationRestartsItsCycle: under rotation a closed-loop window
// that rotation has used up starts a new cycle in the same moved window; it does not
// creep up towards the top (the fill of a short window is left to rotation's restart).
func TestClosedLoopWindowUnderRotationRestartsItsCycle(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	w := randomWorld(r, 60, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	x, h := NewExposure(0), NewHardness()
	pol := DefaultPolicy()
	pol.NumNegatives, pol.RankMode, pol.Rotate = 4, RankRaw, true
	pol.ClosedLoop, pol.ClosedLoopDepth = true, 20
	pol.NearDuplicates, pol.ExcludeSameGroup = false, false
	restarts := 0
	for call := range 6 {
		got, err := Mine(context.Background(), s, Request{Anchors: []Anchor{{ID: "i3"}}, Policy: pol, Exposure: x, Hardness: h})
		if err != nil {
			t.Fatal(err)
		}
		g := got[0]
		if g.BandShift != 20 || len(g.Negatives) != 4 {
			t.Fatalf("call %d: band shift %d, %d negatives; want 20, 4", call, g.BandShift, len(g.Negatives))
		}
		for _, n := range g.Negatives {
			if n.Rank < 20 || n.Rank >= 24 {
				t.Fatalf("call %d: negative at raw rank %d, outside the moved window [20, 24)", call, n.Rank)
			}
		}
		if g.RotationRestarted {
			restarts++
		}
	}
	if restarts < 5 {
		t.Fatalf("%d restarts in 6 calls of a 4-item window, want 5", restarts)
	}
}

// TestClosedLoopValidation checks what ClosedLoop needs.
func TestClosedLoopValidation(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	w := randomWorld(r, 20, 4, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	pol := DefaultPolicy()
	pol.ClosedLoop = true
	for _, c := range []struct {
		field string
		req   Request
	}{
		{"policy.closed_loop", Request{Anchors: []Anchor{{ID: "i1"}}, Policy: pol}},
		{"anchors[0].key", Request{Anchors: []Anchor{{Vector: w.raw[0]}}, Policy: pol, Hardness: NewHardness()}},
	} {
		_, err := Mine(context.Background(), s, c.req)
		var v *validate.Error
		if !errors.As(err, &v) || !slices.ContainsFunc(v.Violations, func(f validate.Violation) bool { return f.Field == c.field }) {
			t.Fatalf("%s: got %v", c.field, err)
		}
	}
	if err := ValidateOutcomes([]Outcome{{Key: ""}, {Key: "a"}}, "outcomes"); err == nil {
		t.Fatal("empty key and missing outcome accepted")
	}
}

// TestClosedLoopBudgetJudgesTheCandidatesFilledFromAbove: when a closed-loop window
// moved past what the search finds holds fewer than k + budget candidates, the
// false-negative budget judges those it holds and then the candidates that fill it from
// above (deepest first), k + budget in all, and drops the likeliest of them: the window
// moved past the collection's end (shift 40 of 28 survivors) and one that holds three
// (shift 25).
func TestClosedLoopBudgetJudgesTheCandidatesFilledFromAbove(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	w := randomWorld(r, 30, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	anchors := []Anchor{{ID: "i1", PositiveIDs: []string{"i2"}}}
	all := DefaultPolicy()
	all.NumNegatives, all.RangeMax = 100, 100
	all.NearDuplicates, all.ExcludeSameGroup = false, false
	every, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: all})
	if err != nil {
		t.Fatal(err)
	}
	negs := every[0].Negatives // the 28 survivors, best first, with their p_fn
	if len(negs) != 28 || !negs[0].HasPFN {
		t.Fatalf("%d survivors (p_fn %v), want 28 with p_fn", len(negs), negs[0].HasPFN)
	}
	for _, tc := range []struct {
		depth  int
		judged []Negative // in the budget's order: the held, then from above, deepest first
	}{
		{40, []Negative{negs[27], negs[26], negs[25], negs[24], negs[23], negs[22]}},
		{25, []Negative{negs[25], negs[26], negs[27], negs[24], negs[23], negs[22]}},
	} {
		// The two with the highest p_fn go (threshold 0: every candidate is flagged).
		drop := map[string]bool{}
		for range 2 {
			best := -1
			for j, n := range tc.judged {
				if !drop[n.ID] && (best < 0 || n.PFN > tc.judged[best].PFN) {
					best = j
				}
			}
			drop[tc.judged[best].ID] = true
		}
		var want []string
		for _, n := range negs {
			if slices.ContainsFunc(tc.judged, func(x Negative) bool { return x.ID == n.ID }) && !drop[n.ID] {
				want = append(want, n.ID)
			}
		}
		pol := DefaultPolicy()
		pol.NumNegatives, pol.ClosedLoop, pol.ClosedLoopDepth = 4, true, tc.depth
		pol.NearDuplicates, pol.ExcludeSameGroup = false, false
		pol.PFNThreshold, pol.PFNBudget = ptr(0), ptrInt(2)
		got, err := Mine(context.Background(), s, Request{Anchors: anchors, Policy: pol, Hardness: NewHardness(), Explain: 64})
		if err != nil {
			t.Fatal(err)
		}
		g := got[0]
		if !slices.Equal(negIDs(g.Negatives), want) || g.Removed.LikelyFalseNegative != 2 || g.Shortfall != 0 {
			t.Errorf("depth %d: %v (likely false negatives %d, shortfall %d), want %v, 2, 0",
				tc.depth, negIDs(g.Negatives), g.Removed.LikelyFalseNegative, g.Shortfall, want)
		}
		checkExplainedMatchesCounts(t, g)
	}
}
