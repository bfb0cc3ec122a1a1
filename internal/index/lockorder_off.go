//go:build !lockorder

package index

import "sync"

// mutex is a sync.Mutex of rank R in the lock order (lockorder.go).
type mutex[R ranker] struct{ sync.Mutex }

// rwMutex is a sync.RWMutex of rank R in the lock order (lockorder.go).
type rwMutex[R ranker] struct{ sync.RWMutex }

// lockOrderChecked reports whether this build checks the lock order.
const lockOrderChecked = false
