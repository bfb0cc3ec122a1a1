package index

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/validate"
)

// Collection is a named set of items with a fixed dimension and metric.
type Collection struct {
	name   string
	dim    int
	metric engine.Metric
	params engine.Params
	// ephemeral: nothing of the collection is logged or snapshotted (engine.Config).
	ephemeral bool

	// guide is how Mine uses this collection with guide rules (guide.go).
	guide guideState

	// probe measures the first-pass lead mining needs on the graph (leadprobe.go).
	probe leadProbe

	// fbMu guards fb, the false-negative verdicts (feedback.go). Reads take it alone,
	// so verdicts are read before a search without waiting for writers; recording
	// verdicts (ReportFalseNegatives) takes it under writeMu and mu, as every logged
	// change does.
	fbMu rwMutex[feedbackRank]
	fb   feedback

	// graph indexes the collection's slots once graphOn is set (empty until then); it
	// has its own fine-grained locks and is searched while graphOn is set and the
	// collection holds ExactThreshold live items.
	graph *hnsw.Graph

	// compacting is set while a background compaction runs; bg tracks it.
	compacting atomic.Bool
	// dropping is set while DeleteCollection waits for writeMu: a graph build that the
	// write holding it runs (buildGraph) stops early, so that the delete does not wait
	// for a build of a collection about to go. Cleared if the delete fails.
	dropping atomic.Bool
	bg       sync.WaitGroup
	// unsynced counts slots retired (no longer live) that the graph does not yet hold
	// as tombstones: retire adds under mu, applyGraph subtracts once its Deletes are in.
	// A search under the read lock sees it only fall, so at 0 every ready graph node is
	// a live item (see graphSearch).
	unsynced atomic.Int64
	// graphWorkers bounds the goroutines of the graph work a write starts (inserts, the
	// build at ExactThreshold, compaction); 0: GOMAXPROCS. Options.GraphWorkers, set
	// once the collection serves (recovery replays with every core); guarded by writeMu.
	graphWorkers int
	// insertsSinceReach counts graph inserts since the graph last linked in what no
	// search reached (hnsw.Graph.LinkUnreachable); guarded by writeMu.
	insertsSinceReach int

	// compactedMu guards compacted: the slots that finished background compactions
	// dropped from the graph, handed to the next writer, which moves them to free.
	compactedMu mutex[compactedRank]
	compacted   []uint32

	// writeMu serialises writers: a batch's metadata change (under mu) and its graph
	// insertions (outside mu, so searches go on) complete before the next batch starts.
	writeMu mutex[writeRank]
	// closing is set under writeMu when the DB closes: no background work (a probe, a
	// compaction) starts after it, so Close's wait for that work is final.
	closing bool

	// mu guards every field below. Writers hold it while they change metadata; Search
	// holds it shared for the whole candidate stream.
	mu       rwMutex[collectionRank]
	slots    map[string]uint32 // id → slot
	ids      []string          // slot → id; "" for a slot that is not live
	groups   [][]string        // slot → groups (nil when none)
	versions []int64           // slot → version stamp
	vectors  *vectorStore      // slot → vector; see vectorStore for its own rules
	free     []uint32          // dead slots not in the graph (dropped, or never a node), reused by allocSlot
	// pins counts captured snapshot encodings still being written (frozenSnapshot).
	// While any is, the slots freed since go to heldFree (retire) or stay in compacted
	// (a compaction's), not to free, so the vectors they read stay as captured; only
	// the slots free at the capture are reused (reuseSlot). Raised under writeMu and mu
	// (shared), lowered without locks.
	pins     atomic.Int32
	heldFree []uint32
	lastSeq  uint64 // sequence of the last write applied
	through  uint64 // the LSN the newest snapshot is complete through (0: none)
	vecGen   uint64 // counts upsert batches, which write vectors; see ExactScores
	// vecWrites counts the vectors upserted (with versionWrites, the retires: a
	// measure of how much the content changed, for Background).
	vecWrites uint64
	sample    atomic.Pointer[sampleRows] // ScoreExact's sampled slots (preselectSample)
	// background is the last Background estimate (background.go).
	background atomic.Pointer[backgroundEstimate]
	// newest is the largest version of a live item (0 when none) and newestCount the
	// live items holding it, while newestKnown; writes keep them (noteVersion, retire),
	// retiring the last item of that version unsets newestKnown, and NewestVersion
	// recomputes them then. versionWrites counts those changes (versions.go).
	newest        int64
	newestCount   int
	newestKnown   bool
	versionWrites uint64
	// graphOn is set once the live count first reached ExactThreshold and the graph
	// was built over every live slot (buildGraph); from then on it follows every
	// write, even if the collection shrinks again. Until then writes leave the graph
	// empty and searches scan exactly. It changes only while writeMu is held too, so
	// a writer holding writeMu may read it without mu.
	graphOn bool

	// Persistence (snapshot.go, recover.go).
	createLSN uint64 // LSN of the record that created the collection
	// unrestored: set by replay on a collection made by a restore's creation record
	// (storage.Record.Restore), i.e. whose snapshot was not loaded: the restored
	// content is missing. restoredAt is the LSN of the record saying the restore
	// finished (0: none seen; every write to the collection follows it). Recovery undoes
	// such a restore when a crash cut it short, and refuses to start when it had
	// finished (undoUnfinishedRestores).
	unrestored  bool
	restoredAt  uint64
	dropped     bool      // deleted; writes must not be logged for it any more
	loggedBytes int64     // log bytes written for it since its last snapshot
	snapshotAt  time.Time // when its last snapshot was written (or it was loaded)
	// dirtySince is when a write first found loggedBytes at zero: the oldest write not
	// in a snapshot, while loggedBytes > 0 and it is after snapshotAt (see Stats).
	dirtySince time.Time
}

