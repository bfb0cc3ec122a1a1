package index

import (
	"math"
	"slices"

	"github.com/hardneg/hardneg/internal/engine"
)

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
func (c *Collection) VersionStats() engine.VersionStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var st engine.VersionStats
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
	buckets := make([]uint64, len(engine.StalenessBounds))
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		d := st.Newest - c.versions[slot]
		if d < 0 { // beyond the int64 range
			d = math.MaxInt64
		}
		s := float64(d)
		st.StalenessSum += s
		for i, b := range engine.StalenessBounds {
			if s <= b {
				buckets[i]++
				break
			}
		}
	}
	st.Staleness = make([]uint64, len(engine.StalenessBounds))
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

// Versions summarises the version stamps of the live items, listing the item counts of
// the limit newest stamps. It reads every live item under the collection's read lock:
// O(items), for inspection rather than for every request.
func (c *Collection) Versions(limit int) engine.VersionSummary {
	c.mu.RLock()
	counts := map[int64]int{}
	for _, slot := range c.slots {
		counts[c.versions[slot]]++
	}
	c.mu.RUnlock()
	var s engine.VersionSummary
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
		s.Newest = append(s.Newest, engine.VersionCount{Version: vs[i], Items: counts[vs[i]]})
	}
	return s
}
