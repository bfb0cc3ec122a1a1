//go:build linux

package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vma returns the VmFlags and AnonHugePages lines of the mapping holding address a, from
// /proc/self/smaps.
func vma(t *testing.T, a uintptr) (flags, anonHuge string) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && !strings.Contains(line[:strings.IndexByte(line, ' ')], ":") {
			if in {
				break
			}
			in = lo <= a && a < hi
			continue
		}
		if !in {
			continue
		}
		switch {
		case strings.HasPrefix(line, "VmFlags:"):
			flags = line
		case strings.HasPrefix(line, "AnonHugePages:"):
			anonHuge = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return flags, anonHuge
}

// TestMakeAdvisesHugePages checks that the whole aligned pages of a large Make carry the
// huge-page advice (VmFlags "hg") wherever the kernel has transparent huge pages; where
// it has none, Make is plain make (TestMakeIsMake).
func TestMakeAdvisesHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	thp := err == nil && !strings.Contains(string(mode), "[never]")
	s := Make[byte](16 * Size)
	for i := 0; i < len(s); i += 4096 {
		s[i] = 1
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	lo, hi := inner(p, uintptr(len(s)))
	if hi <= lo {
		t.Fatalf("a %d-byte array spans no whole huge page", len(s))
	}
	flags, anonHuge := vma(t, p+lo)
	runtime.KeepAlive(s) // the array stays allocated until its mapping was read
	t.Logf("transparent_hugepage/enabled: %q; the array's mapping: %s; %s", strings.TrimSpace(string(mode)), flags, anonHuge)
	if !thp {
		return
	}
	if !strings.Contains(" "+strings.TrimPrefix(flags, "VmFlags:")+" ", " hg ") {
		t.Errorf("the mapping holding the array's aligned pages lacks the huge-page advice: %s", flags)
	}
}

// populate faults every page of a range in without changing what it holds, where the
// kernel has MADV_POPULATE_WRITE (5.14+); where it has not, the test only checks that
// nothing changed.
func TestPopulateKeepsContentsAndFaultsPagesIn(t *testing.T) {
	s := Make[uint32](2 * Size) // 8 MiB: whole huge pages inside, and 4 KiB pages at the ends
	s[0], s[len(s)-1] = 7, 9
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
	before := resident(t, b)
	populate(b)
	after := resident(t, b)
	for i, v := range s {
		want := uint32(0)
		switch i {
		case 0:
			want = 7
		case len(s) - 1:
			want = 9
		}
		if v != want {
			t.Fatalf("s[%d] = %d after populate, want %d", i, v, want)
		}
	}
	runtime.KeepAlive(s)
	t.Logf("pages resident: %d before populate, %d after, of %d", before, after, len(b)/os.Getpagesize())
	if err := unix.Madvise(b[:os.Getpagesize()], unix.MADV_POPULATE_WRITE); err != nil {
		t.Logf("this kernel refuses MADV_POPULATE_WRITE (%v): populate leaves the pages to fault on use", err)
		return
	}
	if whole := len(b)/os.Getpagesize() - 1; after < whole {
		t.Errorf("%d pages resident after populate, want at least %d", after, whole)
	}
}

// resident counts the whole pages inside b that are in memory (mincore).
func resident(t *testing.T, b []byte) int {
	t.Helper()
	page := uintptr(os.Getpagesize())
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo, hi := (p+page-1)&^(page-1), (p+uintptr(len(b)))&^(page-1)
	vec := make([]byte, (hi-lo)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, lo, hi-lo, uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