func newCollection(cfg engine.Config) (*Collection, error) {
	c := &Collection{
		name:      cfg.Name,
		dim:       cfg.Dim,
		metric:    cfg.Metric,
		params:    cfg.Params,
		ephemeral: cfg.Ephemeral,
		slots:     make(map[string]uint32),
		vectors:   newVectorStore(cfg.Dim, cfg.Params.Quantization == engine.QuantizationInt8),
	}
	g, err := hnsw.New(hnsw.Options{M: cfg.Params.M, EfConstruction: cfg.Params.EfConstruction, EfSearch: cfg.Params.EfSearch}, graphDistance(cfg.Metric), c.vectors)
	if err != nil {
		return nil, fmt.Errorf("collection %q: %w", cfg.Name, err)
	}
	c.setGraph(g)
	return c, nil
}

// setGraph makes g the collection's graph, searching on the int8 codes when the
// collection keeps them, scoring links with vec.DotRows where the distance is −dot
// (graphDistance), and choosing links with the relaxed heuristic where the
// metric allows it (graphSpace).
func (c *Collection) setGraph(g *hnsw.Graph) {
	if c.vectors.graphCodes != nil {
		g.UseCodes(c.vectors.graphCodes)
	}
	if c.metric != engine.L2 {
		g.UseDot()
	}
	g.UseSpace(graphSpace(c.metric), hnsw.DefaultPruneAlpha)
	c.graph = g
}

// graphSpace is what graphDistance measures, for the heuristic's relaxation: squared
// Euclidean distance under L2, −dot of unit vectors under cosine (stored normalised);
// dot-product vectors have any length, so their links are chosen by the plain
// heuristic.
func graphSpace(m engine.Metric) hnsw.Space {
	switch m {
	case engine.L2:
		return hnsw.SpaceL2Sq
	case engine.Cosine:
		return hnsw.SpaceUnitNegDot
	}
	return hnsw.SpaceOther
}

