package mining

import (
	"cmp"
	"slices"

	"github.com/hardneg/hardneg/internal/validate"
)

// Refresh queue limits.
const (
	DefaultRefreshLimit = 1024
	MaxRefreshLimit     = 65536
)

// VersionRanger is what RefreshQueue needs from a collection. engine.Collection
// implements it.
type VersionRanger interface {
	// NewestVersion returns the largest version of a live item.
	NewestVersion() int64
	// RangeVersions calls fn with every live item's id and version until it returns
	// false.
	RangeVersions(fn func(id string, version int64) bool)
}

// RefreshItem is one item due for re-encoding.
type RefreshItem struct {
	ID              string
	Version         int64
	Staleness       int64 // target − Version, > 0 (math.MaxInt64 where beyond the int64 range)
	RecentExposures uint64
}

// RefreshRequest asks for the next items to re-encode.
type RefreshRequest struct {
	// Limit is the most items to return; 0 means DefaultRefreshLimit.
	Limit int
	// Target: items with a version below it are due; nil means the newest version.
	Target *int64
}

// RefreshResult lists the due items in refresh order.
type RefreshResult struct {
	Items  []RefreshItem
	Target int64
	// Due counts every due item, before Limit.
	Due int
}

// priority is staleness × (1 + recent exposures).
func (it *RefreshItem) priority() float64 {
	return float64(it.Staleness) * (1 + float64(it.RecentExposures))
}

// refreshBefore orders items by priority descending, then version ascending, then id.
func refreshBefore(a, b *RefreshItem) int {
	if c := cmp.Compare(b.priority(), a.priority()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// RefreshQueue returns the items of s with a version below the target, the oldest
// and the most exposed first: ordered by staleness × (1 + recent exposures)
// descending (exposures from x, which may be nil), then version ascending, then id.
func RefreshQueue(s VersionRanger, x *Exposure, req RefreshRequest) (RefreshResult, error) {
	var e validate.Error
	if req.Limit < 0 || req.Limit > MaxRefreshLimit {
		e.Add("limit", "must be 0–%d, got %d", MaxRefreshLimit, req.Limit)
	}
	if err := e.Err(); err != nil {
		return RefreshResult{}, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = DefaultRefreshLimit
	}
	var res RefreshResult
	if req.Target != nil {
		res.Target = *req.Target
	} else {
		res.Target = s.NewestVersion()
	}
	var recent map[string]uint64
	if x != nil {
		recent = x.Recent()
	}
	// Keep the best limit items: collect, and trim to limit whenever the buffer holds
	// twice as many, so memory stays O(limit).
	buf := make([]RefreshItem, 0, 2*limit)
	trim := func() {
		slices.SortFunc(buf, func(a, b RefreshItem) int { return refreshBefore(&a, &b) })
		if len(buf) > limit {
			buf = buf[:limit]
		}
	}
	s.RangeVersions(func(id string, v int64) bool {
		if v >= res.Target {
			return true
		}
		res.Due++
		buf = append(buf, RefreshItem{ID: id, Version: v, Staleness: versionGap(res.Target, v), RecentExposures: recent[id]})
		if len(buf) == cap(buf) {
			trim()
		}
		return true
	})
	trim()
	res.Items = buf
	return res, nil
}
