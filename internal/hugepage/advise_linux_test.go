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
