//go:build race

package hnsw

// raceEnabled shrinks test data sets under the race detector, which slows the
// distance loops by an order of magnitude.
const raceEnabled = true
