//go:build linux

package hugepage

import "golang.org/x/sys/unix"

// advise asks for huge pages over b, whole aligned pages. The advice is a hint: a
// kernel without transparent huge pages, or with them disabled ("never"), refuses or
// ignores it, and the memory stays as it was.
func advise(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }

// populate faults b's pages in, writable, without changing what they hold
// (madvise MADV_POPULATE_WRITE, Linux 5.14 and later; older kernels refuse it and
// the pages fault on first use as before).
func populate(b []byte) { _ = unix.Madvise(b, unix.MADV_POPULATE_WRITE) }
