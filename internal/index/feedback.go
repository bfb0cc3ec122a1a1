package index

import ()

// feedback holds a collection's false-negative verdicts: for each anchor key, the item
// ids that must never be returned as its negatives. Verdicts are kept by id, so they
// apply to items reported before they were inserted and survive delete and re-insert.
type feedback struct {
	byKey map[string]map[string]struct{}
	pairs int
}

// AddFalseNegatives records that ids are not negatives for the anchor key and returns
// how many (key, id) pairs were new. Inputs are expected to be validated
// (ValidateFalseNegatives).
func (c *Collection) AddFalseNegatives(key string, ids []string) int {
	c.fbMu.Lock()
	defer c.fbMu.Unlock()
	if c.fb.byKey == nil {
		c.fb.byKey = make(map[string]map[string]struct{})
	}
	set := c.fb.byKey[key]
	if set == nil {
		set = make(map[string]struct{}, len(ids))
		c.fb.byKey[key] = set
	}
	added := 0
	for _, id := range ids {
		if _, ok := set[id]; !ok {
			set[id] = struct{}{}
			added++
		}
	}
	c.fb.pairs += added
	return added
}

// FalseNegatives returns a copy of the ids recorded for key, or nil when there are
// none. The copy can be consulted inside a search's Skip predicate.
func (c *Collection) FalseNegatives(key string) map[string]struct{} {
	c.fbMu.RLock()
	defer c.fbMu.RUnlock()
	set := c.fb.byKey[key]
	if len(set) == 0 {
		return nil
	}
	out := make(map[string]struct{}, len(set))
	for id := range set {
		out[id] = struct{}{}
	}
	return out
}

// FalseNegativePairs returns the number of (key, id) verdicts recorded.
func (c *Collection) FalseNegativePairs() int {
	c.fbMu.RLock()
	defer c.fbMu.RUnlock()
	return c.fb.pairs
}

// RangeFalseNegatives calls fn for each anchor key with a copy of its ids, in no
// particular order, until fn returns false. It is meant for persistence.
func (c *Collection) RangeFalseNegatives(fn func(key string, ids []string) bool) {
	c.fbMu.RLock()
	type entry struct {
		key string
		ids []string
	}
	entries := make([]entry, 0, len(c.fb.byKey))
	for k, set := range c.fb.byKey {
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		entries = append(entries, entry{k, ids})
	}
	c.fbMu.RUnlock()
	for _, e := range entries {
		if !fn(e.key, e.ids) {
			return
		}
	}
}
