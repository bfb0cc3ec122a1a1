package mining

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/validate"
)

// Anchor is one query of a request.
type Anchor struct {
	// ID of the anchor item in the collection, if any. Never returned; its stored
	// vector is the query when Vector is nil.
	ID string
	// Vector is a raw query vector (not yet prepared), or nil.
	Vector []float32
	// Key identifies the anchor for feedback; defaults to ID.
	Key string
	// PositiveIDs are known positives in the collection.
	PositiveIDs []string
	// PositiveVectors are positives given as raw vectors.
	PositiveVectors [][]float32
	// ExcludeIDs are never returned for this anchor.
	ExcludeIDs []string
	// Groups are extra groups of the anchor.
	Groups []string
}

// Request is a batch of anchors mined under one policy.
type Request struct {
	Anchors        []Anchor
	Policy         Policy
	IncludeVectors bool
}

// Negative is one returned negative.
type Negative struct {
	ID     string
	Score  float32
	Rank   int
	Vector []float32 // only when requested
}

// RuleCounts counts candidates removed per rule; a candidate counts under the first
// rule that removed it, in field order.
type RuleCounts struct {
	Self, Positive, Excluded, InBatch, Feedback, SameGroup, Duplicate, Margin, ScoreBand, RankWindow, Diversity int
}

// Result is the outcome for one anchor.
type Result struct {
	Negatives []Negative
	// PositiveScore is s⁺, valid when HasPositiveScore.
	PositiveScore    float32
	HasPositiveScore bool
	// Examined is the number of candidates the search produced for the anchor.
	Examined int
	Removed  RuleCounts
	// Shortfall is k minus len(Negatives).
	Shortfall int
	// Widenings and ExactScan describe how the search ran.
	Widenings int
	ExactScan bool
	// UnknownPositiveIDs are positive ids not in the collection.
	UnknownPositiveIDs []string
}

