package index

import (
	"math"
	"slices"

	"github.com/hardneg/hardneg/internal/engine"
)

// NewestVersion returns the largest version of a live item (0 when the collection is
// empty). It is kept as items are written; after the last item holding it leaves, the
// next call reads every live item's version once, under the shared lock (searches go
// on), and keeps the result unless a write landed meanwhile.
func (c *Collection) NewestVersion() int64 {
	c.mu.RLock()
	if c.newestKnown {
		v := c.newest
		c.mu.RUnlock()
		return v
	}
	writes := c.versionWrites
	newest, count := int64(0), 0
	for slot, id := range c.ids {
		if id == "" {
			continue
		}
		switch v := c.versions[slot]; {
		case count == 0 || v > newest:
			newest, count = v, 1
		case v == newest:
			count++
		}
	}
	c.mu.RUnlock()
	c.mu.Lock()
	if !c.newestKnown && c.versionWrites == writes {
		c.newest, c.newestCount, c.newestKnown = newest, count, true
	}
	c.mu.Unlock()
	return newest
}

// noteVersion keeps newest up to date as a live item of version v is written; an upsert
// notes the new item before it retires the one it replaces, so that replacing the item
// holding the newest version with one as new keeps the cache. Caller holds mu.
func (c *Collection) noteVersion(v int64) {
	c.versionWrites++
	if !c.newestKnown {
		return
	}
	switch {
	case c.newestCount == 0 || v > c.newest: // the first live item, or a newer one
		c.newest, c.newestCount = v, 1
	case v == c.newest:
		c.newestCount++
	}
}

// versionStatsChunk is how many slots VersionStats reads per hold of the read lock, so
// that a metrics scrape of a large collection does not hold writers up for the whole
// pass.
const versionStatsChunk = 1 << 16

// VersionStats returns the version summary of the live items: O(items), read in
// chunks of versionStatsChunk slots with the read lock released between them. Writes
// that land meanwhile may or may not be counted (an item replaced meanwhile may be
// counted twice, in its old slot and its new one); an item newer than the newest
// version read at the start counts as staleness 0. For metrics.
func (c *Collection) VersionStats() engine.VersionStats {
	st := engine.VersionStats{Newest: c.NewestVersion()}
	buckets := make([]uint64, len(engine.StalenessBounds))
	for lo := 0; ; lo += versionStatsChunk {
		c.mu.RLock()
		n := len(c.ids)
		if lo >= n {
			c.mu.RUnlock()
			break
		}
		for slot := lo; slot < min(lo+versionStatsChunk, n); slot++ {
			if c.ids[slot] == "" {
				continue
			}
			v := c.versions[slot]
			if st.Items == 0 || v < st.Oldest {
				st.Oldest = v
			}
			st.Items++
			var d int64
			if v < st.Newest {
				if d = st.Newest - v; d < 0 { // beyond the int64 range
					d = math.MaxInt64
				}
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
		c.mu.RUnlock()
	}
	if st.Items == 0 {
		st.Newest = 0
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
