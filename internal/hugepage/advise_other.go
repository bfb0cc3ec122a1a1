//go:build !linux

package hugepage

// advise does nothing where madvise(MADV_HUGEPAGE) does not exist.
func advise(b []byte) {}

// populate does nothing where madvise(MADV_POPULATE_WRITE) does not exist.
func populate(b []byte) {}
