package index

import "slices"

// VersionCount is how many live items carry one version stamp.
type VersionCount struct {
	Version int64 `json:"version"`
	Items   int   `json:"items"`
}

// VersionSummary describes the version stamps of a collection's live items.
type VersionSummary struct {
	// Min and Max are the lowest and highest stamps; both 0 for an empty collection.
	Min int64 `json:"min"`
	Max int64 `json:"max"`
	// Distinct is the number of different stamps.
	Distinct int `json:"distinct"`
	// Newest are the items per stamp for the highest stamps, newest first: at most the
	// limit given to Versions.
	Newest []VersionCount `json:"newest"`
}

// Versions summarises the version stamps of the live items, listing the item counts of
// the limit newest stamps. It reads every live item under the collection's read lock:
// O(items), for inspection rather than for every request.
func (c *Collection) Versions(limit int) VersionSummary {
	c.mu.RLock()
	counts := map[int64]int{}
	for _, slot := range c.slots {
		counts[c.versions[slot]]++
	}
	c.mu.RUnlock()
	var s VersionSummary
	if len(counts) == 0 {
		return s
	}
	vs := make([]int64, 0, len(counts))
	for v := range counts {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	s.Min, s.Max, s.Distinct = vs[0], vs[len(vs)-1], len(vs)
	for i := len(vs) - 1; i >= 0 && len(s.Newest) < limit; i-- {
		s.Newest = append(s.Newest, VersionCount{Version: vs[i], Items: counts[vs[i]]})
	}
	return s
}
