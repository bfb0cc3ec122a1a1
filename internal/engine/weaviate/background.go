package weaviate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

const (
	// backgroundMaxAge bounds how long a background estimate is kept: other
	// miner-servers write to the same collections, and this one does not see their
	// writes. An estimate that found no background (fewer than 64 items) is kept for
	// unknownMaxAge: reading a few items again costs little, and the items a collection
	// is created for come soon.
	backgroundMaxAge = time.Minute
	unknownMaxAge    = time.Second
	// backgroundRetry: after a failed read, none is tried for this long; callers get
	// the last estimate, or none, meanwhile.
	backgroundRetry = 10 * time.Second
	// backgroundTimeout bounds one measurement, all its pages together; each page is
	// one call, not retried.
	backgroundTimeout = 10 * time.Second
	// backgroundPage is the objects one cursor page reads: a reply carries each vector
	// twice (as floats and as bytes), so 512 vectors of 4,096 dimensions make 16 MiB,
	// well within gRPC's message limits.
	backgroundPage = 512
)

// cursorStart is the object id a cursor over a whole collection starts after: below
// every other UUID. (A request without After is not a cursor request, and the order of
// its results is not promised to be the cursor's.)
const cursorStart = "00000000-0000-0000-0000-000000000000"

// backgroundState is a collection's background estimate and its refresh lock.
type backgroundState struct {
	mu      sync.Mutex                         // held while one caller measures
	est     atomic.Pointer[backgroundEstimate] // the last estimate; nil before the first
	writes  atomic.Uint64                      // items this process upserted or deleted here
	retryAt atomic.Int64                       // Unix ns before which no read is tried (after a failed one)
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

// result is e's background; none for a nil e.
func (e *backgroundEstimate) result() (float64, bool) {
	if e == nil {
		return 0, false
	}
	return e.b, e.ok
}

// current returns the last estimate (nil before the first) and whether a new read is
// due: the estimate is not fresh, and no read failed within backgroundRetry.
func (bg *backgroundState) current(now time.Time) (*backgroundEstimate, bool) {
	e := bg.est.Load()
	if e != nil && e.fresh(now, bg.writes.Load()) {
		return e, false
	}
	return e, now.UnixNano() >= bg.retryAt.Load()
}

// Background returns the collection's background similarity: the mean cosine of two
// distinct items (engine.PairMean) of the first 4,096 items in object-id order. Object
// ids are SHA-1 hashes of the item ids (objectID), so the first 4,096 of them are a
// sample that neither the order of writes nor the ids' own order decides, and the same
// items give the same sample. ok is false under dot and L2, with fewer than 64 items,
// and when the cluster could not be read and no earlier estimate found one.
//
// An estimate is kept for a minute (one that found no background for a second), or
// until this process wrote or deleted as many items as a sixteenth of the collection
// held (64 at least). A stale estimate that found a background is still returned while
// a new one is read in the background, so that mining during an ingest does not wait
// for the read; without one, the caller reads (one caller at a time, the others wait
// for its result). After a failed read none is tried for 10 seconds.
func (c *Collection) Background() (b float64, ok bool) {
	if c.cfg.Metric != engine.Cosine {
		return 0, false
	}
	bg := &c.bg
	e, due := bg.current(time.Now())
	if !due {
		return e.result()
	}
	if e != nil && e.ok {
		c.refreshBackground()
		return e.b, e.ok
	}
	bg.mu.Lock()
	defer bg.mu.Unlock()
	if e, due := bg.current(time.Now()); !due {
		return e.result() // read while this caller waited
	}
	return c.measureBackground()
}

// refreshBackground reads the background again in a goroutine of its own, unless a
// read runs or the engine is closed (Close cancels the read and waits for it).
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
		if _, due := c.bg.current(time.Now()); due {
			c.measureBackground()
		}
	}()
}

// measureBackground reads a sample, stores the estimate and returns it; when the read
// fails it returns the previous estimate and holds off the next read for
// backgroundRetry. Caller holds c.bg.mu.
func (c *Collection) measureBackground() (b float64, ok bool) {
	writes := c.bg.writes.Load()
	ctx, cancel := c.e.c.ctx(c.e.stop)
	defer cancel()
	ctx, cancelRead := context.WithTimeout(ctx, backgroundTimeout)
	defer cancelRead()
	pm, items, err := c.sampleBackground(ctx)
	if err != nil {
		c.bg.retryAt.Store(time.Now().Add(backgroundRetry).UnixNano())
		return c.bg.est.Load().result()
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
	return c.bg.est.Load().result()
}

// sampleBackground reads the vectors of the collection's first engine.BackgroundSample
// objects in object-id order (Weaviate's cursor from the nil UUID, backgroundPage
// objects a call), and counts the collection's objects: the sample's size when it is
// smaller, else Weaviate's count.
func (c *Collection) sampleBackground(ctx context.Context) (*engine.PairMean, int, error) {
	pm := engine.NewPairMean(c.cfg.Dim)
	read := 0
	after := cursorStart
	for read < engine.BackgroundSample {
		limit := min(backgroundPage, engine.BackgroundSample-read)
		rs, err := c.searchBy(ctx, &pb.SearchRequest{Limit: uint32(limit), After: after, ConsistencyLevel: &one,
			Properties: &pb.PropertiesRequest{}, Metadata: &pb.MetadataRequest{Uuid: true, Vector: true}}, c.e.c.once)
		if err != nil {
			return nil, 0, err
		}
		for _, x := range rs {
			if v := vectorOf(x); len(v) == c.cfg.Dim {
				pm.Add(v)
			}
			after = x.GetMetadata().GetId()
		}
		read += len(rs)
		if len(rs) < limit {
			return pm, read, nil
		}
	}
	items, err := c.count(ctx)
	return pm, items, err
}
