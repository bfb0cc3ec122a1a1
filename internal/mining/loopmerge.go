package mining

import (
	"cmp"
	"maps"
	"slices"
)

// MergeLoopStates combines the loop states several miners saved for one collection
// (an engine shared by miners behind one address keeps one state per miner) into one,
// for a miner that starts. states are ordered by when they were saved, oldest first;
// nil trackers are skipped. The merge is idempotent: a state merged with a state that
// already absorbed it gives the same trackers, so a miner that saves a merged state
// next to the states it came from never counts one of them twice.
//
//   - Rotation: per anchor key, the entries with the most completed cycles; when
//     several states are in that cycle, the negatives served in it are the union (in
//     the order they were saved, newest state last), up to MaxRotationIDs. A key's
//     recency is its recency in the newest state that holds it: keys of newer states
//     come first, and only the MaxRotationKeys most recent keys are kept.
//   - Exposure counts: per id, the highest count of the current window, and of the
//     previous one; the served and completed-window counters are the highest. Each
//     miner counts what it served (the exposure cap is per miner), and the maximum is
//     what one of them saw. Each window keeps at most the window length of distinct
//     ids (the most served).
//   - Hardness: per key, the hardness of the newest state that holds the key (a
//     state's save time stands for when its keys were updated); the running mean loss
//     is the newest state's that has one; at most MaxHardnessKeys keys, most recent
//     kept.
//   - Calibration: per score stream, the stream with the most observations (its count,
//     sum and recent scores), the newest on a tie.
//
// The exposure window is window (DefaultExposureWindow when ≤ 0).
func MergeLoopStates(states []LoopState, window int) LoopState {
	out := LoopState{Exposure: NewExposure(window), Hardness: NewHardness(), Calibration: NewCalibration()}
	for _, s := range states {
		if s.Exposure != nil {
			out.Exposure.merge(s.Exposure)
		}
		if s.Hardness != nil {
			out.Hardness.merge(s.Hardness)
		}
		if s.Calibration != nil {
			out.Calibration.merge(s.Calibration)
		}
	}
	out.Exposure.trimCounts()
	return out
}

// merge folds a newer state o into x (see MergeLoopStates).
func (x *Exposure) merge(o *Exposure) {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.served = max(x.served, min(o.served, x.window-1))
	x.windows = max(x.windows, o.windows)
	for _, p := range [][2]map[string]uint32{{x.cur, o.cur}, {x.prev, o.prev}} {
		for id, n := range p[1] {
			p[0][id] = max(p[0][id], n)
		}
	}
	// Keys from the least recent of o to the most recent, each moved to the front.
	for el := o.lru.Back(); el != nil; el = el.Prev() {
		r := el.Value.(*rotation)
		mine, ok := x.rot[r.key]
		if !ok {
			mine = x.lru.PushFront(&rotation{key: r.key, served: map[string]struct{}{}})
			x.rot[r.key] = mine
		}
		x.lru.MoveToFront(mine)
		m := mine.Value.(*rotation)
		switch {
		case r.cycles < m.cycles:
			continue
		case r.cycles > m.cycles || !ok:
			x.clearServedLocked(m)
			m.cycles, m.floor = r.cycles, 0
		}
		m.floor = max(m.floor, r.floor)
		for _, id := range r.ids {
			if len(m.ids) < MaxRotationIDs {
				x.addServedLocked(m, id)
			}
		}
	}
	x.trimRotationsLocked()
}

// trimCounts keeps at most window distinct ids in each window's counts, the most
// served (ties by id).
func (x *Exposure) trimCounts() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, m := range []map[string]uint32{x.cur, x.prev} {
		if len(m) <= x.window {
			continue
		}
		ids := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
			return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
		})
		for _, id := range ids[x.window:] {
			delete(m, id)
		}
	}
}

// merge folds a newer state o into t (see MergeLoopStates).
func (t *Hardness) merge(o *Hardness) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.meanOK {
		t.meanOK, t.meanLoss = true, o.meanLoss
	}
	for el := o.lru.Back(); el != nil; el = el.Prev() {
		st := el.Value.(*hardnessState)
		t.stateLocked(st.key).h = st.h
	}
}

// merge folds a newer state o into c (see MergeLoopStates).
func (c *Calibration) merge(o *Calibration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range []*scoreStream{&c.pos, &c.cand, &c.posSim} {
		from := []*scoreStream{&o.pos, &o.cand, &o.posSim}[i]
		if from.n >= s.n {
			*s = scoreStream{n: from.n, sum: from.sum, ring: slices.Clone(from.ring), next: from.next}
		}
	}
}
