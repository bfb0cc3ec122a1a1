// Package mining owns the hard-negative mining rules: it turns a batch of anchors and a
// Policy into negatives, drawing candidates from a Searcher (an engine.Collection)
// best-first and applying every false-negative rule to the candidate stream as the search produces it,
// so heavy filtering widens the search instead of returning fewer negatives.
//
// Rules run, and removed candidates are counted (RuleCounts), in this order: the anchor
// item, its positives, its exclusions, other anchors' ids/positives/exclusions
// (in-batch), reported false negatives (feedback), shared groups — these six inside the
// search's Skip predicate — then the hardness floor (MaxRank, which ends the search),
// near-duplicates of a positive and of excluded items, the guide rules (in a second
// vector space, Request.Guide), the margins against s⁺, the score band, the rank window
// and diversity. Each negative of an anchor with a positive carries p_fn, a logistic
// estimate that it is a false negative; a Calibration keeps a collection's score
// statistics for quantile and z-score thresholds. Sampling (top, uniform, softmax,
// SimANS, top-1 + sampled) chooses among the rank window's candidates, reproducibly for
// a seed. docs/MINING.md gives every formula and default.
//
// The package is pure Go: no gRPC, no Prometheus. The server translates requests into
// Request values and Results back into responses.
package mining
