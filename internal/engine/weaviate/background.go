package weaviate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

// backgroundMaxAge bounds how long a background estimate is kept: other miner-servers
// write to the same collections, and this one does not see their writes. An estimate
// that found no background (fewer than 64 items) is kept for unknownMaxAge: reading a
// few items again costs little, and the items a collection is created for come soon.
const (
	backgroundMaxAge = time.Minute
	unknownMaxAge    = time.Second
)

// backgroundState is a collection's background estimate and its refresh lock.
type backgroundState struct {
	mu     sync.Mutex                         // held while one caller measures
	est    atomic.Pointer[backgroundEstimate] // the last estimate; nil before the first
	writes atomic.Uint64                      // items this process upserted or deleted here
}

// backgroundEstimate is a Background result and when and from what it was made.
type backgroundEstimate struct {
	at     time.Time
	writes uint64 // backgroundState.writes then
	items  int    // the collection's items then
	b      float64
	ok     bool
}

// fresh reports whether e still stands: younger than backgroundMaxAge (unknownMaxAge
// when it found no background), and fewer items written here since than a sixteenth of
// those the collection held (64 at least).
func (e *backgroundEstimate) fresh(now time.Time, writes uint64) bool {
	age := backgroundMaxAge
	if !e.ok {
		age = unknownMaxAge
	}
	return now.Sub(e.at) < age && writes-e.writes < uint64(max(engine.BackgroundMinItems, e.items/16))
}

// Background returns the collection's background similarity: the mean cosine of two
// distinct items (engine.PairMean) of the first 4,096 items in object-id order. Object
// ids are SHA-1 hashes of the item ids (objectID), so the first 4,096 of them are a
// sample that neither the order of writes nor the ids' own order decides, and the same
// items give the same sample. ok is false under dot and L2, with fewer than 64 items,
// and while the cluster cannot be read.
//
// An estimate is kept for a minute (one that found no background for a second), or
// until this process wrote or deleted as many items as a sixteenth of the collection
// held (64 at least). A stale estimate that holds a background is still returned while
// a new one is measured in the background, so that mining during an ingest does not
// wait for the read; without one the caller measures (one caller at a time, the others
// wait for its result).
func (c *Collection) Background() (b float64, ok bool) {
	if c.cfg.Metric != engine.Cosine {
		return 0, false
	}
	bg := &c.bg
	if e := bg.est.Load(); e != nil {
		fresh := e.fresh(time.Now(), bg.writes.Load())
		if !fresh && e.ok {
			c.refreshBackground()
		}
		if fresh || e.ok {
			return e.b, e.ok
		}
	}
	bg.mu.Lock()
	defer bg.mu.Unlock()
	if e := bg.est.Load(); e != nil && e.fresh(time.Now(), bg.writes.Load()) {
		return e.b, e.ok // measured while this caller waited
	}
	return c.measureBackground()
}

// refreshBackground measures the background again in a goroutine of its own, unless a
// measurement runs or the engine is closed (Close waits for the goroutine).
func (c *Collection) refreshBackground() {
	if !c.bg.mu.TryLock() {
		return
	}
	e := c.e
	e.sweepMu.Lock()
	if e.closed.Load() {
		e.sweepMu.Unlock()
		c.bg.mu.Unlock()
		return
	}
	e.refreshes.Add(1)
	e.sweepMu.Unlock()
	go func() {
		defer e.refreshes.Done()
		defer c.bg.mu.Unlock()
		c.measureBackground()
	}()
}

// measureBackground reads a sample, stores the estimate and returns it; when the read
// fails it keeps and returns the previous estimate. Caller holds c.bg.mu.
func (c *Collection) measureBackground() (b float64, ok bool) {
	writes := c.bg.writes.Load()
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	pm, items, err := c.sampleBackground(ctx)
	if err != nil {
		if e := c.bg.est.Load(); e != nil {
			return e.b, e.ok
		}
		return 0, false
	}
	n := &backgroundEstimate{at: time.Now(), writes: writes, items: items}
	n.b, n.ok = pm.Mean()
	c.bg.est.Store(n)
	return n.b, n.ok
}

// LastBackground returns the last estimate Background made, without measuring (for
// metrics scrapes, which should not read the cluster for it); ok is false before the
// first.
func (c *Collection) LastBackground() (b float64, ok bool) {
	if e := c.bg.est.Load(); e != nil {
		return e.b, e.ok
	}
	return 0, false
}

// sampleBackground reads the vectors of the collection's first engine.BackgroundSample
// objects in object-id order (a cursor from the nil UUID), and counts the collection's
// objects: the sample's size when it is smaller, else Weaviate's count.
func (c *Collection) sampleBackground(ctx context.Context) (*engine.PairMean, int, error) {
	rs, err := c.search(ctx, &pb.SearchRequest{Limit: engine.BackgroundSample, After: "00000000-0000-0000-0000-000000000000",
		ConsistencyLevel: &one, Metadata: &pb.MetadataRequest{Uuid: true, Vector: true}})
	if err != nil {
		return nil, 0, err
	}
	pm := engine.NewPairMean(c.cfg.Dim)
	for _, r := range rs {
		if v := vectorOf(r); len(v) == c.cfg.Dim {
			pm.Add(v)
		}
	}
	items := len(rs)
	if items >= engine.BackgroundSample {
		if items, err = c.count(ctx); err != nil {
			return nil, 0, err
		}
	}
	return pm, items, nil
}
