//go:build race

package index

// raceEnabled shrinks test workloads under the race detector, which slows graph
// construction by an order of magnitude.
const raceEnabled = true
