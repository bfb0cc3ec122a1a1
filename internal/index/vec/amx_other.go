//go:build amd64 && !purego && !linux

package vec

// requestAMX reports false: the AMX kernel is used on Linux only, where the process
// can ask for the tile data state.
func requestAMX() bool { return false }
