package mining

import (
	"context"
	"fmt"
	"slices"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// Rotation bounds: an Exposure keeps rotation state for at most MaxRotationKeys anchor
// keys, holding at most MaxRotationEntries served negatives in all (the least recently
// used key is forgotten first, and starts a new cycle when it comes back), and at most
// MaxRotationIDs negatives per key and cycle (a cycle that would hold more restarts).
// A key also keeps only its most recent served negatives up to the deepest hardness
// floor (Result.MaxRank) of its cycle's calls: no more items than that are above the
// floor at once, so a cycle that grew past it (new items keep arriving near the
// anchor, so no call comes up short and ends it) holds negatives that left the window
// or were deleted. On an index that does not change, a cycle never holds that many.
const (
	MaxRotationKeys    = 100000
	MaxRotationIDs     = 4096
	MaxRotationEntries = 4 << 20
)

// maxRotationEntries is MaxRotationEntries (tests lower it).
var maxRotationEntries = MaxRotationEntries

// rotation is one anchor key's rotation state.
type rotation struct {
	key    string
	served map[string]struct{} // negatives served in the current cycle
	ids    []string            // the same, in the order served (LoopState encodes it)
	cycles uint64              // cycles completed
	// floor is the deepest hardness floor (Result.MaxRank) of the cycle's calls since
	// it started (or the state was loaded): the cycle keeps that many negatives at most.
	floor int
}

// rotationOf returns a copy of the negatives served to key in its current cycle, and
// marks the key as used.
func (x *Exposure) rotationOf(key string) map[string]struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.rot[key]
	if !ok {
		return nil
	}
	x.lru.MoveToFront(el)
	r := el.Value.(*rotation)
	out := make(map[string]struct{}, len(r.served))
	for id := range r.served {
		out[id] = struct{}{}
	}
	return out
}

// trimRotationsLocked drops the least recently used rotation keys beyond
// MaxRotationKeys (after a new key, a load or a merge). x.mu must be held.
func (x *Exposure) trimRotationsLocked() {
	for x.lru.Len() > MaxRotationKeys || (x.rotIDs > maxRotationEntries && x.lru.Len() > 1) {
		old := x.lru.Back()
		x.lru.Remove(old)
		r := old.Value.(*rotation)
		delete(x.rot, r.key)
		x.rotIDs -= len(r.ids)
	}
}

// addServedLocked adds id to r's cycle unless it holds it. x.mu must be held.
func (x *Exposure) addServedLocked(r *rotation, id string) {
	if _, dup := r.served[id]; !dup {
		r.served[id] = struct{}{}
		r.ids = append(r.ids, id)
		x.rotIDs++
	}
}

// clearServedLocked empties r's cycle. x.mu must be held.
func (x *Exposure) clearServedLocked(r *rotation) {
	x.rotIDs -= len(r.ids)
	r.served, r.ids = map[string]struct{}{}, nil
}

// rotate records that ids were served to key; restart starts a new cycle first. The
// cycle keeps its most recent negatives up to the deepest floor its calls had (floor:
// this call's hardness floor; ≤ 0 or math.MaxInt: no bound but MaxRotationIDs). It
// returns the number of negatives in the key's current cycle.
func (x *Exposure) rotate(key string, restart bool, ids []string, floor int) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.rot[key]
	if !ok {
		el = x.lru.PushFront(&rotation{key: key, served: map[string]struct{}{}})
		x.rot[key] = el
		x.trimRotationsLocked()
	}
	x.lru.MoveToFront(el)
	x.changes++
	r := el.Value.(*rotation)
	if restart || len(r.served)+len(ids) > MaxRotationIDs {
		x.clearServedLocked(r)
		r.cycles++
		r.floor = 0
	}
	for _, id := range ids {
		x.addServedLocked(r, id)
	}
	if floor <= 0 || floor > MaxRotationIDs {
		floor = MaxRotationIDs
	}
	r.floor = max(r.floor, floor)
	if len(r.ids) > r.floor {
		drop := len(r.ids) - r.floor
		for _, id := range r.ids[:drop] {
			delete(r.served, id)
		}
		r.ids = slices.Clone(r.ids[drop:])
		x.rotIDs -= drop
	}
	x.trimRotationsLocked()
	return len(r.served)
}

// RotationState returns the negatives served to key in its current cycle (sorted) and
// the number of cycles it completed.
func (x *Exposure) RotationState(key string) (served []string, cycles uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.rot[key]
	if !ok {
		return nil, 0
	}
	r := el.Value.(*rotation)
	for id := range r.served {
		served = append(served, id)
	}
	slices.Sort(served)
	return served, r.cycles
}

// count returns how often id was served in the current window.
func (x *Exposure) count(id string) uint32 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cur[id]
}

// tryServe counts id as served unless it already was limit times in the current
// window.
func (x *Exposure) tryServe(id string, limit int) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if int(x.cur[id]) >= limit {
		return false
	}
	x.serveLocked(id)
	return true
}

// inOrder reports whether the policy keeps state across anchors (rotation, the
// exposure cap): then a request's anchors are mined one after another, in order, so
// that the same sequence of requests gives the same negatives.
func (p *Policy) inOrder() bool { return p.Rotate || p.MaxExposures > 0 }

