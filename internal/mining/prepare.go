package mining

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// prepared is an anchor with its query, positives, groups and verdicts resolved.
type prepared struct {
	index int // position in the request
	// draw is the position in the caller's call (Request.AnchorOffset + index); with
	// Policy.Seed it seeds the sampler and the synthetic negatives.
	draw  uint64
	query []float32
	self  string // the anchor item's id, or ""
	// selfScore is the similarity of the query to the stored anchor item, used to keep
	// that item out of raw ranks; valid when selfStored.
	selfScore  float32
	selfStored bool
	positives  map[string]struct{} // every positive id, known or not
	excluded   map[string]struct{}
	groups     map[string]struct{} // anchor, positive-item and request groups
	feedback   map[string]struct{} // reported false negatives for the anchor's key
	posVecs    [][]float32         // prepared positive vectors (stored, then raw)
	// exclVecs are the stored vectors of the anchor's excluded ids and reported false
	// negatives, when the near-duplicate rule is on: their near-duplicates are excluded
	// too. Under cosine, when there are exclSortMin or more, they are sorted by exclSim,
	// their similarity to the query, best first (excludedDuplicate reads only those that
	// can be near a candidate). The vectors are copies shared by the request's anchors
	// (storedCopies): read only.
	exclVecs [][]float32
	exclSim  []float32
	// guideQuery and guidePos are the anchor and its positives in the guide space
	// (prepared), when a guide rule is set; guidePosScore is min guide(a, p), valid when
	// both exist.
	guideQuery    []float32
	guidePos      [][]float32
	guidePosScore float32
	// numPositives is the number of distinct positive ids plus positive vectors; it
	// sizes the default rank window.
	numPositives int
	posScore     float32 // s⁺, valid when len(posVecs) > 0
	unknown      []string
	// freshQuery is set when the anchor sent its query vector (Anchor.Vector) rather
	// than using the stored anchor item's.
	freshQuery bool
	// key is the anchor's feedback and rotation key (Key, else ID).
	key string
	// rotated are the negatives served to the key in its current rotation cycle, when
	// Policy.Rotate is set; want, when above 0, replaces k (a rotation restart's
	// second pass asks only for what the first pass missed).
	rotated map[string]struct{}
	want    int
	// hardness is the key's closed-loop hardness and shift the ranks its window moves
	// down by, when Policy.ClosedLoop is set (hardness.go).
	hardness float64
	shift    int
}

// wantK is the number of negatives the anchor asks for.
func (p *prepared) wantK(pol *Policy) int {
	if p.want > 0 {
		return p.want
	}
	return pol.NumNegatives
}

// batchIDs maps every id that an anchor of a request names (its own id, positives and
// exclusions) to that anchor's index, or to -1 when several anchors name it.
type batchIDs map[string]int

// fromOtherAnchor reports whether id is named by an anchor other than anchor i.
func (b batchIDs) fromOtherAnchor(id string, i int) bool {
	o, ok := b[id]
	return ok && o != i
}

func (b batchIDs) add(id string, i int) {
	if o, ok := b[id]; ok && o != i {
		b[id] = -1
	} else if !ok {
		b[id] = i
	}
}

// rules are a request's policy values resolved against the collection.
type rules struct {
	dup    float32 // near-duplicate threshold, valid when hasDup
	hasDup bool
	// margin is the relative near-duplicate margin (threshold s⁺ + margin against the
	// positives), valid when hasMargin.
	margin    float32
	hasMargin bool
	// scale maps the collection's scores to the reference scale of the cosine defaults
	// (see scoreScale): for p_fn, and for the default near-duplicate threshold.
	scale scoreScale
	// pfnThreshold and pfnBudget are the false-negative budget rule, valid when hasPFN.
	pfnThreshold float32
	pfnBudget    int
	hasPFN       bool
	// fresh is the freshness rule (Policy.MinVersion, MaxStaleness).
	fresh freshness
}

// resolveRules resolves the near-duplicate threshold: off, calibrated when the policy
// asks and the calibration has enough observations, else raw (set, or the metric's
// default read on the collection's scale: scoreScale). background is the collection's
// scale of the collection (scaleOf).
func resolveRules(pol *Policy, m engine.Metric, cal *Calibration, sc scoreScale) rules {
	r := rules{scale: sc}
	r.pfnThreshold, r.pfnBudget, r.hasPFN = pol.EffectivePFNBudget(m)
	if !pol.NearDuplicates {
		return r
	}
	r.margin, r.hasMargin = pol.EffectiveDuplicateMargin()
	if cal != nil && (pol.DuplicateQuantile != nil || pol.DuplicateZScore != nil) {
		if t, ok := cal.duplicateThreshold(pol.DuplicateQuantile, pol.DuplicateZScore); ok {
			// A z-score far out (the API bounds it only by being finite) lands beyond
			// the scores the metric gives; there it means what the range's end means,
			// and the threshold reported stays one a caller could have set.
			lo, hi := scoreRange(m)
			r.dup, r.hasDup = min(max(t, lo), hi), true
			return r
		}
	}
	r.dup, r.hasDup = scaledDuplicateThreshold(pol, m, sc)
	return r
}

