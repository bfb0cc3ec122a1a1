//go:build !linux

package hugepage

// advise does nothing where madvise(MADV_HUGEPAGE) does not exist.
func advise(b []byte) {}
