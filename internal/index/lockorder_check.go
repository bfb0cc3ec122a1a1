//go:build lockorder

package index

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// With -tags lockorder every Lock and RLock of a ranked lock checks, before it blocks,
// that the goroutine holds no lock of the same or a later rank (lockorder.go), and
// panics if it does: a broken order is reported where it happens, not as a deadlock
// that needs an unlucky interleaving.

// mutex is a sync.Mutex of rank R in the lock order, checked.
type mutex[R ranker] struct{ m sync.Mutex }

func (l *mutex[R]) Lock()   { acquire(l, rankOf[R]()); l.m.Lock() }
func (l *mutex[R]) Unlock() { l.m.Unlock(); release(l) }

// TryLock checks the order as Lock does, and takes the lock only if it is free.
func (l *mutex[R]) TryLock() bool {
	acquire(l, rankOf[R]())
	if l.m.TryLock() {
		return true
	}
	release(l)
	return false
}

// rwMutex is a sync.RWMutex of rank R in the lock order, checked.
type rwMutex[R ranker] struct{ m sync.RWMutex }

func (l *rwMutex[R]) Lock()    { acquire(l, rankOf[R]()); l.m.Lock() }
func (l *rwMutex[R]) Unlock()  { l.m.Unlock(); release(l) }
func (l *rwMutex[R]) RLock()   { acquire(l, rankOf[R]()); l.m.RLock() }
func (l *rwMutex[R]) RUnlock() { l.m.RUnlock(); release(l) }

// lockOrderChecked reports whether this build checks the lock order.
const lockOrderChecked = true

func rankOf[R ranker]() lockRank {
	var r R
	return r.rank()
}

type heldLock struct {
	lock any // the lock's address
	rank lockRank
}

// held lists, per goroutine, the ranked locks it holds in the order taken.
var held struct {
	sync.Mutex
	by map[uint64][]heldLock
}

func acquire(lock any, r lockRank) {
	g := goroutineID()
	held.Lock()
	hs := held.by[g]
	for _, h := range hs {
		if h.rank >= r {
			order := make([]string, len(hs))
			for i, h := range hs {
				order[i] = h.rank.String()
			}
			held.Unlock()
			panic(fmt.Sprintf("index: lock order broken: taking %s while holding %v", r, order))
		}
	}
	if held.by == nil {
		held.by = make(map[uint64][]heldLock)
	}
	held.by[g] = append(hs, heldLock{lock, r})
	held.Unlock()
}

// release forgets lock for the goroutine that took it: the caller's, or another one
// (a sync mutex may be unlocked by a goroutine other than the one that locked it).
func release(lock any) {
	g := goroutineID()
	held.Lock()
	defer held.Unlock()
	if drop(g, lock) {
		return
	}
	for other := range held.by {
		if drop(other, lock) {
			return
		}
	}
}

func drop(g uint64, lock any) bool {
	hs := held.by[g]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].lock == lock {
			hs = append(hs[:i], hs[i+1:]...)
			if len(hs) == 0 {
				delete(held.by, g)
			} else {
				held.by[g] = hs
			}
			return true
		}
	}
	return false
}

// goroutineID parses the current goroutine's id from the first line of its stack
// trace ("goroutine 123 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("index: cannot parse goroutine id: " + err.Error())
	}
	return id
}