// scaledDuplicateThreshold is pol's near-duplicate threshold under m (as
// EffectiveDuplicateThreshold), the metric's default read on the scale sc.
func scaledDuplicateThreshold(pol *Policy, m engine.Metric, sc scoreScale) (float32, bool) {
	t, ok := pol.EffectiveDuplicateThreshold(m)
	if ok && pol.DuplicateThreshold == nil {
		t = min(sc.raw(t), 1)
	}
	return t, ok
}

// scaleOf returns the mapping of s's scores to the reference scale of the cosine
// defaults: the identity unless s is a cosine collection whose background similarity
// it measures and is above BackgroundReference.
func scaleOf(s Searcher) scoreScale {
	b, ok := BackgroundOf(s)
	return scaleFor(s.Metric(), b, ok)
}

// prepare validates req and resolves every anchor's query, positives, groups and
// feedback, the ids of the whole batch for in-batch consistency, and the rules.
func prepare(s Searcher, req *Request) ([]prepared, batchIDs, rules, error) {
	var e validate.Error
	if n := len(req.Anchors); n == 0 || n > MaxAnchors {
		e.Add("anchors", "must hold 1–%d anchors, got %d", MaxAnchors, n)
		return nil, nil, rules{}, e.Err()
	}
	if n := uint64(len(req.Anchors)); req.AnchorOffset > math.MaxUint64-n+1 {
		// The positions would wrap around to the first ones and repeat their draws.
		e.Add("anchor_offset", "must leave room for the request's %d anchors below 2⁶⁴, got %d", n, req.AnchorOffset)
	}
	if req.Explain < 0 || req.Explain > MaxExplain {
		e.Add("explain", "must be 0–%d, got %d", MaxExplain, req.Explain)
	} else if n := len(req.Anchors) * req.Explain; n > MaxExplainTotal {
		e.Add("explain", "anchors × explain must be at most %d, got %d", MaxExplainTotal, n)
	}
	pol := &req.Policy
	pol.validate(&e, "policy", s.Metric())
	rl := resolveRules(pol, s.Metric(), req.Calibration, scaleOf(s))
	rl.fresh = resolveFreshness(pol, s, &e)
	out := make([]prepared, len(req.Anchors))
	for i := range req.Anchors {
		key := req.Anchors[i].FeedbackKey()
		out[i].key = key
		if pol.UseFeedback && key != "" {
			out[i].feedback = s.FalseNegatives(key)
		}
	}
	validateLoop(req, out, &e)
	prepareClosedLoop(req, out, &e)
	s.Resolve(func(lookup engine.LookupFunc) {
		copies := &storedCopies{lookup: lookup}
		for i := range req.Anchors {
			prepareAnchor(s, lookup, copies, pol, rl, &req.Anchors[i], &out[i], i, &e)
			out[i].draw = req.AnchorOffset + uint64(i)
		}
	})
	prepareGuide(s, req, out, &e)
	if err := e.Err(); err != nil {
		return nil, nil, rules{}, err
	}
	var inBatch batchIDs
	if pol.InBatchExclusion && len(req.Anchors) > 1 {
		inBatch = make(batchIDs)
		for i := range req.Anchors {
			a := &req.Anchors[i]
			if a.ID != "" {
				inBatch.add(a.ID, i)
			}
			for _, id := range a.PositiveIDs {
				inBatch.add(id, i)
			}
			for _, id := range a.ExcludeIDs {
				inBatch.add(id, i)
			}
		}
	}
	for i := range out {
		p := &out[i]
		p.posScore = float32(math.Inf(1))
		for _, pv := range p.posVecs {
			p.posScore = min(p.posScore, s.Similarity(p.query, pv))
		}
	}
	return out, inBatch, rl, nil
}

