package mining

import "runtime"

// parallelism is how many anchors are mined at once.
func parallelism() int { return runtime.GOMAXPROCS(0) }
