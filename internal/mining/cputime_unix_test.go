//go:build unix

package mining

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time the process has used, so that
// benchmarks on a shared machine can report what they cost apart from the time spent
// waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
