package index

import (
	"slices"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/validate"
)

// Collection is a named set of items with a fixed dimension and metric.
type Collection struct {
	name   string
	dim    int
	metric Metric
	params Params

	// mu guards every field below. Writers hold it for a whole batch; Search holds it
	// shared for the whole candidate stream.
	mu       sync.RWMutex
	slots    map[string]uint32 // id → slot
	ids      []string          // slot → id; "" for a free slot
	groups   [][]string        // slot → groups (nil when none)
	versions []int64           // slot → version stamp
	vectors  *vectorStore      // slot → vector; see vectorStore for its own rules
	free     []uint32          // free slots, reused by later inserts
	lastSeq  uint64            // sequence of the last write applied

	// Persistence (snapshot.go, recover.go).
	createLSN   uint64    // LSN of the record that created the collection
	dropped     bool      // deleted; writes must not be logged for it any more
	loggedBytes int64     // log bytes written for it since its last snapshot
	snapshotAt  time.Time // when its last snapshot was written (or it was loaded)
}

func newCollection(cfg Config) *Collection {
	return &Collection{
		name:    cfg.Name,
		dim:     cfg.Dim,
		metric:  cfg.Metric,
		params:  cfg.Params,
		slots:   make(map[string]uint32),
		vectors: newVectorStore(cfg.Dim),
	}
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

// Dim returns the dimension of the collection's vectors.
func (c *Collection) Dim() int { return c.dim }

// Metric returns the collection's metric.
func (c *Collection) Metric() Metric { return c.metric }

// Params returns the collection's effective index parameters.
func (c *Collection) Params() Params { return c.params }

// Config returns the configuration the collection was created with (defaults filled).
func (c *Collection) Config() Config {
	return Config{Name: c.name, Dim: c.dim, Metric: c.metric, Params: c.params}
}

// UpsertResult counts what an upsert did.
type UpsertResult struct {
	Inserted, Replaced int
	Sequence           uint64
}

// ValidateBatch checks b against the collection without applying it. prefix is the
// batch's field path in the request, used in violation messages.
// Under cosine a valid batch's vectors are normalised in place.
func (c *Collection) ValidateBatch(b *Batch, prefix string) error {
	if err := validateBatch(b, c.dim, c.metric, prefix); err != nil {
		return err
	}
	if c.metric == Cosine {
		for i := range b.IDs {
			vec.Normalize(b.Row(i, c.dim))
		}
	}
	return nil
}

// applyUpsert applies a validated batch under the write lock. Existing ids are replaced
// in place.
func (c *Collection) applyUpsert(b *Batch, seq uint64) UpsertResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applyUpsertLocked(b, seq)
}

// applyUpsertLocked applies a validated batch; caller holds mu.
func (c *Collection) applyUpsertLocked(b *Batch, seq uint64) UpsertResult {
	var res UpsertResult
	for i, id := range b.IDs {
		var groups []string
		if b.Groups != nil && len(b.Groups[i]) > 0 {
			groups = slices.Clone(b.Groups[i])
		}
		var version int64
		if b.Versions != nil {
			version = b.Versions[i]
		}
		slot, ok := c.slots[id]
		if ok {
			res.Replaced++
		} else {
			res.Inserted++
			slot = c.allocSlot(id)
		}
		c.vectors.set(slot, b.Row(i, c.dim))
		c.groups[slot] = groups
		c.versions[slot] = version
	}
	c.lastSeq = max(c.lastSeq, seq)
	res.Sequence = seq
	return res
}

// allocSlot returns a slot for a new id, reusing freed slots first. Caller holds mu.
func (c *Collection) allocSlot(id string) uint32 {
	var slot uint32
	if n := len(c.free); n > 0 {
		slot = c.free[n-1]
		c.free = c.free[:n-1]
		c.ids[slot] = id
	} else {
		slot = uint32(len(c.ids))
		c.ids = append(c.ids, id)
		c.groups = append(c.groups, nil)
		c.versions = append(c.versions, 0)
	}
	c.slots[id] = slot
	return slot
}

// DeleteResult counts what a delete did.
type DeleteResult struct {
	Deleted, NotFound int
	Sequence          uint64
}

// applyDelete removes ids under the write lock.
func (c *Collection) applyDelete(ids []string, seq uint64) DeleteResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applyDeleteLocked(ids, seq)
}

// applyDeleteLocked removes ids; caller holds mu.
func (c *Collection) applyDeleteLocked(ids []string, seq uint64) DeleteResult {
	var res DeleteResult
	for _, id := range ids {
		slot, ok := c.slots[id]
		if !ok {
			res.NotFound++
			continue
		}
		delete(c.slots, id)
		c.ids[slot] = ""
		c.groups[slot] = nil
		c.versions[slot] = 0
		clear(c.vectors.Vector(slot))
		c.free = append(c.free, slot)
		res.Deleted++
	}
	c.lastSeq = max(c.lastSeq, seq)
	res.Sequence = seq
	return res
}

// Item is a stored item as returned by Get.
type Item struct {
	ID      string
	Vector  []float32 // a copy; nil unless requested
	Groups  []string
	Version int64
}

// Get returns the items with the given ids in order, and the ids that are missing.
func (c *Collection) Get(ids []string, withVectors bool) (items []Item, missing []string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		slot, ok := c.slots[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		it := Item{ID: id, Groups: slices.Clone(c.groups[slot]), Version: c.versions[slot]}
		if withVectors {
			it.Vector = slices.Clone(c.vectorAt(slot))
		}
		items = append(items, it)
	}
	return items, missing
}

// vectorAt returns the stored vector of slot. Caller holds mu.
func (c *Collection) vectorAt(slot uint32) []float32 {
	return c.vectors.Vector(slot)
}

// PrepareQuery validates a query vector and returns it ready for scoring (a normalised
// copy under cosine). field names it in violations.
func (c *Collection) PrepareQuery(v []float32, field string) ([]float32, error) {
	if msg := CheckVector(v, c.dim, c.metric); msg != "" {
		return nil, validate.Field(field, "%s", msg)
	}
	q := slices.Clone(v)
	if c.metric == Cosine {
		vec.Normalize(q)
	}
	return q, nil
}

// Similarity scores two prepared vectors in the collection's metric (higher is more
// similar).
func (c *Collection) Similarity(a, b []float32) float32 {
	return similarity(c.metric, a, b)
}

func similarity(m Metric, a, b []float32) float32 {
	if m == L2 {
		return -vec.L2Sq(a, b)
	}
	return vec.Dot(a, b)
}

// Stats is a snapshot of a collection's counters.
type Stats struct {
	Items        int
	Tombstones   int
	LastSequence uint64
	VectorBytes  int64
	GraphSearch  bool
}

// Stats returns the collection's counters.
func (c *Collection) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Stats{
		Items:        len(c.slots),
		LastSequence: c.lastSeq,
		VectorBytes:  c.vectors.bytes(),
	}
}
