package index

import (
	"fmt"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/validate"
)

// MaxFeedbackIDs bounds the item ids of one false-negative report request.
const MaxFeedbackIDs = MaxBatchItems

// FalseNegativeReport says that items are not negatives for the anchor with key Key
// (the anchor's id, or the key a client gives a vector anchor).
type FalseNegativeReport struct {
	Key string
	IDs []string
}

// feedback holds a collection's false-negative verdicts: for each anchor key, the item
// ids that must never be returned as its negatives. Verdicts are kept by id, so they
// apply to items reported before they were inserted and survive delete and re-insert.
type feedback struct {
	byKey map[string]map[string]struct{}
	pairs int
}

// ValidateFalseNegatives checks reports: every key and id 1–512 bytes of UTF-8, at least
// one id per report and at most MaxFeedbackIDs ids in total. field is the reports'
// path in the request.
func ValidateFalseNegatives(reports []FalseNegativeReport, field string) error {
	var e validate.Error
	if len(reports) == 0 {
		e.Add(field, "must hold at least one report")
		return e.Err()
	}
	total := 0
	for _, r := range reports {
		total += len(r.IDs)
	}
	if total > MaxFeedbackIDs {
		e.Add(field, "name %d item ids in total; at most %d per request", total, MaxFeedbackIDs)
		return e.Err()
	}
	for i, r := range reports {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.Key == "":
			e.Add(f+".anchor_key", "must not be empty")
		case len(r.Key) > MaxIDBytes:
			e.Add(f+".anchor_key", "is %d bytes; at most %d", len(r.Key), MaxIDBytes)
		case !utf8.ValidString(r.Key):
			e.Add(f+".anchor_key", "is not valid UTF-8")
		}
		if len(r.IDs) == 0 {
			e.Add(f+".item_ids", "must name at least one item")
		}
		for j, id := range r.IDs {
			validateID(&e, fmt.Sprintf("%s.item_ids[%d]", f, j), id)
		}
	}
	return e.Err()
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
