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
	items  int    // items read
	b      float64
	ok     bool
}

// fresh reports whether e still stands: younger than backgroundMaxAge (unknownMaxAge
// when it found no background), and fewer items written here since than a sixteenth of
// those it read (64 at least).
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
// until this process wrote or deleted as many items as a sixteenth of those it read (64
// at least). The caller that finds it stale measures again; callers meanwhile use the
// stale estimate when it holds a background, and wait for the new one when not.
func (c *Collection) Background() (b float64, ok bool) {
	if c.cfg.Metric != engine.Cosine {
		return 0, false
	}
	bg := &c.bg
	e := bg.est.Load()
	if e != nil && e.fresh(time.Now(), bg.writes.Load()) {
		return e.b, e.ok
	}
	if e != nil && e.ok {
		if !bg.mu.TryLock() {
			return e.b, e.ok // another caller is measuring
		}
	} else {
		bg.mu.Lock()
	}
	defer bg.mu.Unlock()
	if e := bg.est.Load(); e != nil && e.fresh(time.Now(), bg.writes.Load()) {
		return e.b, e.ok // measured while this caller waited
	}
	writes := bg.writes.Load()
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	pm, err := c.sampleBackground(ctx)
	if err != nil {
		if e != nil {
			return e.b, e.ok
		}
		return 0, false
	}
	n := &backgroundEstimate{at: time.Now(), writes: writes, items: pm.Len()}
	n.b, n.ok = pm.Mean()
	bg.est.Store(n)
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
// objects in object-id order (a cursor from the nil UUID).
func (c *Collection) sampleBackground(ctx context.Context) (*engine.PairMean, error) {
	rs, err := c.search(ctx, &pb.SearchRequest{Limit: engine.BackgroundSample, After: "00000000-0000-0000-0000-000000000000",
		ConsistencyLevel: &one, Metadata: &pb.MetadataRequest{Uuid: true, Vector: true}})
	if err != nil {
		return nil, err
	}
	pm := engine.NewPairMean(c.cfg.Dim)
	for _, r := range rs {
		if v := vectorOf(r); len(v) == c.cfg.Dim {
			pm.Add(v)
		}
	}
	return pm, nil
}