// validateLoop checks what rotation and the exposure cap need.
func validateLoop(req *Request, anchors []prepared, e *validate.Error) {
	pol := &req.Policy
	if !pol.inOrder() {
		return
	}
	if req.Exposure == nil {
		if pol.Rotate {
			e.Add("policy.rotate", "needs the collection's exposure tracker")
		}
		if pol.MaxExposures > 0 {
			e.Add("policy.max_exposures", "needs the collection's exposure tracker")
		}
		return
	}
	if pol.Rotate {
		for i := range anchors {
			if anchors[i].key == "" {
				e.Add(fmt.Sprintf("anchors[%d].key", i), "rotation needs a key (or an id) per anchor")
			}
		}
	}
}

// overExposed reports whether id reached the exposure cap.
func (m *anchorMiner) overExposed(id string) bool {
	return m.exp != nil && int(m.exp.count(id)) >= m.pol.MaxExposures
}

// serve counts a chosen negative against the exposure cap; false means it reached the
// cap since Skip saw it (a concurrent request took the last exposure).
func (m *anchorMiner) serve(id string) bool {
	return m.exp == nil || m.exp.tryServe(id, m.pol.MaxExposures)
}

// mineInOrder mines the anchors one after another under rotation or the exposure cap.
// Under rotation, an anchor whose search ran out of candidates because of earlier
// cycles' negatives (a shortfall with Removed.Rotation > 0) has exhausted its window:
// a new cycle starts, and a second pass, which leaves out only the first pass's
// negatives, fills the shortfall.
func mineInOrder(ctx context.Context, s Searcher, req *Request, rl rules, anchors []prepared, inBatch batchIDs) ([]Result, error) {
	pol := &req.Policy
	results := make([]Result, len(anchors))
	// Scores do not depend on the order: groups are scored in one exact pass each where
	// Mine would (planGroups, one worker), then their anchors mined one after another.
	groups, batched := planGroups(s, len(anchors), 1)
	mineGroup := func(lo, hi int) error {
		scores, release, err := scoreAnchors(ctx, s, batched, pol, anchors[lo:hi])
		if err != nil {
			return err
		}
		defer release()
		for i := lo; i < hi; i++ {
			if results[i], err = mineInTurn(ctx, s, req, rl, &anchors[i], inBatch, scoreOf(scores, i-lo)); err != nil {
				return err
			}
		}
		return nil
	}
	for g := range groups {
		if err := mineGroup(groupBounds(g, groups, len(anchors))); err != nil {
			return nil, err
		}
	}
	if !(pol.MaxExposures > 0) {
		req.Exposure.record(results)
	}
	return results, nil
}

// mineInTurn mines one anchor of mineInOrder: under rotation, leaving out its key's
// cycle and starting a new cycle when that cycle has exhausted the window; under the
// exposure cap, counting its shortfall. sc: the anchor's exact scores, or nil.
func mineInTurn(ctx context.Context, s Searcher, req *Request, rl rules, a *prepared, inBatch batchIDs, sc *engine.ExactScores) (Result, error) {
	pol, x := &req.Policy, req.Exposure
	if pol.Rotate {
		a.rotated = x.rotationOf(a.key)
	}
	res, err := mineAnchor(ctx, s, req, rl, a, inBatch, sc)
	if err != nil {
		return Result{}, err
	}
	if pol.Rotate {
		restart := res.Shortfall > 0 && res.Removed.Rotation > 0
		newCycle := negativeIDs(res.Negatives)
		if restart {
			a.rotated = make(map[string]struct{}, len(res.Negatives))
			for _, n := range res.Negatives {
				a.rotated[n.ID] = struct{}{}
			}
			a.want = res.Shortfall
			more, err := mineAnchor(ctx, s, req, rl, a, inBatch, sc)
			if err != nil {
				return Result{}, err
			}
			newCycle = negativeIDs(more.Negatives)
			res = mergeRestart(res, more, pol.NumNegatives, req.Explain)
		}
		res.RotationRestarted = restart
		res.RotationServed = x.rotate(a.key, restart, newCycle, res.MaxRank)
	}
	if pol.MaxExposures > 0 {
		x.short(res.Shortfall) // the served ones were counted as they were chosen
	}
	return res, nil
}

// mergeRestart joins a rotation restart's two passes into one result for k negatives.
// The counters are both passes' sums, so the explained candidates (at most explain) are
// the first pass's, then the second's, which removes the first pass's negatives as
// rotation.
func mergeRestart(first, second Result, k, explain int) Result {
	out := first
	out.Negatives = append(slices.Clip(first.Negatives), second.Negatives...)
	out.Explained = append(slices.Clip(first.Explained), second.Explained...)
	out.ExplainTruncated = first.ExplainTruncated || second.ExplainTruncated
	if len(out.Explained) > explain {
		out.Explained, out.ExplainTruncated = out.Explained[:explain], true
	}
	slices.SortFunc(out.Negatives, func(x, y Negative) int { return x.Rank - y.Rank })
	out.Examined += second.Examined
	out.Removed.add(&second.Removed)
	out.Unsampled += second.Unsampled
	out.Shortfall = k - len(out.Negatives)
	out.Widenings += second.Widenings
	out.ExactScan = first.ExactScan || second.ExactScan
	out.ExactFallback = first.ExactFallback || second.ExactFallback
	out.FloorReached = second.FloorReached
	if len(second.Negatives) > 0 {
		// The restart's window may have moved back up (fillShifted) to fill the rest.
		out.BandShift = min(first.BandShift, second.BandShift)
	}
	return out
}

func negativeIDs(ns []Negative) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}