// prepareGuide resolves the anchors' guide queries and guide positives when a guide
// rule is set, and checks the guide inputs.
func prepareGuide(s Searcher, req *Request, out []prepared, e *validate.Error) {
	pol, g := &req.Policy, req.Guide
	if g == s {
		// Refused with or without a guide rule, as a guide collection that does not
		// exist is.
		e.Add("policy.guide_collection", "must not be the searched collection")
		return
	}
	if !pol.guideOn() {
		return // guide vectors without a guide rule are not used
	}
	if g == nil {
		e.Add("policy.guide_collection", "the guide rules need a guide collection")
		return
	}
	lo, hi := scoreRange(g.Metric())
	if t := pol.GuideDuplicateThreshold; t != nil && finite(*t) && (*t < lo || *t > hi) {
		e.Add("policy.guide_duplicate_threshold", "%v is outside the guide's %s score range %s", *t, g.Metric(), rangeText(lo, hi))
	}
	if m := pol.GuideMargin; m != nil && finite(*m) && *m > hi-lo {
		e.Add("policy.guide_margin", "%v is wider than the guide's %s score range %s", *m, g.Metric(), rangeText(lo, hi))
	}
	g.Resolve(func(lookup engine.LookupFunc) {
		for i := range req.Anchors {
			a, p := &req.Anchors[i], &out[i]
			f := fmt.Sprintf("anchors[%d]", i)
			if a.GuideVector != nil {
				q, err := g.PrepareQuery(a.GuideVector, f+".guide_vector")
				if err != nil {
					addViolations(e, err)
				} else {
					p.guideQuery = q
				}
			} else if a.ID != "" {
				if v, _, ok := lookup(a.ID); ok {
					p.guideQuery = append([]float32(nil), v...)
				}
			}
			if len(a.GuidePositiveVectors) > MaxPositives {
				e.Add(f+".guide_positive_vectors", "has %d vectors; at most %d", len(a.GuidePositiveVectors), MaxPositives)
				continue
			}
			seen := make(map[string]struct{}, len(a.PositiveIDs))
			for _, id := range a.PositiveIDs {
				if has(seen, id) {
					continue
				}
				seen[id] = struct{}{}
				if v, _, ok := lookup(id); ok {
					p.guidePos = append(p.guidePos, append([]float32(nil), v...))
				}
			}
			for j, v := range a.GuidePositiveVectors {
				q, err := g.PrepareQuery(v, fmt.Sprintf("%s.guide_positive_vectors[%d]", f, j))
				if err != nil {
					addViolations(e, err)
					continue
				}
				p.guidePos = append(p.guidePos, q)
			}
			if p.guideQuery != nil && len(p.guidePos) > 0 {
				p.guidePosScore = float32(math.Inf(1))
				for _, gp := range p.guidePos {
					p.guidePosScore = min(p.guidePosScore, g.Similarity(p.guideQuery, gp))
				}
			}
		}
	})
}

// checkIDs records a violation for each id of list that is not a valid item id
// (engine.CheckID), and for a list longer than limit.
func checkIDs(e *validate.Error, field string, list []string, limit int) {
	if len(list) > limit {
		e.Add(field, "has %d ids; at most %d", len(list), limit)
		return
	}
	for j, id := range list {
		engine.CheckID(e, fmt.Sprintf("%s[%d]", field, j), id)
	}
}

