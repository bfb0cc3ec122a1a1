package mining

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// TestRotationNeverRepeatsWithinACycle mines random anchors many times under random
// rotating policies and checks, call by call against the key's state before the call:
// without a restart no negative was already in the cycle; with one, the first pass's
// negatives were not, and the new cycle holds only this call's negatives.
func TestRotationNeverRepeatsWithinACycle(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 41))
		w := randomWorld(r, 150+r.IntN(100), 8, engine.Cosine)
		s := newCollection(t, w.cfg, w.batchCopy(), nil)
		x := NewExposure(0)
		restarts := 0
		for call := range 60 {
			p := DefaultPolicy()
			p.Rotate = true
			p.NumNegatives = 1 + r.IntN(6)
			p.Sampling = Sampling(r.IntN(5))
			p.RankMode = RankMode(r.IntN(2))
			p.RangeMax = p.NumNegatives + r.IntN(20)
			p.MaxRank = 40 + r.IntN(40)
			p.Seed = uint64(call % 3)
			var req Request
			keys := []string{}
			// Distinct keys per request: then the state before the call is what each
			// anchor saw (anchors sharing a key run in order, like successive calls).
			for _, j := range r.Perm(4)[:1+r.IntN(3)] {
				k := "k" + strconv.Itoa(j)
				req.Anchors = append(req.Anchors, Anchor{Vector: w.raw[r.IntN(8)], Key: k})
				keys = append(keys, k)
			}
			req.Policy, req.Exposure = p, x
			before := map[string][]string{}
			cycles := map[string]uint64{}
			for _, k := range keys {
				before[k], cycles[k] = x.RotationState(k)
			}
			got, err := Mine(context.Background(), s, req)
			if err != nil {
				t.Fatal(err)
			}
			for i, res := range got {
				k := keys[i]
				ids := negIDs(res.Negatives)
				after, c := x.RotationState(k)
				old := before[k]
				if res.RotationRestarted {
					restarts++
					// The new cycle holds only this call's second pass; the first pass's
					// negatives came from the old cycle's window without repeating it.
					for _, id := range after {
						if !slices.Contains(ids, id) {
							t.Fatalf("seed %d call %d: new cycle %v holds %s, not served now (%v)", seed, call, after, id, ids)
						}
					}
					for _, id := range ids {
						if !slices.Contains(after, id) && slices.Contains(old, id) {
							t.Fatalf("seed %d call %d anchor %d: restart served %s again from the old cycle %v", seed, call, i, id, old)
						}
					}
				} else {
					for _, id := range ids {
						if slices.Contains(old, id) {
							t.Fatalf("seed %d call %d anchor %d: %s served again within the cycle %v", seed, call, i, id, old)
						}
					}
				}
				if res.RotationRestarted != (c == cycles[k]+1) || !res.RotationRestarted && c != cycles[k] {
					t.Fatalf("seed %d call %d: restarted %v, cycles %d → %d", seed, call, res.RotationRestarted, cycles[k], c)
				}
				if res.RotationServed != len(after) {
					t.Fatalf("rotation_served %d, state holds %d", res.RotationServed, len(after))
				}
				if !res.RotationRestarted && len(after) != len(old)+len(ids) {
					t.Fatalf("cycle grew from %d to %d by %d negatives", len(old), len(after), len(ids))
				}
				if len(ids) != len(slicesCompactSorted(ids)) {
					t.Fatalf("duplicate negatives %v", ids)
				}
			}
		}
		if restarts == 0 {
			t.Fatalf("seed %d: no cycle was exhausted", seed)
		}
	}
}

func slicesCompactSorted(ids []string) []string {
	c := slices.Clone(ids)
	slices.Sort(c)
	return slices.Compact(c)
}

