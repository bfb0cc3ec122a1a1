package index

import (
	"slices"
)

// StalenessBounds are the upper bounds of VersionStats.Staleness: staleness (the
// collection's newest version minus an item's version) in encoder versions, e.g.
// training steps. Staleness above the last bound falls in the implicit +Inf bucket.
var StalenessBounds = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}

// VersionStats summarise the version stamps of a collection's live items.
type VersionStats struct {
	// Items is the number of live items.
	Items int
	// Oldest and Newest are the smallest and largest version of a live item; both 0
	// when the collection is empty.
	Oldest, Newest int64
	// Staleness counts items per StalenessBounds bucket, cumulatively: Staleness[i]
	// items have Newest − version ≤ StalenessBounds[i]. StalenessSum is the sum of
	// every item's staleness.
	Staleness    []uint64
	StalenessSum float64
}

// NewestVersion returns the largest version of a live item (0 when the collection is
// empty). It reads every live item's version: O(items).
func (c *Collection) NewestVersion() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	newest, any := int64(0), false
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		if v := c.versions[slot]; !any || v > newest {
			newest, any = v, true
		}
	}
	return newest
}

// VersionStats returns the version summary of the live items; O(items).
func (c *Collection) VersionStats() VersionStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var st VersionStats
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		v := c.versions[slot]
		if st.Items == 0 || v < st.Oldest {
			st.Oldest = v
		}
		if st.Items == 0 || v > st.Newest {
			st.Newest = v
		}
		st.Items++
	}
	buckets := make([]uint64, len(StalenessBounds))
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		s := float64(st.Newest - c.versions[slot])
		st.StalenessSum += s
		for i, b := range StalenessBounds {
			if s <= b {
				buckets[i]++
				break
			}
		}
	}
	st.Staleness = make([]uint64, len(StalenessBounds))
	var cum uint64
	for i := range buckets {
		cum += buckets[i]
		st.Staleness[i] = cum
	}
	return st
}

// RangeVersions calls fn with the id and version of every live item, in slot order,
// until fn returns false. The collection's read lock is held throughout: fn must not
// call methods of the collection.
func (c *Collection) RangeVersions(fn func(id string, version int64) bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		if !fn(id, c.versions[slot]) {
			return
		}
	}
}

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
