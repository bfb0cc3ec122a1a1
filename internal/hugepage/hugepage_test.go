package hugepage

import (
	"testing"
	"unsafe"
)

func TestInnerIsTheWholeAlignedPages(t *testing.T) {
	for _, c := range []struct{ p, n, lo, hi uintptr }{
		{0, 4 * Size, 0, 4 * Size},                        // aligned start and end
		{Size - 8192, 3 * Size, 8192, 2*Size + 8192},      // two whole pages: the partial ones at both ends are left out
		{8192, Size, Size - 8192, 0},                      // spans no whole page: hi ≤ lo
		{8192, 2*Size - 8192, Size - 8192, 2*Size - 8192}, // ends on a boundary
		{Size, 100, 0, 0},                                 // shorter than a page
	} {
		lo, hi := inner(c.p, c.n)
		if hi <= lo && c.hi <= c.lo {
			continue
		}
		if lo != c.lo || hi != c.hi {
			t.Errorf("inner(%#x, %#x) = [%#x, %#x), want [%#x, %#x)", c.p, c.n, lo, hi, c.lo, c.hi)
		}
		if (c.p+lo)%Size != 0 || (c.p+hi)%Size != 0 || hi > c.n {
			t.Errorf("inner(%#x, %#x) = [%#x, %#x): not whole pages inside", c.p, c.n, lo, hi)
		}
	}
}

func TestSlab(t *testing.T) {
	const chunk = 1536 << 10 // 1,024 vectors of 384 float32
	for _, c := range []struct{ have, want int }{
		{0, 1},    // a new table starts with one chunk
		{2, 1},    // a 3 MiB table still grows a chunk at a time
		{3, 3},    // 4.5 MiB: slabs of at least 4 MiB, rounded up to whole chunks
		{20, 5},   // 30 MiB: a quarter, 7.5 MiB: five chunks
		{100, 11}, // 150 MiB: at most 16 MiB, rounded up
	} {
		if got := Slab(c.have, chunk); got != c.want {
			t.Errorf("Slab(%d chunks of 1.5 MiB) = %d, want %d", c.have, got, c.want)
		}
	}
	if got := Slab(100, 64<<20); got != 1 {
		t.Errorf("Slab of chunks larger than a slab = %d, want 1", got)
	}
	if got := Slab(5, 0); got != 1 {
		t.Errorf("Slab(5, 0) = %d, want 1", got)
	}
}

func TestMakeIsMake(t *testing.T) {
	for _, n := range []int{0, 1, 1000, Size/4 + 3, 3 * Size / 4} {
		s := Make[float32](n)
		if len(s) != n || cap(s) != n {
			t.Fatalf("Make(%d): len %d cap %d", n, len(s), cap(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("Make(%d)[%d] = %v, want zero memory", n, i, v)
			}
		}
		for i := range s {
			s[i] = float32(i)
		}
		for i, v := range s {
			if v != float32(i) {
				t.Fatalf("Make(%d)[%d] = %v after writing %d", n, i, v, i)
			}
		}
	}
	var x [3]uint16
	if s := Make[[3]uint16](Size); len(s) != Size || unsafe.Sizeof(s[0]) != unsafe.Sizeof(x) {
		t.Fatalf("Make of arrays: len %d", len(s))
	}
}

func TestChunks(t *testing.T) {
	const chunkLen = 1024 * 384 // 1.5 MiB of float32
	for _, have := range []int{0, 2, 3, 20, 100} {
		cs := Chunks[float32](have, chunkLen)
		if want := Slab(have, chunkLen*4); len(cs) != want {
			t.Fatalf("Chunks(%d): %d chunks, want Slab's %d", have, len(cs), want)
		}
		for i, c := range cs {
			if len(c) != chunkLen || cap(c) != chunkLen {
				t.Fatalf("Chunks(%d)[%d]: len %d cap %d, want both %d", have, i, len(c), cap(c), chunkLen)
			}
			c[0], c[chunkLen-1] = float32(i+1), -float32(i+1)
		}
		for i, c := range cs {
			if c[0] != float32(i+1) || c[chunkLen-1] != -float32(i+1) {
				t.Fatalf("Chunks(%d)[%d]: another chunk's write shows in this one", have, i)
			}
		}
	}
}

func TestSetEnabledOff(t *testing.T) {
	SetEnabled(false)
	defer SetEnabled(true)
	if got := Slab(100, 1536<<10); got != 1 {
		t.Errorf("Slab with huge pages off = %d, want one chunk at a time", got)
	}
	if cs := Chunks[float32](100, 1024*384); len(cs) != 1 || len(cs[0]) != 1024*384 {
		t.Errorf("Chunks with huge pages off: %d chunks", len(cs))
	}
	if s := Make[byte](4 * Size); len(s) != 4*Size {
		t.Errorf("Make with huge pages off: len %d", len(s))
	}
}
