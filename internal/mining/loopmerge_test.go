package mining

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func TestMergeOfOneStateIsThatState(t *testing.T) {
	for seed := range uint64(4) {
		s := busyLoopState(seed)
		if a, b := canonical(MergeLoopStates([]LoopState{s}, 50)), canonical(s); a != b {
			t.Fatalf("seed %d: merged\n%s\nwant\n%s", seed, a, b)
		}
	}
}

func TestMergeIsIdempotent(t *testing.T) {
	for seed := range uint64(4) {
		a, b := busyLoopState(seed), busyLoopState(seed+100)
		ab := MergeLoopStates([]LoopState{a, b}, 50)
		want := canonicalSets(ab)
		// A miner that absorbed a and b saved ab; a and b are still there (or b saved
		// again without change): merging them again changes nothing (but the order in
		// which a cycle's negatives are listed).
		for _, in := range [][]LoopState{{a, ab}, {b, ab}, {a, b, ab}, {ab, ab}} {
			if got := canonicalSets(MergeLoopStates(in, 50)); got != want {
				t.Fatalf("seed %d, %d states: merged\n%s\nwant\n%s", seed, len(in), got, want)
			}
		}
	}
}

// canonicalSets is canonical with each rotation cycle's negatives sorted.
func canonicalSets(s LoopState) string {
	for el := s.Exposure.lru.Front(); el != nil; el = el.Next() {
		slices.Sort(el.Value.(*rotation).ids)
	}
	return canonical(s)
}

func TestMergeRules(t *testing.T) {
	older := LoopState{Exposure: NewExposure(10), Hardness: NewHardness(), Calibration: NewCalibration()}
	newer := LoopState{Exposure: NewExposure(10), Hardness: NewHardness(), Calibration: NewCalibration()}
	// Rotation: "same" is in cycle 0 on both (union); "ahead" completed a cycle on the
	// older state only (the older state wins); "new" is on the newer one only.
	older.Exposure.rotate("same", false, []string{"a", "b"}, 0)
	newer.Exposure.rotate("same", false, []string{"b", "c"}, 0)
	older.Exposure.rotate("ahead", false, []string{"x"}, 0)
	older.Exposure.rotate("ahead", true, []string{"y"}, 0)
	newer.Exposure.rotate("ahead", false, []string{"z"}, 0)
	newer.Exposure.rotate("new", false, []string{"n"}, 0)
	// Exposure counts: per id the higher.
	older.Exposure.record([]Result{{Negatives: []Negative{{ID: "a"}, {ID: "a"}, {ID: "b"}}}})
	newer.Exposure.record([]Result{{Negatives: []Negative{{ID: "a"}, {ID: "c"}}}})
	// Hardness: the newer state's value of a key both hold; the older's mean loss is
	// kept when the newer has none.
	older.Hardness.Report([]Outcome{{Key: "k", Solved: boolp(true)}, {Key: "k", Solved: boolp(true)}, {Key: "old", Loss: ptr(0.7)}})
	newer.Hardness.Report([]Outcome{{Key: "k", Solved: boolp(true)}})
	// Calibration: the older state saw more positive scores, the newer more candidates.
	older.Calibration.record(&anchorObservations{hasPos: true, posScore: 0.9})
	older.Calibration.record(&anchorObservations{hasPos: true, posScore: 0.8})
	newer.Calibration.record(&anchorObservations{hasPos: true, posScore: 0.1, cand: []float32{0.5, 0.6}})

	m := MergeLoopStates([]LoopState{older, {}, newer}, 10)
	for key, want := range map[string]struct {
		served []string
		cycles uint64
	}{"same": {[]string{"a", "b", "c"}, 0}, "ahead": {[]string{"y"}, 1}, "new": {[]string{"n"}, 0}} {
		served, cycles := m.Exposure.RotationState(key)
		if !slices.Equal(served, want.served) || cycles != want.cycles {
			t.Errorf("rotation of %s: %v in cycle %d, want %v in cycle %d", key, served, cycles, want.served, want.cycles)
		}
	}
	if got := m.Exposure.Recent(); !reflect.DeepEqual(got, map[string]uint64{"a": 2, "b": 1, "c": 1}) {
		t.Errorf("exposure counts %v", got)
	}
	if st := m.Exposure.Stats(); st.Served != 3 || st.Window != 10 {
		t.Errorf("exposure stats %+v: want 3 served of a window of 10", st)
	}
	if h, o := m.Hardness.Of("k"), m.Hardness.Of("old"); h != HardnessStep || o != HardnessStep {
		t.Errorf("hardness of k %v (want the newer %v), of old %v", h, HardnessStep, o)
	}
	if !m.Hardness.meanOK || m.Hardness.meanLoss != float64(float32(0.7)) {
		t.Errorf("mean loss %v/%v, want the older state's", m.Hardness.meanOK, m.Hardness.meanLoss)
	}
	cal := m.Calibration.Stats()
	if cal.PositiveScores.Count != 2 || cal.CandidateScores.Count != 2 {
		t.Errorf("calibration counts %d positives, %d candidates; want 2 and 2", cal.PositiveScores.Count, cal.CandidateScores.Count)
	}
	// The newest state's keys are the most recent, in its order: "new", then "ahead"
	// (used after "same" there).
	var order []string
	for el := m.Exposure.lru.Front(); el != nil; el = el.Next() {
		order = append(order, el.Value.(*rotation).key)
	}
	if !slices.Equal(order, []string{"new", "ahead", "same"}) {
		t.Errorf("rotation recency %v", order)
	}
}

