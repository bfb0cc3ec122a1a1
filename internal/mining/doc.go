// Package mining owns the hard-negative mining rules: it turns a batch of anchors and a
// Policy into negatives, drawing candidates from a Searcher (the index) best-first and
// applying every false-negative rule to the candidate stream as the search produces it,
// so heavy filtering widens the search instead of returning fewer negatives.
//
// The package is pure Go: no gRPC, no Prometheus. The server translates requests into
// Request values and Results back into responses.
package mining
