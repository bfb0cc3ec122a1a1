package mining

import (
	"math"

	"github.com/hardneg/hardneg/internal/validate"
)

// StaleRule says what the freshness rule (Policy.MinVersion, MaxStaleness) does with a
// stale candidate: one whose version is below the effective minimum version.
type StaleRule int

// Stale rules.
const (
	// StaleSkip drops stale candidates (RuleCounts.Stale).
	StaleSkip StaleRule = iota
	// StaleRescore keeps stale candidates for anchors that send a fresh query vector
	// (Anchor.Vector) and scores them against it, ADORE-style: the fresh query against
	// the stored, older item vectors, which is what every candidate's score is; the
	// negative is marked Stale. Anchors without a vector (the query is the stored,
	// possibly stale, anchor item) drop stale candidates as under StaleSkip.
	StaleRescore
)

// newestVersioner is implemented by searchers that report their newest item version
// (see engine.Collection.NewestVersion); Policy.MaxStaleness needs it.
type newestVersioner interface {
	NewestVersion() int64
}

// freshness is the freshness rule resolved for a request.
type freshness struct {
	min int64 // candidates with a version below min are stale; valid when on
	on  bool
}

// resolveFreshness returns the effective minimum version: the larger of MinVersion
// and newest − MaxStaleness, with newest the searcher's newest item version when the
// request starts.
func resolveFreshness(pol *Policy, s Searcher, e *validate.Error) freshness {
	var f freshness
	if pol.MinVersion != nil {
		f.min, f.on = *pol.MinVersion, true
	}
	if pol.MaxStaleness != nil {
		nv, ok := s.(newestVersioner)
		if !ok {
			e.Add("policy.max_staleness", "this collection does not report item versions")
			return f
		}
		if m := minusStaleness(nv.NewestVersion(), *pol.MaxStaleness); !f.on || m > f.min {
			f.min, f.on = m, true
		}
	}
	return f
}

// validateFreshness checks the freshness fields of the policy.
func (p *Policy) validateFreshness(e *validate.Error, field string) {
	if p.MaxStaleness != nil && *p.MaxStaleness < 0 {
		e.Add(field+".max_staleness", "must not be negative")
	}
	if p.StaleRule != StaleSkip && p.StaleRule != StaleRescore {
		e.Add(field+".stale_rule", "unknown stale rule %d", int(p.StaleRule))
	}
}

// minusStaleness returns newest − staleness (staleness ≥ 0), or math.MinInt64 where that
// is below the int64 range: no version is older than the whole range.
func minusStaleness(newest, staleness int64) int64 {
	if newest < math.MinInt64+staleness {
		return math.MinInt64
	}
	return newest - staleness
}

// versionGap returns newer − older (older < newer), or math.MaxInt64 where that is
// beyond the int64 range: the gap between the extreme versions saturates.
func versionGap(newer, older int64) int64 {
	if d := newer - older; d > 0 {
		return d
	}
	return math.MaxInt64
}