// prepareAnchor validates and resolves anchor a (the i-th) into p. It runs under the
// searcher's read access: lookup's slices are copied, never kept.
func prepareAnchor(s Searcher, lookup engine.LookupFunc, copies *storedCopies, pol *Policy, rl rules, a *Anchor, p *prepared, i int, e *validate.Error) {
	f := fmt.Sprintf("anchors[%d]", i)
	p.index = i
	checkIDs(e, f+".positive_ids", a.PositiveIDs, MaxPositives)
	checkIDs(e, f+".exclude_ids", a.ExcludeIDs, MaxExcludes)
	if len(a.PositiveVectors) > MaxPositives {
		e.Add(f+".positive_vectors", "has %d vectors; at most %d", len(a.PositiveVectors), MaxPositives)
	}
	if len(a.Groups) > MaxAnchorGroups {
		e.Add(f+".groups", "has %d groups; at most %d", len(a.Groups), MaxAnchorGroups)
	}
	for j, g := range a.Groups {
		if !engine.ValidGroup(g) {
			e.Add(fmt.Sprintf("%s.groups[%d]", f, j), "groups must be 1–%d bytes of UTF-8 without NUL", engine.MaxGroupBytes)
			break
		}
	}
	switch {
	case len(a.Key) > engine.MaxIDBytes:
		e.Add(f+".key", "is %d bytes; at most %d", len(a.Key), engine.MaxIDBytes)
	case !utf8.ValidString(a.Key) || strings.IndexByte(a.Key, 0) >= 0:
		e.Add(f+".key", "must be UTF-8 without NUL")
	}
	var selfVec []float32
	var selfGroups []string
	if a.ID != "" {
		if !engine.CheckID(e, f+".id", a.ID) {
			return
		}
		selfVec, selfGroups, p.selfStored = lookup(a.ID)
	}
	switch {
	case a.Vector != nil:
		q, err := s.PrepareQuery(a.Vector, f+".vector")
		if err != nil {
			addViolations(e, err)
			return
		}
		p.query = q
		p.freshQuery = true
	case a.ID != "":
		if !p.selfStored {
			e.Add(f+".id", "item %q is not in the collection; send its vector", a.ID)
			return
		}
		p.query = append([]float32(nil), selfVec...)
	default:
		e.Add(f, "needs an id or a vector")
		return
	}
	p.self = a.ID
	if p.selfStored {
		p.selfScore = s.Similarity(p.query, selfVec)
	}
	if pol.ExcludeSameGroup {
		p.groups = make(map[string]struct{}, len(a.Groups)+len(selfGroups))
		for _, g := range a.Groups {
			p.groups[g] = struct{}{}
		}
		for _, g := range selfGroups {
			p.groups[g] = struct{}{}
		}
	}
	p.positives = make(map[string]struct{}, len(a.PositiveIDs))
	for _, id := range a.PositiveIDs {
		if has(p.positives, id) {
			continue
		}
		p.positives[id] = struct{}{}
		v, groups, ok := lookup(id)
		if !ok {
			p.unknown = append(p.unknown, id)
			continue
		}
		p.posVecs = append(p.posVecs, append([]float32(nil), v...))
		if p.groups != nil {
			for _, g := range groups {
				p.groups[g] = struct{}{}
			}
		}
	}
	for j, v := range a.PositiveVectors {
		q, err := s.PrepareQuery(v, fmt.Sprintf("%s.positive_vectors[%d]", f, j))
		if err != nil {
			addViolations(e, err)
			continue
		}
		p.posVecs = append(p.posVecs, q)
	}
	p.numPositives = len(p.positives) + len(a.PositiveVectors)
	p.excluded = make(map[string]struct{}, len(a.ExcludeIDs))
	for _, id := range a.ExcludeIDs {
		p.excluded[id] = struct{}{}
	}
	if rl.hasDup {
		// Transitive exclusion: a verdict on one copy covers its copies. Each stored
		// excluded item or reported false negative (not a positive: those are posVecs)
		// contributes its vector once.
		seen := make(map[string]struct{}, len(p.excluded)+len(p.feedback))
		for _, set := range []map[string]struct{}{p.excluded, p.feedback} {
			for id := range set {
				if has(seen, id) || has(p.positives, id) {
					continue
				}
				seen[id] = struct{}{}
				if v, ok := copies.vector(id); ok {
					p.exclVecs = append(p.exclVecs, v)
				}
			}
		}
		if s.Metric() == engine.Cosine && len(p.exclVecs) >= exclSortMin {
			p.exclSim = make([]float32, len(p.exclVecs))
			for j, v := range p.exclVecs {
				p.exclSim[j] = s.Similarity(p.query, v)
			}
			order := make([]int, len(p.exclVecs))
			for j := range order {
				order[j] = j
			}
			slices.SortFunc(order, func(x, y int) int { return cmp.Compare(p.exclSim[y], p.exclSim[x]) })
			vecs, sims := make([][]float32, len(order)), make([]float32, len(order))
			for j, k := range order {
				vecs[j], sims[j] = p.exclVecs[k], p.exclSim[k]
			}
			p.exclVecs, p.exclSim = vecs, sims
		}
	}
}

// exclSortMin is the fewest excluded items an anchor sorts for excludedDuplicate's
// bound: the bound costs a candidate one similarity and two trigonometric calls, more
// than comparing it with a few items directly.
const exclSortMin = 8

// storedCopies copies stored vectors out of the collection once per request: anchors
// that exclude the same ids (one exclusion list sent with every anchor) share the
// copies, which a request of 256 anchors × 4,096 exclusions otherwise made once per
// anchor (1.7 GB at 384 dimensions).
type storedCopies struct {
	lookup engine.LookupFunc
	vecs   map[string][]float32
}

// vector returns a copy of id's stored vector, and false when id is not stored.
func (c *storedCopies) vector(id string) ([]float32, bool) {
	if v, ok := c.vecs[id]; ok {
		return v, v != nil
	}
	if c.vecs == nil {
		c.vecs = map[string][]float32{}
	}
	v, _, ok := c.lookup(id)
	if ok {
		v = append([]float32(nil), v...)
	} else {
		v = nil
	}
	c.vecs[id] = v
	return v, ok
}

// addViolations appends err's violations to e (err is a *validate.Error from
// PrepareQuery), or a generic one.
func addViolations(e *validate.Error, err error) {
	if v, ok := err.(*validate.Error); ok {
		for _, x := range v.Violations {
			e.Add(x.Field, "%s", x.Description)
		}
		return
	}
	e.Add("anchors", "%v", err)
}

func has(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }
