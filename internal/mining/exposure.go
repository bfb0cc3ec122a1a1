package mining

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// DefaultExposureWindow is the length of a collection's exposure window, in negatives
// served: the counts restart after every DefaultExposureWindow negatives Mine returns
// from the collection, and the previous window's counts are kept for RefreshQueue.
const DefaultExposureWindow = 100000

// Exposure counts how often each item of one collection was returned as a negative,
// over tumbling windows of a fixed number of served negatives, in memory (LoopState
// encodes it, so the service can keep it across restarts). Memory is bounded by two
// windows of distinct ids. Safe for concurrent use.
//
// Mine records every returned negative into Request.Exposure after the request, in
// anchor order, so the counts depend only on the sequence of requests.
type Exposure struct {
	window int
	// mu guards every field below.
	mu     sync.Mutex
	served int               // negatives served in the current window
	cur    map[string]uint32 // id → times served in the current window
	prev   map[string]uint32 // the previous window's counts
	// windows counts completed windows.
	windows uint64
	// rot maps an anchor key to its rotation state (an element of lru holding a
	// *rotation); lru orders keys by last use, most recent first.
	rot map[string]*list.Element
	lru *list.List
	// changes counts the changes above (Changes).
	changes uint64
	// stateBytes is the size of the last encoding of the tracker (LoopState.Encode).
	stateBytes atomic.Int64
}

// NewExposure returns an empty tracker whose window is window served negatives
// (DefaultExposureWindow when ≤ 0).
func NewExposure(window int) *Exposure {
	if window <= 0 {
		window = DefaultExposureWindow
	}
	return &Exposure{window: window, cur: map[string]uint32{}, prev: map[string]uint32{}, rot: map[string]*list.Element{}, lru: list.New()}
}

// serveLocked counts one served negative; x.mu must be held.
func (x *Exposure) serveLocked(id string) {
	x.changes++
	x.cur[id]++
	x.served++
	if x.served >= x.window {
		x.prev, x.cur = x.cur, make(map[string]uint32, len(x.cur))
		x.served = 0
		x.windows++
	}
}

// record counts the negatives of results, in order.
func (x *Exposure) record(results []Result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range results {
		for _, n := range results[i].Negatives {
			x.serveLocked(n.ID)
		}
	}
}

// Recent returns a copy of the recent counts: the current and the previous window's,
// added.
func (x *Exposure) Recent() map[string]uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]uint64, len(x.cur)+len(x.prev))
	for id, n := range x.prev {
		out[id] += uint64(n)
	}
	for id, n := range x.cur {
		out[id] += uint64(n)
	}
	return out
}

// ExposureStats describe a tracker's current window.
type ExposureStats struct {
	// Window is the window length in served negatives; Served the negatives served in
	// the current window; Windows the windows completed.
	Window, Served int
	Windows        uint64
	// Items is the number of distinct items served in the current window, and Max the
	// highest count of one of them.
	Items int
	Max   uint32
	// RotationKeys is the number of anchor keys with rotation state.
	RotationKeys int
}

// Stats returns the current window's statistics.
func (x *Exposure) Stats() ExposureStats {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := ExposureStats{Window: x.window, Served: x.served, Windows: x.windows, Items: len(x.cur), RotationKeys: len(x.rot)}
	for _, n := range x.cur {
		st.Max = max(st.Max, n)
	}
	return st
}