// TestRotationWalksTheWindow checks a cycle against one request for the whole window:
// with a raw window of 12 and k = 5, successive calls serve the window's eligible items
// hardest first, 5 at a time; the call that exhausts it serves what is left and starts a
// new cycle with the hardest others.
func TestRotationWalksTheWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := randomWorld(r, 200, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	anchor := Anchor{ID: "i3"}
	p := DefaultPolicy()
	p.ExcludeSameGroup = false
	p.RankMode, p.RangeMax, p.MaxRank = RankRaw, 12, NoMaxRank
	p.NumNegatives = 12
	all, err := Mine(context.Background(), s, Request{Anchors: []Anchor{anchor}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	eligible := negIDs(all[0].Negatives)
	if len(eligible) <= 5 {
		t.Fatalf("eligible window %v: pick another anchor", eligible)
	}
	x := NewExposure(0)
	p.NumNegatives, p.Rotate = 5, true
	var served []string
	for call := 0; ; call++ {
		res, err := Mine(context.Background(), s, Request{Anchors: []Anchor{anchor}, Policy: p, Exposure: x, Explain: MaxExplain})
		if err != nil {
			t.Fatal(err)
		}
		// A restart explains both passes, as its counters count them.
		checkExplainedMatchesCounts(t, res[0])
		ids := negIDs(res[0].Negatives)
		rest := eligible[len(served):]
		if !res[0].RotationRestarted {
			if !slices.Equal(ids, rest[:5]) {
				t.Fatalf("call %d: %v, want %v", call, ids, rest[:5])
			}
			served = append(served, ids...)
			continue
		}
		// The last of the window, then the hardest of a new cycle.
		want := slices.Clone(rest)
		for _, id := range eligible {
			if len(want) == 5 {
				break
			}
			if !slices.Contains(rest, id) {
				want = append(want, id)
			}
		}
		rank := map[string]int{}
		for i, id := range eligible {
			rank[id] = i
		}
		slices.SortFunc(want, func(a, b string) int { return rank[a] - rank[b] })
		if !slices.Equal(ids, want) || res[0].RotationServed != 5-len(rest) || res[0].Shortfall != 0 {
			t.Fatalf("restart call %d: %v (served %d), want %v", call, ids, res[0].RotationServed, want)
		}
		st, cycles := x.RotationState("i3")
		if cycles != 1 || len(st) != 5-len(rest) {
			t.Fatalf("state %v, %d cycles", st, cycles)
		}
		break
	}
}

// TestExposureCapHolds mines many anchors, in concurrent requests, with a cap of 2 and
// checks that no item was served more than twice, where without the cap hubs were.
func TestExposureCapHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// 600 items: the 480 negatives asked for stay within one window.
	w := randomWorld(r, 600, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	requests := make([]Request, 16)
	for i := range requests {
		p := DefaultPolicy()
		p.NumNegatives = 5
		p.Sampling = Sampling(i % 5)
		p.RangeMax = 30
		requests[i].Policy = p
		for range 6 {
			requests[i].Anchors = append(requests[i].Anchors, Anchor{Vector: jitter(r, w.raw[r.IntN(5)], 0.1)})
		}
	}
	run := func(cap int) (map[string]int, []Result) {
		x := NewExposure(0)
		counts := map[string]int{}
		var mu sync.Mutex
		var all []Result
		var wg sync.WaitGroup
		for _, req := range requests {
			req.Policy.MaxExposures, req.Exposure = cap, x
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := Mine(context.Background(), s, req)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				all = append(all, res...)
				for _, rs := range res {
					for _, n := range rs.Negatives {
						counts[n.ID]++
					}
				}
			}()
		}
		wg.Wait()
		if st := x.Stats(); st.Windows != 0 {
			t.Fatalf("%d windows ended; the test needs one", st.Windows)
		} else if cap > 0 && int(st.Max) > cap {
			t.Errorf("tracker max %d above the cap", st.Max)
		}
		return counts, all
	}
	free, _ := run(0)
	hub := 0
	for _, n := range free {
		hub = max(hub, n)
	}
	if hub <= 2 {
		t.Fatalf("without a cap no item was served more than %d times; the test proves nothing", hub)
	}
	capped, res := run(2)
	exposure := 0
	for _, rs := range res {
		exposure += rs.Removed.Exposure
		if rs.Examined != rs.Removed.Total()+len(rs.Negatives)+rs.Unsampled {
			t.Fatalf("counts do not add up: %+v", rs)
		}
	}
	for id, n := range capped {
		if n > 2 {
			t.Errorf("%s served %d times under a cap of 2", id, n)
		}
	}
	if exposure == 0 {
		t.Error("the cap removed nothing")
	}
}

// TestRotationAndCapAreReproducible replays one sequence of requests against two fresh
// trackers and gets the same results.
func TestRotationAndCapAreReproducible(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	w := randomWorld(r, 200, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	var reqs []Request
	for i := range 20 {
		p := DefaultPolicy()
		p.NumNegatives, p.Rotate, p.MaxExposures = 4, true, 3
		p.Sampling, p.RangeMax, p.Seed = SampleSoftmax, 25, uint64(i)
		var req Request
		for j := range 5 {
			req.Anchors = append(req.Anchors, Anchor{Vector: w.raw[j], Key: "k" + strconv.Itoa((i+j)%4)})
		}
		req.Policy = p
		reqs = append(reqs, req)
	}
	replay := func() [][]Result {
		x := NewExposure(50)
		var out [][]Result
		for _, req := range reqs {
			req.Exposure = x
			res, err := Mine(context.Background(), s, req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		return out
	}
	if a, b := replay(), replay(); !reflect.DeepEqual(a, b) {
		t.Error("the same requests on fresh trackers gave different results")
	}
}

func TestRotationNeedsAKeyAndATracker(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	w := randomWorld(r, 50, 4, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	p := DefaultPolicy()
	p.Rotate = true
	_, err := Mine(context.Background(), s, Request{Anchors: []Anchor{{Vector: w.raw[0]}}, Policy: p, Exposure: NewExposure(0)})
	if err == nil || !containsField(err, "anchors[0].key") {
		t.Errorf("vector anchor without a key: %v", err)
	}
	_, err = Mine(context.Background(), s, Request{Anchors: []Anchor{{ID: "i1"}}, Policy: p})
	if err == nil || !containsField(err, "policy.rotate") {
		t.Errorf("no tracker: %v", err)
	}
}

// containsField reports whether err is a validation error naming field.
func containsField(err error, field string) bool {
	var v *validate.Error
	if !errors.As(err, &v) {
		return false
	}
	for _, x := range v.Violations {
		if x.Field == field {
			return true
		}
	}
	return false
}

// TestExposureWindowMovesOnWhenCapped mines a small collection with a cap of one again
// and again: once every item has been served, the window (as long as the collection,
// counted in negatives asked for) ends on the shortfall too, so mining never stops for
// good, and no item is served twice in the current window.
func TestExposureWindowMovesOnWhenCapped(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	w := randomWorld(r, 40, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	x := NewExposure(0)
	for round := range 12 {
		req := Request{Policy: DefaultPolicy(), Exposure: x}
		req.Policy.NumNegatives = 4
		req.Policy.MaxExposures = 1
		for range 6 {
			req.Anchors = append(req.Anchors, Anchor{Vector: jitter(r, w.raw[r.IntN(len(w.raw))], 0.1)})
		}
		before := x.Stats()
		res, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		served, short := 0, 0
		for _, rs := range res {
			served += len(rs.Negatives)
			short += rs.Shortfall
		}
		if served == 0 {
			t.Fatalf("round %d: nothing served (%d short); the window did not move on", round, short)
		}
		after := x.Stats()
		if after.Window != 40 {
			t.Fatalf("window of %d negatives, want the collection's 40 items", after.Window)
		}
		asked := before.Served + served + short
		if got := int(after.Windows-before.Windows)*after.Window + after.Served; got != asked {
			t.Fatalf("round %d: the windows moved by %d negatives, want the %d asked for", round, got, asked)
		}
		if after.Max > 1 {
			t.Fatalf("round %d: an item served %d times in the current window under a cap of 1", round, after.Max)
		}
	}
	if st := x.Stats(); st.Windows < 2 {
		t.Fatalf("%d windows ended in 12 rounds of 24 negatives on 40 items", st.Windows)
	}
}

// A key's cycle keeps its most recent negatives up to the deepest hardness floor of its
// calls: when new items keep arriving near an anchor, no call comes up short, and the
// cycle grew by k negatives per call (up to MaxRotationIDs per key, 100,000 keys), most
// of them items that had left the window or were deleted. Across keys, the least
// recently used are forgotten once the cycles hold maxRotationEntries negatives.
func TestRotationStateStaysBounded(t *testing.T) {
	x := NewExposure(0)
	for call := range 50 {
		ids := make([]string, 8)
		for i := range ids {
			ids[i] = fmt.Sprintf("n%d-%d", call, i)
		}
		if n := x.rotate("k", false, ids, 40); n != min(8*(call+1), 40) {
			t.Fatalf("call %d: the cycle holds %d negatives, want %d", call, n, min(8*(call+1), 40))
		}
	}
	served, cycles := x.RotationState("k")
	if cycles != 0 || len(served) != 40 || !slices.Contains(served, "n49-7") || slices.Contains(served, "n44-7") {
		t.Fatalf("cycle %d holds %v: want the 40 most recent negatives", cycles, served)
	}
	// A deeper floor in a later call of the cycle raises the bound; a shallower one
	// does not lower it.
	x.rotate("k", false, []string{"deep1", "deep2"}, 100)
	if served, _ := x.RotationState("k"); len(served) != 42 {
		t.Fatalf("after a call with floor 100: %d negatives, want 42", len(served))
	}
	x.rotate("k", false, []string{"shallow"}, 10)
	if served, _ := x.RotationState("k"); len(served) != 43 {
		t.Fatalf("after a call with floor 10: %d negatives, want 43", len(served))
	}

	defer func(old int) { maxRotationEntries = old }(maxRotationEntries)
	maxRotationEntries = 100
	y := NewExposure(0)
	for k := range 30 {
		y.rotate(fmt.Sprintf("key%d", k), false, []string{"a", "b", "c", "d", "e"}, 0)
	}
	if st := y.Stats(); st.RotationKeys != 20 {
		t.Fatalf("%d rotation keys of 5 negatives each under a bound of 100 negatives, want 20", st.RotationKeys)
	}
	if served, _ := y.RotationState("key9"); served != nil {
		t.Fatalf("the least recently used key key9 kept %v", served)
	}
	if served, _ := y.RotationState("key10"); len(served) != 5 {
		t.Fatalf("key10 holds %v", served)
	}
	// A reload counts what it loads.
	z, err := DecodeLoopState(LoopState{Exposure: y, Hardness: NewHardness(), Calibration: NewCalibration()}.Encode(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if z.Exposure.rotIDs != 100 {
		t.Fatalf("loaded state counts %d negatives, want 100", z.Exposure.rotIDs)
	}
}

// A restart's explained list is the first pass's then the second's, cut at the
// request's explain limit (and then marked truncated).
func TestMergeRestartCapsTheExplainedList(t *testing.T) {
	pass := func(prefix string) Result {
		var r Result
		for i := range 3 {
			r.Explained = append(r.Explained, Explained{ID: prefix + strconv.Itoa(i), Fate: FateRotation})
		}
		return r
	}
	for _, tc := range []struct {
		limit     int
		want      []string
		truncated bool
	}{{6, []string{"a0", "a1", "a2", "b0", "b1", "b2"}, false}, {4, []string{"a0", "a1", "a2", "b0"}, true}} {
		got := mergeRestart(pass("a"), pass("b"), 8, tc.limit)
		var ids []string
		for _, x := range got.Explained {
			ids = append(ids, x.ID)
		}
		if !slices.Equal(ids, tc.want) || got.ExplainTruncated != tc.truncated {
			t.Errorf("limit %d: %v (truncated %v), want %v (%v)", tc.limit, ids, got.ExplainTruncated, tc.want, tc.truncated)
		}
	}
}

// The floor goes with the loop state: a restart whose first call has a shallower floor
// keeps the cycle whole (it trimmed the cycle to that call's floor and served the
// dropped negatives again), and a state saved before floors were kept trims nothing
// short of MaxRotationIDs.
func TestRotationFloorSurvivesARestart(t *testing.T) {
	x := NewExposure(0)
	var ids []string
	for i := range 290 {
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	x.rotate("k", false, ids, 800)
	enc := LoopState{Exposure: x}.Encode()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"saved with its floor", enc},
		// Format byte, then the exposure section: tag, u64 length, body; the floors
		// section after it is cut off.
		{"saved before floors were kept", enc[:10+int(binary.LittleEndian.Uint64(enc[2:10]))]},
	} {
		st, err := DecodeLoopState(tc.b, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := st.Exposure.rotate("k", false, []string{"a", "b", "c", "d", "e"}, 200); n != 295 {
			t.Errorf("%s: after a call with floor 200 the cycle holds %d negatives, want 295", tc.name, n)
		}
	}
}