// graphDistance is the graph's distance for a metric (lower is closer).
func graphDistance(m engine.Metric) hnsw.Distance {
	if m == engine.L2 {
		return vec.L2Sq
	}
	return func(a, b []float32) float32 { return -vec.Dot(a, b) }
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

// Dim returns the dimension of the collection's vectors.
func (c *Collection) Dim() int { return c.dim }

// Metric returns the collection's metric.
func (c *Collection) Metric() engine.Metric { return c.metric }

// Params returns the collection's effective index parameters.
func (c *Collection) Params() engine.Params { return c.params }

// Config returns the configuration the collection was created with (defaults filled).
func (c *Collection) Config() engine.Config {
	return engine.Config{Name: c.name, Dim: c.dim, Metric: c.metric, Params: c.params, Ephemeral: c.ephemeral}
}

// ValidateBatch checks b against the collection without applying it. prefix is the
// batch's field path in the request, used in violation messages.
// Under cosine the batch's vectors are normalised in place; a vector that cannot be
// normalised to a finite unit vector is a violation naming its item.
func (c *Collection) ValidateBatch(b *engine.Batch, prefix string) error {
	return engine.ValidateBatch(b, c.dim, c.metric, prefix)
}

// applyUpsert applies a validated batch: metadata and vectors under the write lock
// (so readers see all of the batch or none of it), then the graph. A replaced id gets
// a new slot (see allocSlot) and its old slot is retired (see retire).
func (c *Collection) applyUpsert(b *engine.Batch, seq uint64) engine.UpsertResult {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	var w graphWork
	res := c.applyUpsertLocked(b, seq, &w)
	c.mu.Unlock()
	c.applyGraph(&w)
	return res
}

// graphWork is what a batch leaves for the graph once its metadata is applied.
type graphWork struct {
	insert, delete []uint32
}

// applyUpsertLocked applies a validated batch; caller holds writeMu and mu, and passes
// w to applyGraph after releasing mu.
func (c *Collection) applyUpsertLocked(b *engine.Batch, seq uint64, w *graphWork) engine.UpsertResult {
	var res engine.UpsertResult
	c.vecGen++
	c.vecWrites += uint64(len(b.IDs))
	for i, id := range b.IDs {
		var groups []string
		if b.Groups != nil && len(b.Groups[i]) > 0 {
			groups = slices.Clone(b.Groups[i])
		}
		var version int64
		if b.Versions != nil {
			version = b.Versions[i]
		}
		c.noteVersion(version) // before the retire of the item it replaces (noteVersion)
		if old, ok := c.slots[id]; ok {
			res.Replaced++
			c.retire(old, w)
		} else {
			res.Inserted++
		}
		slot := c.allocSlot(id)
		c.vectors.set(slot, b.Row(i, c.dim))
		c.groups[slot] = groups
		c.versions[slot] = version
		if c.graphOn {
			w.insert = append(w.insert, slot)
		}
	}
	c.lastSeq = max(c.lastSeq, seq)
	res.Sequence = seq
	return res
}

// allocSlot returns a slot for id: a free one when it can (see reuseSlot), else a new
// one. Caller holds writeMu and mu.
func (c *Collection) allocSlot(id string) uint32 {
	if slot, ok := c.reuseSlot(); ok {
		c.ids[slot] = id
		c.slots[id] = slot
		return slot
	}
	slot := uint32(len(c.ids))
	c.ids = append(c.ids, id)
	c.groups = append(c.groups, nil)
	c.versions = append(c.versions, 0)
	c.slots[id] = slot
	return slot
}

// reuseSlot takes a free slot and, if it was a graph node, releases it in the graph
// (hnsw.Graph.Reclaim), so that the caller can write its new vector and insert it
// again. Free slots are dead slots that a finished compaction dropped from the graph,
// or that were retired before the graph was built and so were never nodes (those
// need no Reclaim: nothing links to them). Reuse is safe because,
// while the caller holds mu, no search holds any slot; while it holds writeMu, no
// insert runs nor a snapshot captures; once a compaction has returned, only other
// dropped nodes link to the slots it dropped, so a compaction running now never reads
// them; and while a captured snapshot is being written (pins), free holds only slots
// that were free when it was captured, whose vectors it does not read
// (frozenSnapshot.Slot): the slots freed since wait in heldFree and compacted.
// Caller holds writeMu and mu.
func (c *Collection) reuseSlot() (uint32, bool) {
	if c.pins.Load() == 0 {
		c.takeHeld()
		if len(c.free) == 0 {
			c.takeCompacted()
		}
	}
	for len(c.free) > 0 {
		slot := c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
		if !c.graph.Inserted(slot) || c.graph.Reclaim(slot) {
			return slot, true
		}
	}
	return 0, false
}

// takeCompacted moves the slots that finished compactions dropped into free. Caller
// holds writeMu and mu, and no captured snapshot is being written.
func (c *Collection) takeCompacted() {
	c.compactedMu.Lock()
	c.free = append(c.free, c.compacted...)
	c.compacted = c.compacted[:0]
	c.compactedMu.Unlock()
}

// takeHeld moves the slots held back while captured snapshots were written into free.
// Caller holds writeMu and mu, and no captured snapshot is being written.
func (c *Collection) takeHeld() {
	c.free = append(c.free, c.heldFree...)
	c.heldFree = c.heldFree[:0]
}

// lockCapture takes the locks a snapshot or backup captures c under: writeMu, then mu
// shared. First, under mu, it makes every slot freed so far reusable while the capture
// is written (free), unless a capture made earlier is still being written. The caller
// unlocks mu (RUnlock), then writeMu.
func (c *Collection) lockCapture() {
	c.writeMu.Lock()
	c.mu.Lock()
	if c.pins.Load() == 0 {
		c.takeHeld()
		c.takeCompacted()
	}
	c.mu.Unlock()
	c.mu.RLock()
}

// retire takes a slot out of service: it stops being live at once. Without a graph
// it is free at once. With one it becomes a graph tombstone in applyGraph; its vector
// stays, since the graph routes through it until a compaction drops it and the slot
// becomes free. Caller holds writeMu and mu.
func (c *Collection) retire(slot uint32, w *graphWork) {
	c.versionWrites++
	if c.newestKnown && c.versions[slot] == c.newest {
		if c.newestCount--; c.newestCount == 0 {
			c.newestKnown = false
		}
	}
	delete(c.slots, c.ids[slot])
	c.ids[slot] = ""
	c.groups[slot] = nil
	if !c.graphOn {
		if c.pins.Load() > 0 {
			// A snapshot captured before is being written and reads its vector.
			c.heldFree = append(c.heldFree, slot)
		} else {
			c.free = append(c.free, slot)
		}
		return
	}
	w.delete = append(w.delete, slot)
	c.unsynced.Add(1)
}

// applyGraph brings the graph up to date with a batch. Caller holds writeMu, not mu.
// Without a graph it builds one if the batch took the live count to ExactThreshold
// (buildGraph). Tombstones go first, so new nodes do not link to them; a slot that
// the batch both allocated and retired (a stream batch that upserts and deletes an
// id) is only a node once inserted, so deletes are applied again afterwards (Delete
// of a deleted node does nothing).
func (c *Collection) applyGraph(w *graphWork) {
	if !c.graphOn {
		c.buildGraph()
		c.maybeProbe()
		return
	}
	for _, slot := range w.delete {
		c.graph.Delete(slot)
	}
	c.graph.InsertBatch(w.insert, c.graphWorkers)
	for _, slot := range w.delete {
		c.graph.Delete(slot)
	}
	c.unsynced.Add(-int64(len(w.delete)))
	c.probe.written += len(w.insert) + len(w.delete)
	// Every eighth of the graph inserted, link in what inserts left unreachable (a
	// running compaction does it when it finishes).
	if c.insertsSinceReach += len(w.insert); c.insertsSinceReach >= max(1024, c.graph.Len()/8) && c.graph.LinkUnreachable() {
		c.insertsSinceReach = 0
	}
	if !c.closing && c.graph.NeedsCompact() && c.compacting.CompareAndSwap(false, true) {
		c.bg.Add(1)
		workers := c.graphWorkers
		go func() {
			defer c.bg.Done()
			st := c.graph.Compact(workers)
			c.compactedMu.Lock()
			c.compacted = append(c.compacted, st.DroppedIDs...)
			c.compactedMu.Unlock()
			c.compacting.Store(false)
		}()
	}
	c.maybeProbe()
}

// buildGraph builds the graph over every live slot once the live count has reached
// ExactThreshold, then turns it on. Searches go on meanwhile, by exact scan; writers
// wait on writeMu, which the caller holds (not mu), so the live slots stay as listed.
// Free slots were never nodes and stay free.
func (c *Collection) buildGraph() {
	c.mu.RLock()
	if len(c.slots) < c.params.ExactThreshold {
		c.mu.RUnlock()
		return
	}
	live := make([]uint32, 0, len(c.slots))
	for _, slot := range c.slots {
		live = append(live, slot)
	}
	n := len(c.ids)
	c.mu.RUnlock()
	slices.Sort(live)
	c.vectors.startCodes(n) // under writeMu: no slot is written meanwhile
	if !c.graph.InsertBatchUnless(live, c.graphWorkers, &c.dropping) {
		// A delete of the collection waits: the graph stays off (searches scan), and
		// should the delete fail, the next write's build inserts the rest.
		return
	}
	c.graph.LinkUnreachable()
	c.mu.Lock()
	c.graphOn = true
	c.mu.Unlock()
}

// wait blocks until background work (compaction, the lead probe) has finished.
func (c *Collection) wait() { c.bg.Wait() }

// WaitIdle blocks until the collection's background work started so far (a graph
// compaction, a measurement of its first-pass lead) has finished: benchmarks and tests
// call it to measure the collection as it settles.
func (c *Collection) WaitIdle() { c.wait() }

// applyDelete removes ids.
func (c *Collection) applyDelete(ids []string, seq uint64) engine.DeleteResult {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	var w graphWork
	res := c.applyDeleteLocked(ids, seq, &w)
	c.mu.Unlock()
	c.applyGraph(&w)
	return res
}

// applyDeleteLocked removes ids; caller holds writeMu and mu, and passes w to
// applyGraph after releasing mu.
func (c *Collection) applyDeleteLocked(ids []string, seq uint64, w *graphWork) engine.DeleteResult {
	var res engine.DeleteResult
	for _, id := range ids {
		slot, ok := c.slots[id]
		if !ok {
			res.NotFound++
			continue
		}
		c.retire(slot, w)
		res.Deleted++
	}
	c.lastSeq = max(c.lastSeq, seq)
	res.Sequence = seq
	return res
}

// Get returns the items with the given ids in order, and the ids that are missing.
func (c *Collection) Get(ids []string, withVectors bool) (items []engine.Item, missing []string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		slot, ok := c.slots[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		it := engine.Item{ID: id, Groups: slices.Clone(c.groups[slot]), Version: c.versions[slot]}
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
	q := slices.Clone(v)
	if msg := engine.PrepareVector(q, c.dim, c.metric); msg != "" {
		return nil, validate.Field(field, "%s", msg)
	}
	return q, nil
}

// Similarity scores two prepared vectors in the collection's metric (higher is more
// similar).
func (c *Collection) Similarity(a, b []float32) float32 {
	return similarity(c.metric, a, b)
}

func similarity(m engine.Metric, a, b []float32) float32 {
	if m == engine.L2 {
		return -vec.L2Sq(a, b)
	}
	return vec.Dot(a, b)
}

// Unsnapshotted reports the log bytes written for the collection since its last
// snapshot (what a restart replays for it) and when the oldest of those writes was made
// (for writes replayed at start-up: when recovery loaded the collection). Both are zero
// while its snapshot holds every write, so an idle server whose writes are snapshotted
// never looks behind.
func (c *Collection) Unsnapshotted() (bytes int64, since time.Time) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.loggedBytes == 0 {
		return 0, time.Time{}
	}
	since = c.dirtySince
	if since.Before(c.snapshotAt) {
		since = c.snapshotAt
	}
	return c.loggedBytes, since
}

// Items returns how many live items the collection holds (cheaper than Stats).
func (c *Collection) Items() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.slots)
}

// Stats returns the collection's counters.
func (c *Collection) Stats() engine.Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	c.compactedMu.Lock()
	free := len(c.free) + len(c.heldFree) + len(c.compacted)
	c.compactedMu.Unlock()
	lead, recall := c.FirstPassLead()
	return engine.Stats{
		Items:         len(c.slots),
		Slots:         len(c.ids),
		FreeSlots:     free,
		Tombstones:    c.graph.Deleted(),
		LastSequence:  c.lastSeq,
		VectorBytes:   c.vectors.bytes(),
		GraphBytes:    c.graph.MemoryBytes(),
		GraphBuilt:    c.graphOn,
		GraphSearch:   c.useGraph(),
		FirstPassLead: lead,
		LeadRecall:    recall,
	}
}
