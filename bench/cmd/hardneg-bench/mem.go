package main

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// procStatus returns a field of /proc/self/status in bytes (VmRSS, VmHWM), or 0.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// settledRSS collects garbage, returns freed memory to the OS and reports VmRSS.
func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return procStatus("VmRSS")
}
