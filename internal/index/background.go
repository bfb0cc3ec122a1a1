package index

import (
	"math/rand/v2"

	"github.com/hardneg/hardneg/internal/engine"
)

const (
	backgroundSample   = engine.BackgroundSample
	backgroundMinItems = engine.BackgroundMinItems
)

// backgroundEstimate is a Background result and what it was computed from.
type backgroundEstimate struct {
	writes uint64 // vecWrites + versionWrites then
	live   int
	b      float64
	ok     bool
}

// Background returns the collection's background similarity: the mean cosine of two
// distinct live items — of all of them up to 4,096 live items, else of a sample of
// 4,096 (stratified over the slots: one live item drawn at random from each of 4,096
// equal runs of slots, so that neither the order items were written in nor a pattern of
// deletes decides which are read). Mining reads the cosine defaults on the collection's
// scale from it (mining.BackgroundReference). ok is false under dot and L2 (scores
// without a fixed scale) and with fewer than 64 live items. An estimate is kept until
// as many items were written or deleted as a sixteenth of the live count it was made
// at (64 at least), or the live count moved by a quarter or across 64: a function of
// the writes, not of time, so the same writes give the same thresholds.
func (c *Collection) Background() (b float64, ok bool) {
	if c.metric != engine.Cosine {
		return 0, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	live, writes := len(c.slots), c.vecWrites+c.versionWrites
	if e := c.background.Load(); e != nil && writes-e.writes < uint64(max(backgroundMinItems, e.live/16)) &&
		4*abs(live-e.live) <= e.live && (live >= backgroundMinItems) == (e.live >= backgroundMinItems) {
		return e.b, e.ok
	}
	e := &backgroundEstimate{writes: writes, live: live}
	e.b, e.ok = c.measureBackground(live)
	c.background.Store(e)
	return e.b, e.ok
}

// measureBackground estimates the mean cosine of two distinct live items (unit vectors
// under cosine) from the sample Background describes (engine.PairMean). The draws are
// seeded by the slot count, so that the same layout gives the same sample. Caller holds
// c.mu (read).
func (c *Collection) measureBackground(live int) (float64, bool) {
	if live < backgroundMinItems {
		return 0, false
	}
	pm := engine.NewPairMean(c.dim)
	add := func(slot int) { pm.Add(c.vectorAt(uint32(slot))) }
	slots := len(c.ids)
	if live <= backgroundSample {
		for slot, id := range c.ids {
			if id != "" {
				add(slot)
			}
		}
	} else {
		r := rand.New(rand.NewPCG(uint64(slots), 0x6261636b67726f75))
		for k := range backgroundSample {
			// One live slot of the run [lo, hi), uniformly.
			lo, hi := k*slots/backgroundSample, (k+1)*slots/backgroundSample
			n := 0
			for _, id := range c.ids[lo:hi] {
				if id != "" {
					n++
				}
			}
			if n == 0 {
				continue
			}
			j := r.IntN(n)
			for slot := lo; ; slot++ {
				if c.ids[slot] != "" {
					if j == 0 {
						add(slot)
						break
					}
					j--
				}
			}
		}
	}
	return pm.Mean()
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