func TestMergeKeepsTheCaps(t *testing.T) {
	t.Run("rotation ids per cycle", func(t *testing.T) {
		var states []LoopState
		for s := range 2 {
			x := NewExposure(0)
			var ids []string
			for i := range MaxRotationIDs {
				ids = append(ids, fmt.Sprintf("%d-%d", s, i))
			}
			x.rotate("k", false, ids, 0)
			states = append(states, LoopState{Exposure: x})
		}
		served, _ := MergeLoopStates(states, 0).Exposure.RotationState("k")
		if len(served) != MaxRotationIDs {
			t.Fatalf("%d ids in the merged cycle, want %d", len(served), MaxRotationIDs)
		}
	})
	t.Run("rotation and hardness keys", func(t *testing.T) {
		var states []LoopState
		for s := range 2 {
			x, h := NewExposure(0), NewHardness()
			for i := range MaxRotationKeys * 3 / 4 {
				key := fmt.Sprintf("%d-%d", s, i)
				x.rotate(key, false, []string{"n"}, 0)
				h.Report([]Outcome{{Key: key, Solved: boolp(true)}})
			}
			states = append(states, LoopState{Exposure: x, Hardness: h})
		}
		m := MergeLoopStates(states, 0)
		if n := m.Exposure.Stats().RotationKeys; n != MaxRotationKeys {
			t.Fatalf("%d rotation keys, want %d", n, MaxRotationKeys)
		}
		if n := m.Hardness.Len(); n != MaxHardnessKeys {
			t.Fatalf("%d hardness keys, want %d", n, MaxHardnessKeys)
		}
		// The newer state's keys are all kept, the older state's least recent dropped.
		if _, c := m.Exposure.RotationState("1-0"); m.Hardness.Of("1-0") == 0 || m.Hardness.Of("0-0") != 0 || c != 0 {
			t.Fatalf("kept the wrong keys")
		}
		if s, _ := m.Exposure.RotationState("0-0"); s != nil {
			t.Fatalf("the older state's least recent rotation key was kept")
		}
	})
	t.Run("distinct ids per window", func(t *testing.T) {
		var states []LoopState
		for s := range 3 {
			x := NewExposure(5)
			x.record([]Result{{Negatives: []Negative{{ID: fmt.Sprint("a", s)}, {ID: fmt.Sprint("b", s)}, {ID: "common"}, {ID: "common"}}}})
			states = append(states, LoopState{Exposure: x})
		}
		m := MergeLoopStates(states, 5)
		if got := m.Exposure.Recent(); len(got) != 5 || got["common"] != 2 {
			t.Fatalf("counts %v: want 5 distinct ids, common among them", got)
		}
	})
}
