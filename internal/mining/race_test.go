//go:build race

package mining

// raceEnabled is set under the race detector, which slows the recall sweeps several
// times over: they then cover fewer windows and widths.
const raceEnabled = true
