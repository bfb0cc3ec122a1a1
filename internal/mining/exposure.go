package mining

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// DefaultExposureWindow is the longest a collection's exposure window gets, in
// negatives asked for: the counts restart after every min(DefaultExposureWindow,
// items in the collection) negatives Mine was asked for from the collection, returned
// or short, and the previous window's counts are kept for RefreshQueue.
//
// A window measured in negatives asked for moves on as training does, whatever the cap
// lets through: measured in negatives returned, a collection whose items had all
// reached the cap returned nothing more, so the window never ended and every capped
// request came back empty from then on. A window no longer than the collection keeps
// the cap relative: in a window each item is returned once on average, and
// max_exposures = n lets none be returned more than n times as often as that.
const DefaultExposureWindow = 100000

// Exposure counts how often each item of one collection was returned as a negative,
// over tumbling windows of negatives asked for, in memory (LoopState encodes it, so
// the service can keep it across restarts). Memory is bounded by two windows of
// distinct ids. Safe for concurrent use.
//
// Mine records every returned negative, and each anchor's shortfall, into
// Request.Exposure, in anchor order, so the counts depend only on the sequence of
// requests and the collection's size.
type Exposure struct {
	window int
	// mu guards every field below.
	mu sync.Mutex
	// served counts the negatives asked for in the current window: returned, or short.
	served int
	// items is the collection's item count at the last request (0: not known); the
	// window is no longer (span).
	items int
	cur   map[string]uint32 // id → times served in the current window
	prev  map[string]uint32 // the previous window's counts
	// windows counts completed windows.
	windows uint64
	// rot maps an anchor key to its rotation state (an element of lru holding a
	// *rotation); lru orders keys by last use, most recent first.
	rot map[string]*list.Element
	lru *list.List
	// rotIDs counts the served negatives every key's cycle holds (MaxRotationEntries).
	rotIDs int
	// changes counts the changes above (Changes).
	changes uint64
	// stateBytes is the size of the last encoding of the tracker (LoopState.Encode).
	stateBytes atomic.Int64
}

// NewExposure returns an empty tracker whose window is at most window negatives asked
// for (DefaultExposureWindow when ≤ 0).
func NewExposure(window int) *Exposure {
	if window <= 0 {
		window = DefaultExposureWindow
	}
	return &Exposure{window: window, cur: map[string]uint32{}, prev: map[string]uint32{}, rot: map[string]*list.Element{}, lru: list.New()}
}

// spanLocked is the current window's length: the tracker's window, or the collection's
// item count when that is known and smaller. x.mu must be held.
func (x *Exposure) spanLocked() int {
	if x.items > 0 && x.items < x.window {
		return x.items
	}
	return x.window
}

// itemCounter is implemented by searchers that count their items cheaply (the embedded
// engine's collections); the exposure window is no longer than that count. Elsewhere
// it is DefaultExposureWindow.
type itemCounter interface{ Items() int }

// searcherItems returns s's item count where it tells it cheaply, else 0.
func searcherItems(s Searcher) int {
	if ic, ok := s.(itemCounter); ok {
		return ic.Items()
	}
	return 0
}

// setItems tells the tracker how many items the collection holds (≤ 0: not known).
func (x *Exposure) setItems(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.items = max(n, 0)
}

// serveLocked counts one served negative; x.mu must be held.
func (x *Exposure) serveLocked(id string) {
	x.changes++
	x.cur[id]++
	x.advanceLocked(1)
}

// advanceLocked moves the window on by n negatives asked for, starting a new window
// when it is full. x.mu must be held.
func (x *Exposure) advanceLocked(n int) {
	if n <= 0 {
		return
	}
	x.changes++
	x.served += n
	if x.served >= x.spanLocked() {
		x.prev, x.cur = x.cur, make(map[string]uint32, len(x.cur))
		x.served = 0
		x.windows++
	}
}

// short moves the window on by n negatives asked for that were not returned.
func (x *Exposure) short(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.advanceLocked(n)
}

// record counts the negatives of results, in order.
func (x *Exposure) record(results []Result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range results {
		for _, n := range results[i].Negatives {
			x.serveLocked(n.ID)
		}
		x.advanceLocked(results[i].Shortfall)
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
	// Window is the current window's length in negatives asked for (see
	// DefaultExposureWindow); Served the negatives asked for in it so far, returned or
	// short; Windows the windows completed.
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
	st := ExposureStats{Window: x.spanLocked(), Served: x.served, Windows: x.windows, Items: len(x.cur), RotationKeys: len(x.rot)}
	for _, n := range x.cur {
		st.Max = max(st.Max, n)
	}
	return st
}
