// Package mining owns the hard-negative mining rules: it turns a batch of anchors and a
// Policy into negatives, drawing candidates from a Searcher (an engine.Collection)
// best-first and applying every false-negative rule to the candidate stream as the search produces it,
// so heavy filtering widens the search instead of returning fewer negatives.
//
// Rules run, and removed candidates are counted (RuleCounts), in this order: the anchor
// item, its positives, its exclusions, other anchors' ids/positives/exclusions
// (in-batch), reported false negatives (feedback), shared groups, rotation and the
// exposure cap — these inside the search's Skip predicate — then the hardness floor
// (MaxRank, which ends the search), staleness, near-duplicates of a positive and of
// excluded items, the guide rules (in a second vector space, Request.Guide), the
// margins against s⁺, the score band, the false-negative budget (PFNThreshold,
// PFNBudget: the likeliest false negatives among the first survivors), the rank window
// and diversity. Each negative of an anchor with a positive carries p_fn, a logistic
// estimate that it is a false negative; a Calibration keeps a collection's score
// statistics for quantile and z-score thresholds. Sampling (top, uniform, softmax,
// SimANS, top-1 + sampled) chooses among the rank window's candidates, reproducibly for
// a seed. docs/MINING.md gives every formula and default.
//
// For the training loop (docs/TRAINING.md): freshness.go, refresh.go, rotation.go and
// exposure.go hold the freshness rule, the refresh queue, rotation and the exposure
// cap; batches.go builds hard training batches (BuildBatches: NGAME-style balanced
// clusters or Sample4Geo-style neighbour groups, with no row a positive, reported false
// negative or near-duplicate of a positive of another row of its batch); synthetic.go
// mixes MoCHi synthetic negatives from the returned ones; hardness.go keeps the
// closed-loop hardness per anchor key that moves an anchor's rank window.
//
// The package is pure Go: no gRPC, no Prometheus. The server translates requests into
// Request values and Results back into responses.
package mining
