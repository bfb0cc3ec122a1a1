//go:build linux

package hugepage

import "golang.org/x/sys/unix"

// advise asks for huge pages over b, whole aligned pages. The advice is a hint: a
// kernel without transparent huge pages, or with them disabled ("never"), refuses or
// ignores it, and the memory stays as it was.
func advise(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
