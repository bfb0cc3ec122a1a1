//go:build amd64 && !purego

package vec

import "golang.org/x/sys/unix"

// Linux asks a process to request the AMX tile data state before a thread may use it
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); the first tile instruction
// without it raises SIGILL. The request covers every thread of the process, and fails
// where the kernel or the hypervisor does not enable the state.
const (
	archReqXcompPerm  = 0x1023
	xfeatureXtiledata = 18
)

// requestAMX asks for the tile data state and reports whether the process may use it.
func requestAMX() bool {
	_, _, errno := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}
