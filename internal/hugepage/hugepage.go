// Package hugepage allocates the index's large, long-lived arrays (vectors, graph codes,
// layer-0 links) so that the kernel may back them with 2 MiB pages.
//
// A graph search reads a few hundred rows from random places in arrays of hundreds of
// megabytes. With 4 KiB pages nearly every such read also misses the TLB and walks the
// page tables (twice over in a virtual machine); with 2 MiB pages the TLB covers
// gigabytes. Linux backs anonymous memory with huge pages by default only when
// /sys/kernel/mm/transparent_hugepage/enabled says "always"; most distributions ship
// "madvise", where a program must ask for them per range, and the Go runtime does not
// ask for its heap. Make asks (madvise MADV_HUGEPAGE) for the whole 2 MiB pages inside
// each array it allocates; elsewhere, and where the kernel refuses, it is make.
//
// The arrays stay ordinary Go memory: the garbage collector frees them, and the advice
// only changes how the kernel backs the pages. Memory already touched when the advice
// comes (a reused span the runtime zeroed) is collapsed into huge pages later by the
// kernel's khugepaged; memory first touched after it is faulted in huge pages at once.
package hugepage

import (
	"sync/atomic"
	"unsafe"
)

// disabled turns Make into make and Slab into one chunk at a time (SetEnabled).
var disabled atomic.Bool

// SetEnabled turns the advice and the slabs on (the default) or off for the arrays
// made from then on: off, Make is make and Slab always 1 (the server's -huge-pages).
func SetEnabled(on bool) { disabled.Store(!on) }

// Size is the huge page size the advice is aligned to (x86-64 and arm64 with 4 KiB base
// pages).
const Size = 2 << 20

// A table allocates one chunk at a time until it holds minTable bytes; from then on
// chunks come in slabs of a quarter of the table, at least minSlab (two huge pages)
// and at most maxSlab, so that most of a large table lies in whole huge pages while
// what it holds ahead of its items stays within a quarter of it (or minSlab).
const (
	minTable = 4 << 20
	minSlab  = 4 << 20
	maxSlab  = 16 << 20
)

// Make returns make([]T, n), advised for huge pages when it spans a whole aligned one.
func Make[T any](n int) []T {
	s := make([]T, n)
	var zero T
	if size := uintptr(n) * unsafe.Sizeof(zero); size >= Size && !disabled.Load() {
		p := unsafe.Pointer(unsafe.SliceData(s))
		if lo, hi := inner(uintptr(p), size); hi > lo {
			advise(unsafe.Slice((*byte)(p), size)[lo:hi])
		}
	}
	return s
}

// Slab returns how many chunks of chunkBytes a table that already holds have of them
// should allocate together (as one Make, sliced): one while the table is under 4 MiB,
// then a quarter of the table, between 4 and 16 MiB, rounded up to whole chunks.
func Slab(have, chunkBytes int) int {
	table := have * chunkBytes
	if chunkBytes <= 0 || table < minTable || disabled.Load() {
		return 1
	}
	want := min(max(table/4, minSlab), maxSlab)
	return max(1, (want+chunkBytes-1)/chunkBytes)
}

// Chunks returns the next chunks of a table that holds have chunks of chunkLen elements
// each: Slab's count of them, made as one array (Make) and sliced, each with its own
// capacity so that no chunk can grow into the next.
func Chunks[T any](have, chunkLen int) [][]T {
	var zero T
	n := Slab(have, chunkLen*int(unsafe.Sizeof(zero)))
	slab := Make[T](n * chunkLen)
	out := make([][]T, n)
	for i := range out {
		out[i] = slab[i*chunkLen : (i+1)*chunkLen : (i+1)*chunkLen]
	}
	return out
}

// inner returns the whole Size-aligned pages inside n bytes at address p, as offsets
// from p: [lo, hi), empty (hi ≤ lo) when there is none.
func inner(p, n uintptr) (lo, hi uintptr) {
	lo = (Size - p%Size) % Size
	hi = (p + n) &^ (Size - 1)
	if hi < p {
		return lo, 0
	}
	return lo, hi - p
}

// PopulateAhead faults the pages of s in, writable, on another goroutine: the chunk a
// table will fill next, so that the kernel zeroes its fresh pages (on a virtual machine
// the slowest part of first writing new memory) while the writer is still busy with
// the chunk before. It leaves s's contents as they are and does nothing when the slabs
// are off (SetEnabled). The goroutine keeps s alive until it is done.
func PopulateAhead[T any](s []T) {
	if len(s) == 0 || disabled.Load() {
		return
	}
	var zero T
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s))*unsafe.Sizeof(zero))
	go populate(b)
}
