package index

import (
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

const (
	// backgroundSample bounds the live items Background averages: with 4,096 the
	// estimate's standard error is below 0.01 for any collection.
	backgroundSample = 4096
	// backgroundMinItems is the fewest live items Background estimates from.
	backgroundMinItems = 64
	// backgroundReuse is how long an estimate serves a collection that keeps changing,
	// while its live count stays within a quarter of the count it was made at.
	backgroundReuse = time.Second
)

// backgroundEstimate is a Background result and what it was computed from.
type backgroundEstimate struct {
	gen, writes uint64 // vecGen and versionWrites then
	live        int
	at          time.Time
	b           float64
	ok          bool
}

// Background returns the collection's background similarity: the mean cosine of two
// distinct live items, estimated from up to 4,096 of them taken at an even stride over
// the slots. Mining reads the cosine defaults on the collection's scale from it
// (mining.BackgroundReference). ok is false under dot and L2 (scores without a fixed
// scale) and with fewer than 64 live items. An estimate is kept until the vectors
// change, and while they keep changing for up to a second as long as the live count
// stays within a quarter of what it was.
func (c *Collection) Background() (b float64, ok bool) {
	if c.metric != engine.Cosine {
		return 0, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	live := len(c.slots)
	if e := c.background.Load(); e != nil {
		same := e.gen == c.vecGen && e.writes == c.versionWrites && e.live == live
		if same || time.Since(e.at) < backgroundReuse && 4*abs(live-e.live) <= e.live {
			return e.b, e.ok
		}
	}
	e := &backgroundEstimate{gen: c.vecGen, writes: c.versionWrites, live: live, at: time.Now()}
	e.b, e.ok = c.measureBackground(live)
	c.background.Store(e)
	return e.b, e.ok
}

// measureBackground estimates the mean cosine of two distinct live items (unit vectors
// under cosine) from a sample: with m the sample's sum and n its size, the mean over the
// sample's distinct pairs is (‖m‖² − n) / (n(n − 1)). Caller holds c.mu (read).
func (c *Collection) measureBackground(live int) (float64, bool) {
	if live < backgroundMinItems {
		return 0, false
	}
	stride := max(1, len(c.ids)/backgroundSample)
	sum := make([]float64, c.dim)
	n := 0
	for slot := 0; slot < len(c.ids) && n < backgroundSample; slot += stride {
		if c.ids[slot] == "" {
			continue
		}
		for i, x := range c.vectorAt(uint32(slot)) {
			sum[i] += float64(x)
		}
		n++
	}
	if n < backgroundMinItems {
		return 0, false
	}
	var sq float64
	for _, x := range sum {
		sq += x * x
	}
	return (sq - float64(n)) / (float64(n) * float64(n-1)), true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