// Mine mines every anchor of req against s, in parallel, and returns one Result per
// anchor in order. Invalid input returns a *validate.Error and no results.
func Mine(ctx context.Context, s Searcher, req Request) ([]Result, error) {
	anchors, err := prepare(s, &req)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(anchors))
	errs := make([]error, len(anchors))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelism())
	for i := range anchors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = mineOne(ctx, s, &req, &anchors[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// prepared is an anchor with its query and positives resolved.
type prepared struct {
	query     []float32
	self      string
	positives map[string]struct{}
	excluded  map[string]struct{}
	posVecs   [][]float32 // prepared positive vectors (stored and raw)
	unknown   []string
}

// prepare validates req and resolves every anchor's query and positives.
func prepare(s Searcher, req *Request) ([]prepared, error) {
	var e validate.Error
	if n := len(req.Anchors); n == 0 || n > MaxAnchors {
		e.Add("anchors", "must hold 1–%d anchors, got %d", MaxAnchors, n)
		return nil, e.Err()
	}
	req.Policy.validate(&e, "policy")
	out := make([]prepared, len(req.Anchors))
	s.Resolve(func(lookup index.LookupFunc) {
		for i := range req.Anchors {
			a := &req.Anchors[i]
			p := &out[i]
			f := fmt.Sprintf("anchors[%d]", i)
			if len(a.PositiveIDs) > MaxPositives {
				e.Add(f+".positive_ids", "has %d ids; at most %d", len(a.PositiveIDs), MaxPositives)
			}
			if len(a.PositiveVectors) > MaxPositives {
				e.Add(f+".positive_vectors", "has %d vectors; at most %d", len(a.PositiveVectors), MaxPositives)
			}
			if len(a.ExcludeIDs) > MaxExcludes {
				e.Add(f+".exclude_ids", "has %d ids; at most %d", len(a.ExcludeIDs), MaxExcludes)
			}
			if len(a.Groups) > MaxAnchorGroups {
				e.Add(f+".groups", "has %d groups; at most %d", len(a.Groups), MaxAnchorGroups)
			}
			switch {
			case a.Vector != nil:
				q, err := s.PrepareQuery(a.Vector, f+".vector")
				if err != nil {
					e.Violations = append(e.Violations, err.(*validate.Error).Violations...)
				}
				p.query = q
			case a.ID != "":
				v, _, ok := lookup(a.ID)
				if !ok {
					e.Add(f+".id", "item %q is not in the collection; send its vector", a.ID)
					continue
				}
				p.query = append([]float32(nil), v...)
			default:
				e.Add(f, "needs an id or a vector")
				continue
			}
			p.self = a.ID
			p.positives = make(map[string]struct{}, len(a.PositiveIDs))
			for _, id := range a.PositiveIDs {
				p.positives[id] = struct{}{}
				if v, _, ok := lookup(id); ok {
					p.posVecs = append(p.posVecs, append([]float32(nil), v...))
				} else {
					p.unknown = append(p.unknown, id)
				}
			}
			for j, v := range a.PositiveVectors {
				q, err := s.PrepareQuery(v, fmt.Sprintf("%s.positive_vectors[%d]", f, j))
				if err != nil {
					e.Violations = append(e.Violations, err.(*validate.Error).Violations...)
					continue
				}
				p.posVecs = append(p.posVecs, q)
			}
			p.excluded = make(map[string]struct{}, len(a.ExcludeIDs))
			for _, id := range a.ExcludeIDs {
				p.excluded[id] = struct{}{}
			}
		}
	})
	return out, e.Err()
}

// mineOne mines one prepared anchor.
func mineOne(ctx context.Context, s Searcher, req *Request, a *prepared) (Result, error) {
	pol := &req.Policy
	var res Result
	res.UnknownPositiveIDs = a.unknown
	posScore := float32(math.Inf(1))
	for _, pv := range a.posVecs {
		posScore = min(posScore, s.Similarity(a.query, pv))
	}
	if len(a.posVecs) > 0 {
		res.PositiveScore, res.HasPositiveScore = posScore, true
	}
	k := pol.NumNegatives
	rangeMax := pol.EffectiveRangeMax(len(a.positives) + len(a.posVecs) - len(a.unknown))
	skip := func(_ uint32, id string, _ []string) bool {
		switch {
		case id == a.self:
			res.Removed.Self++
		case has(a.positives, id):
			res.Removed.Positive++
		case has(a.excluded, id):
			res.Removed.Excluded++
		default:
			return false
		}
		return true
	}
	surviving := 0
	st, err := s.Search(ctx, a.query, index.SearchOptions{Ef: pol.Ef, MaxCandidates: pol.MaxExamined, Skip: skip}, func(c index.Candidate) bool {
		res.Examined++
		if res.HasPositiveScore {
			if m := pol.AbsoluteMargin; m != nil && !(c.Score < posScore-*m) {
				res.Removed.Margin++
				return true
			}
			if r := pol.RelativeMargin; r != nil && !(c.Score < posScore-abs32(posScore)**r) {
				res.Removed.Margin++
				return true
			}
		}
		if (pol.MinScore != nil && c.Score < *pol.MinScore) || (pol.MaxScore != nil && c.Score > *pol.MaxScore) {
			res.Removed.ScoreBand++
			return true
		}
		rank := surviving
		if pol.RankMode == RankRaw {
			rank = c.Rank
		}
		surviving++
		if rank < pol.RangeMin || rank >= rangeMax {
			res.Removed.RankWindow++
			return rank < rangeMax
		}
		n := Negative{ID: c.ID, Score: c.Score, Rank: c.Rank}
		if req.IncludeVectors {
			n.Vector = append([]float32(nil), c.Vector...)
		}
		res.Negatives = append(res.Negatives, n)
		return len(res.Negatives) < k
	})
	if err != nil {
		return Result{}, err
	}
	res.Widenings, res.ExactScan = st.Widenings, st.Exact
	res.Shortfall = k - len(res.Negatives)
	return res, nil
}

func has(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
