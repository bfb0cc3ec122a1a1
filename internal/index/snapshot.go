package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/storage"
)

// Snapshots hold one collection as of a log sequence number, in package storage's
// format (storage.WriteSnapshot, storage.ReadSnapshot), which reaches the collection
// through frozenSnapshot above and snapSink below.
//
// Slot numbers are internal: the log records ids, and replaying it on top of a
// snapshot allocates slots afresh. Free slots (dead, and not graph nodes: dropped by
// compaction or never inserted) are not stored as such; loading finds them from the
// graph's node flags (checkGraph), or takes every dead slot when there is no graph,
// so they are reused after a restart as before it.
//
// Files are <collection>.<LSN complete through, 20 digits>.snap in the snapshots directory
// (storage.Dir: naming, listing, atomic writes, removal). The newest snapKeep of each
// collection are kept, so a snapshot that fails to verify falls back to the previous
// one; the WAL keeps every record above the older one.
const snapKeep = 2

// writeSnapshot encodes c and the writer table to w, complete through the LSN through
// (see storage.SnapshotHeader.Through; WriteSnapshot raises it to c's last write).
// Caller holds c.writeMu and c.mu (shared) until it returns, so metadata and graph agree:
// the capture of a background snapshot (freeze), written while the locks are held.
func (c *Collection) writeSnapshot(w io.Writer, writers map[string]storage.WriterState, through uint64) error {
	f, err := c.freeze(writers, through)
	if err != nil {
		return err
	}
	defer f.release()
	return f.write(w)
}

// frozenSnapshot is a collection's snapshot encoding captured under its locks
// (Collection.freeze) and written after they are released, so that writers to the
// collection wait only while it is captured, not while it is written: the encoding of
// a collection of a million 384-d vectors is over 2 GB, and writing it held every
// write to the collection for seconds. The header, each slot's id, version and groups,
// the false-negative verdicts and the graph's encoding are copied; the vectors, the
// bulk of it, are read in place while it is written. Vectors are written only into a
// new or a reused slot (applyUpsertLocked), and meanwhile only the slots free at the
// capture are reused, whose vectors are not read (Collection.pins, reuseSlot), so every
// vector read is the one captured.
type frozenSnapshot struct {
	c        *Collection
	header   storage.SnapshotHeader
	ids      []string
	versions []int64
	groups   [][]string
	free     []bool // slots free at the capture: their vectors are not read (zeros)
	zeros    []float32
	verdicts []frozenVerdicts
	graph    []byte // the graph's encoding; nil: no graph
	released bool
}

type frozenVerdicts struct {
	key string
	ids []string
}

// freeze captures c's snapshot encoding as of now (see frozenSnapshot), complete
// through the LSN through, and pins c's slots until release. Caller holds c.writeMu and
// c.mu (shared), as c.lockCapture takes them.
func (c *Collection) freeze(writers map[string]storage.WriterState, through uint64) (*frozenSnapshot, error) {
	f := &frozenSnapshot{
		c:        c,
		header:   storage.SnapshotHeader{Config: c.Config(), CreateLSN: c.createLSN, LSN: c.lastSeq, Through: through, Writers: writers},
		ids:      slices.Clone(c.ids),
		versions: slices.Clone(c.versions),
		groups:   slices.Clone(c.groups), // each slot's groups slice is replaced, never changed
		free:     make([]bool, len(c.ids)),
		zeros:    make([]float32, c.dim),
	}
	// A free slot is dead and no graph node: what a loaded snapshot holds in it is
	// never read, and it may be reused (its vector rewritten) while this is written.
	for _, slot := range c.free {
		f.free[slot] = true
	}
	c.RangeFalseNegatives(func(key string, ids []string) bool {
		f.verdicts = append(f.verdicts, frozenVerdicts{key, ids})
		return true
	})
	if c.graphOn {
		var buf bytes.Buffer
		buf.Grow(len(c.ids) * 4 * (2*c.params.M + 2))
		if _, err := c.graph.WriteTo(&buf); err != nil {
			return nil, err
		}
		f.graph = buf.Bytes()
	}
	c.pins.Add(1)
	return f, nil
}

// write encodes the captured snapshot to w (storage.WriteSnapshot); c's locks need
// not be held.
func (f *frozenSnapshot) write(w io.Writer) error {
	return storage.WriteSnapshot(w, f.header, f)
}

// release unpins c's slots; it may be called more than once.
func (f *frozenSnapshot) release() {
	if !f.released {
		f.released = true
		f.c.pins.Add(-1)
	}
}

func (f *frozenSnapshot) Slots() int { return len(f.ids) }

func (f *frozenSnapshot) Slot(slot int) (string, int64, []string, []float32) {
	if f.free[slot] {
		return "", 0, nil, f.zeros
	}
	return f.ids[slot], f.versions[slot], f.groups[slot], f.c.vectorAt(uint32(slot))
}

func (f *frozenSnapshot) RangeFalseNegatives(fn func(key string, ids []string) bool) {
	for _, v := range f.verdicts {
		if !fn(v.key, v.ids) {
			return
		}
	}
}

func (f *frozenSnapshot) HasGraph() bool { return f.graph != nil }

func (f *frozenSnapshot) WriteGraph(w io.Writer) error {
	_, err := w.Write(f.graph)
	return err
}

// encodingBytes estimates the size of c's snapshot encoding (a snapshot's or a
// backup's file), for the free-space check before writing one: vectors, ids, versions,
// groups and the graph's layer-0 links. Caller holds c.mu.
func (c *Collection) encodingBytes() int64 {
	n := int64(len(c.ids))
	b := n * (int64(c.dim)*4 + 16 + 4*int64(2*c.params.M+1))
	for i, id := range c.ids {
		b += int64(len(id))
		for _, g := range c.groups[i] {
			b += int64(len(g)) + 4
		}
	}
	return b
}

// readSnapshot decodes and verifies a snapshot, building a new collection. A failure
// wraps storage.ErrSnapshot.
func readSnapshot(r io.Reader) (*Collection, storage.SnapshotHeader, error) {
	var c *Collection
	h, err := storage.ReadSnapshot(r, func(h storage.SnapshotHeader, _ int) (storage.SnapshotSink, error) {
		// Validate fills what older snapshots lack (an unspecified quantization).
		cfg, err := h.Config.Validate()
		if err != nil {
			return nil, err
		}
		if c, err = newCollection(cfg); err != nil {
			return nil, err
		}
		c.createLSN = h.CreateLSN
		return snapSink{c}, nil
	})
	if err != nil {
		return nil, h, err
	}
	c.lastSeq, c.through = h.LSN, h.Through
	return c, h, nil
}

// snapSink fills a new collection, not yet shared, from storage.ReadSnapshot.
type snapSink struct{ c *Collection }

func (s snapSink) AddSlot(slot int, id string, version int64, groups []string) ([]float32, error) {
	c := s.c
	if id != "" {
		if _, dup := c.slots[id]; dup {
			return nil, fmt.Errorf("repeated id %q", id)
		}
		c.slots[id] = uint32(slot)
	}
	c.ids = append(c.ids, id)
	c.groups = append(c.groups, groups)
	c.versions = append(c.versions, version)
	return c.vectors.writable(uint32(slot)), nil
}

func (s snapSink) AddFalseNegatives(key string, ids []string) { s.c.AddFalseNegatives(key, ids) }

func (s snapSink) ReadGraph(r io.Reader) error {
	c := s.c
	c.vectors.startCodes(len(c.ids))
	g, err := hnsw.Read(r, graphDistance(c.metric), c.vectors)
	if err != nil {
		return err
	}
	c.setGraph(g)
	c.graphOn = true
	return c.checkGraph()
}

func (s snapSink) NoGraph() {
	for slot, id := range s.c.ids {
		if id == "" {
			s.c.free = append(s.c.free, uint32(slot))
		}
	}
}

// checkGraph checks a loaded graph against the slots and rebuilds the free list: a
// live slot must be a live node; a dead slot that the graph has dropped, or that was
// never a node (retired before the graph was built), is free. A dead slot that is
// still a live node (written before applyGraph deleted slots that a batch both
// allocated and retired) is deleted now, so compaction frees it. It applies only to a
// built graph (graphOn).
func (c *Collection) checkGraph() error {
	if b := c.graph.IDBound(); int(b) > len(c.ids) {
		return fmt.Errorf("%w: the graph holds node %d but the collection has %d slots", storage.ErrSnapshot, b-1, len(c.ids))
	}
	for slot, id := range c.ids {
		switch s := uint32(slot); {
		case id != "":
			if !c.graph.Contains(s) {
				return fmt.Errorf("%w: slot %d holds %q but is not in the graph", storage.ErrSnapshot, slot, id)
			}
		case c.graph.IsDropped(s) || !c.graph.Inserted(s):
			c.free = append(c.free, s)
		case c.graph.Contains(s):
			c.graph.Delete(s)
		}
	}
	return nil
}

// Snapshot writes a snapshot of the named collection and then deletes snapshots and
// log segments it has made unnecessary.
func (db *DB) Snapshot(ctx context.Context, name string) (engine.SnapshotInfo, error) {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	c, err := db.lookup(name)
	if err != nil {
		return engine.SnapshotInfo{}, err
	}
	if c.ephemeral {
		return engine.SnapshotInfo{}, fmt.Errorf("%q: %w: it has no snapshots", name, engine.ErrEphemeral)
	}
	return db.snapshotAndPruneLocked(ctx, c)
}

// snapshotAndPruneLocked writes one snapshot of c, counts it, and removes the files and
// log segments it makes unneeded. A snapshot that ctx cut short is not counted as a
// failure: the log holds everything. Caller holds snapMu.
func (db *DB) snapshotAndPruneLocked(ctx context.Context, c *Collection) (engine.SnapshotInfo, error) {
	start := time.Now()
	info, err := db.snapshotLocked(ctx, c)
	if err != nil && ctx.Err() != nil {
		return info, err
	}
	db.snapStats.record(time.Since(start), err)
	if err != nil {
		return info, err
	}
	db.pruneAfter("snapshot written", c.name)
	return info, nil
}

// pruneAfter prunes (pruneLocked) after a change that is already durable (a snapshot
// written, a collection dropped): a failure there only leaves old files and log
// segments in place, which the next prune removes, so it is logged, not returned to a
// caller whose request took effect. Caller holds snapMu.
func (db *DB) pruneAfter(what, collection string) {
	if err := db.pruneLocked(); err != nil {
		db.log.Error("removing old snapshots and trimming the log failed; the log keeps what it holds until a later snapshot or delete succeeds in it",
			"after", what, "collection", collection, "err", err)
	}
}

// lockSnapshots takes snapMu, or gives up with ctx's error when ctx ends first (a
// background snapshot of a large collection may hold it for a while).
func (db *DB) lockSnapshots(ctx context.Context) error {
	for !db.snapMu.TryLock() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// snapshotLocked writes one snapshot of c. Caller holds snapMu.
func (db *DB) snapshotLocked(ctx context.Context, c *Collection) (engine.SnapshotInfo, error) {
	// The locks are taken before the file name (which holds the LSN) is chosen and
	// released as soon as the content is captured (freeze). The write lock keeps the
	// graph in step with the metadata; searches go on under the shared lock.
	c.lockCapture()
	locked := true
	unlock := func() {
		if locked {
			c.mu.RUnlock()
			c.writeMu.Unlock()
			locked = false
		}
	}
	defer unlock()
	if c.dropped {
		return engine.SnapshotInfo{}, fmt.Errorf("%q: %w", c.name, engine.ErrCollectionNotFound)
	}
	// Every log record of c is written under c.writeMu, which this holds: the log's
	// last LSN now is one the snapshot is complete through, so a collection without
	// new writes still moves forward the point below which the log can go.
	through := max(c.lastSeq, db.wal.LastLSN())
	info := engine.SnapshotInfo{LSN: through}
	if err := db.disk.CheckRoom(fmt.Sprintf("a snapshot of %q", c.name), c.encodingBytes()); err != nil {
		return info, err
	}
	// The log bytes the snapshot covers; writes after the capture, while the file is
	// written and synced, stay counted (what a restart replays, what a graceful stop
	// snapshots).
	covered := c.loggedBytes
	// Writers wait only while the snapshot is captured; it is written after.
	f, err := c.freeze(db.writerTable(), through)
	encoded := time.Now()
	unlock()
	if err != nil {
		return info, fmt.Errorf("snapshot %q: %w", c.name, err)
	}
	defer f.release()
	if testHookSnapshotCaptured != nil {
		testHookSnapshotCaptured(c)
	}
	info.Path, err = db.disk.WriteSnapshot(c.name, through, func(w io.Writer) error {
		cw := &countWriter{w: ctxWriter{ctx, w}}
		if err := f.write(cw); err != nil {
			return err
		}
		info.Bytes = cw.n
		// Everything the snapshot holds must be durable in the log before the
		// snapshot can be seen; otherwise a crash could hand its LSNs out again.
		return db.wal.Sync(ctx)
	})
	if err != nil {
		return info, fmt.Errorf("snapshot %q: %w", c.name, err)
	}
	c.mu.Lock()
	c.loggedBytes = max(c.loggedBytes-covered, 0)
	c.snapshotAt = encoded
	c.through = through
	c.mu.Unlock()
	db.log.Info("snapshot written", "collection", c.name, "lsn", info.LSN, "bytes", info.Bytes)
	return info, nil
}

// testHookSnapshotCaptured, when a test sets it, runs in a snapshot once its content
// is captured and the collection's locks are released, before the file is written.
var testHookSnapshotCaptured func(*Collection)

// ctxWriter fails its writes once ctx has ended, so that a snapshot can be abandoned
// part-way (WriteSnapshot then leaves no file behind).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

type countWriter struct {
	w    io.Writer
	n    int64
	tail [4]byte // the last 4 bytes written (fewer while n < 4)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if n >= 4 {
		copy(c.tail[:], p[n-4:n])
	} else {
		copy(c.tail[:], append(c.tail[n:], p[:n]...))
	}
	return n, err
}

// trailer is the encoding's last 4 bytes as the little-endian CRC-32C they hold.
func (c *countWriter) trailer() uint32 { return binary.LittleEndian.Uint32(c.tail[:]) }

// writerTable copies the stream writers' positions, the expired ones forgotten first.
func (db *DB) writerTable() map[string]storage.WriterState {
	db.writersMu.Lock()
	defer db.writersMu.Unlock()
	db.expireWritersLocked(db.now())
	out := make(map[string]storage.WriterState, len(db.writers))
	for id, w := range db.writers {
		out[id] = w
	}
	return out
}

// pruneLocked deletes snapshots beyond the newest snapKeep of each live collection and
// every snapshot of a dropped one, then truncates the log below the oldest position
// any kept snapshot or snapshot-less collection still needs. Caller holds snapMu.
func (db *DB) pruneLocked() error {
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		// Close sets closed before it waits for snapMu: a prune that comes after it (a
		// delete that was waiting for its record's fsync) would change a data
		// directory whose lock is released. The next start prunes instead.
		return nil
	}
	files, err := db.disk.Snapshots()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	db.mu.RLock()
	need := db.wal.LastLSN() + 1 // the log must keep every record at or above need
	live := make(map[string]uint64, len(db.collections))
	for name, c := range db.collections {
		if c.ephemeral {
			continue // holds no log, and no snapshot of its name is its own
		}
		c.mu.RLock()
		live[name] = c.createLSN
		c.mu.RUnlock()
	}
	db.mu.RUnlock()

	// The catalog lists what is live before the log can lose a creation record, so
	// that a start that finds a listed collection's snapshots gone refuses
	// (checkCatalog) instead of starting without it.
	// The log is synced first, through every record appended before live was read. A
	// collection is in the table once its creation record is appended, before that
	// record is durable, and a catalog that outlived the record in a power failure
	// would list a collection the log never held. A removal is durable once done, and
	// what it acts on must be durable before it: a drop under -fsync=interval is
	// acknowledged once written, and a power failure that lost it after its snapshots
	// were removed (or the log trimmed past its creation) left a start that refused
	// (ErrDataMissing) with the collection's data gone. A no-op when every record is
	// durable already, as under SyncAlways.
	if err := db.wal.Sync(context.Background()); err != nil {
		return fmt.Errorf("sync the log before pruning: %w", err)
	}
	if !maps.Equal(live, db.catalog) {
		if err := db.disk.WriteCatalog(live); err != nil {
			return fmt.Errorf("write the snapshot catalog: %w", err)
		}
		db.catalog = live
	}
	kept := make(map[string][]uint64)
	var drop []string
	for _, f := range files {
		create, ok := live[f.Collection]
		if ok && f.LSN >= create && len(kept[f.Collection]) < snapKeep {
			kept[f.Collection] = append(kept[f.Collection], f.LSN)
			continue
		}
		drop = append(drop, f.Name)
	}
	if err := db.disk.RemoveSnapshots(drop); err != nil {
		return err
	}
	limiter := ""
	for name, create := range live {
		n := create
		if ks := kept[name]; len(ks) > 0 {
			n = ks[len(ks)-1] + 1
		}
		if n < need {
			need, limiter = n, name
		}
	}
	db.logLimiter.Store(&limiter)
	if _, err := db.wal.TruncateBefore(need); err != nil {
		return err
	}
	if err := db.pruneLoopStateLocked(); err != nil {
		db.log.Warn("removing loop state files of deleted collections failed", "err", err)
	}
	return nil
}

// SnapshotChanged snapshots every collection that has log records since its last
// snapshot, the one with the most first, so that the next start loads it instead of
// replaying the log (the server calls it at a graceful stop). It stops when ctx ends,
// abandoning a snapshot part-way (the log still holds everything). It returns how many
// collections it snapshotted, how many changed ones it left (failed, or not reached
// before ctx ended) and the failures.
func (db *DB) SnapshotChanged(ctx context.Context) (written, left int, err error) {
	type changed struct {
		name   string
		logged int64
	}
	var todo []changed
	for _, c := range db.list() {
		c.mu.RLock()
		if c.loggedBytes > 0 && !c.dropped {
			todo = append(todo, changed{c.name, c.loggedBytes})
		}
		c.mu.RUnlock()
	}
	slices.SortStableFunc(todo, func(a, b changed) int { return cmp.Compare(b.logged, a.logged) })
	var errs []error
	for i, t := range todo {
		if db.lockSnapshots(ctx) != nil {
			return written, left + len(todo) - i, errors.Join(errs...)
		}
		wrote, serr := db.snapshotIfChangedLocked(ctx, t.name)
		db.snapMu.Unlock()
		switch {
		case wrote:
			written++
		case serr == nil, errors.Is(serr, engine.ErrCollectionNotFound):
			// A background snapshot took it meanwhile, or it was deleted.
		case ctx.Err() != nil:
			return written, left + len(todo) - i, errors.Join(errs...)
		default:
			left++
			errs = append(errs, serr)
		}
	}
	return written, left, errors.Join(errs...)
}

// snapshotIfChangedLocked snapshots the named collection if it has log records since
// its last snapshot, and reports whether it wrote one. Caller holds snapMu.
func (db *DB) snapshotIfChangedLocked(ctx context.Context, name string) (bool, error) {
	c, err := db.lookup(name)
	if err != nil {
		return false, err
	}
	c.mu.RLock()
	changed := c.loggedBytes > 0 && !c.dropped
	c.mu.RUnlock()
	if !changed {
		return false, nil
	}
	_, err = db.snapshotAndPruneLocked(ctx, c)
	return err == nil, err
}

// snapshotCheck is how often the background snapshotter looks at the collections.
const snapshotCheck = time.Second

// holdsLogBack reports whether c is the collection whose oldest kept snapshot (or
// creation) keeps the log from being truncated (see pruneLocked), while the log has
// grown past SnapshotBytes, c's vector memory (size) and a quarter of every
// collection's (total). A new snapshot is complete through the log's end
// (storage.SnapshotHeader.Through) and lets the log go, where an
// idle collection, or one with a few writes under -snapshot-interval off, would
// otherwise hold every later write of the others. As snapKeep snapshots are kept, it
// takes two of them for the log to move: the thresholds bound what that costs, two
// rewrites of c per its size of log (not a quarter of it, as for a collection's own
// writes: the log it holds back is read at a restart, mostly skipped, not re-applied),
// and with many idle collections a log of a quarter of all the data between rounds.
func (db *DB) holdsLogBack(c *Collection, size, total int64) bool {
	if db.opts.SnapshotBytes < 0 {
		return false
	}
	if l := db.logLimiter.Load(); l == nil || *l != c.name {
		return false
	}
	// Even when nothing was logged since its newest snapshot: its older kept snapshot is
	// what holds the log, and a new one drops it (snapshotLoop first logs an empty
	// record for it, so the new snapshot does not take the newest one's place).
	// Only the closed segments can go: the one being appended to stays however many
	// snapshots are taken, and counting it would snapshot an idle server every round.
	return db.disk.ClosedLogBytes() >= max(db.opts.SnapshotBytes, size, total/4)
}

// snapshotLoop snapshots collections whose log volume or age since their last
// snapshot exceeds Options.SnapshotBytes or Options.SnapshotInterval (snapshotPass),
// once every snapshotCheck.
func (db *DB) snapshotLoop() {
	defer close(db.done)
	if db.opts.SnapshotBytes < 0 && db.opts.SnapshotInterval < 0 {
		return
	}
	t := time.NewTicker(snapshotCheck)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-db.failed:
			return
		case <-t.C:
		}
		db.snapshotPass()
	}
}

// snapshotPass is one round of the background snapshots: every collection whose own
// writes call for a snapshot, then, while the collection that keeps the log from being
// truncated holds it back (holdsLogBack), that one, the next one, and so on. With many
// idle collections one round so lets the log go past all of them, not past one: a log
// written fast elsewhere does not outrun rounds that each move it one collection on.
func (db *DB) snapshotPass() {
	type state struct {
		c            *Collection
		logged, size int64
		at           time.Time
		through      uint64
	}
	read := func(c *Collection) state {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return state{c, c.loggedBytes, int64(len(c.slots)) * int64(c.dim) * 4, c.snapshotAt, max(c.through, c.createLSN)}
	}
	var cols []state
	var total int64 // every collection's vector memory
	for _, c := range db.list() {
		if c.ephemeral {
			continue // never snapshotted, and holds no log: not part of the bounds
		}
		st := read(c)
		cols = append(cols, st)
		total += st.size
	}
	for _, st := range cols {
		due := (db.opts.SnapshotBytes >= 0 && st.logged >= db.opts.SnapshotBytes && st.logged >= st.size/4) ||
			(db.opts.SnapshotInterval >= 0 && st.logged > 0 && time.Since(st.at) >= db.opts.SnapshotInterval) ||
			db.holdsLogBack(st.c, st.size, total)
		if due && errors.Is(db.backgroundSnapshot(st.c, st.through), engine.ErrClosed) {
			return
		}
	}
	// Each snapshot of the collection holding the log back lets the log go up to the
	// next one's oldest kept snapshot; two per collection are kept, so a collection
	// may take two rounds of this. Bounded all the same, should pruning not move on.
	last, repeats := "", 0
	for range 2*len(cols) + 2 {
		lim := db.logLimiter.Load()
		if lim == nil || *lim == "" {
			return
		}
		if *lim == last {
			if repeats++; repeats >= snapKeep {
				return // its snapshots did not let the log go: the next round looks again
			}
		} else {
			last, repeats = *lim, 0
		}
		c, err := db.lookup(*lim)
		if err != nil || c.ephemeral { // the name is a dropped collection's, taken since
			return
		}
		st := read(c)
		if !db.holdsLogBack(c, st.size, total) || db.backgroundSnapshot(c, st.through) != nil {
			return // a failure is not retried at once
		}
	}
}

// backgroundSnapshot snapshots c for snapshotPass; through is the LSN c's newest
// snapshot is complete through. It returns engine.ErrClosed when the server is closing
// (the pass should end), and logs and returns any other failure (a collection dropped
// meanwhile returns its error unlogged).
func (db *DB) backgroundSnapshot(c *Collection, through uint64) error {
	if err := db.snapRetry.wait(c.name, time.Now()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-db.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var err error
	if through >= db.wal.LastLSN() {
		// Its newest snapshot is complete through the log's end, and a snapshot is
		// named by that position: one more would replace it rather than drop the older
		// one that holds the log back. A logged empty delete (replayed as nothing)
		// moves the position on.
		_, err = db.delete(c.name, nil, "ids", true)
	}
	if err == nil {
		_, err = db.Snapshot(ctx, c.name)
	}
	if ctx.Err() != nil || errors.Is(err, engine.ErrClosed) { // Close abandoned it
		return engine.ErrClosed
	}
	if err != nil && !errors.Is(err, engine.ErrCollectionNotFound) {
		delay := db.snapRetry.failed(c.name, time.Now())
		db.log.Error("background snapshot failed", "collection", c.name, "err", err, "retry_in", delay)
	} else if err == nil && db.snapRetry.succeeded(c.name) {
		db.log.Info("background snapshot succeeded again", "collection", c.name)
	}
	return err
}

// errSnapshotBackoff: a background snapshot of the collection failed recently, and the
// next try is not due yet.
var errSnapshotBackoff = errors.New("background snapshot backing off after a failure")

// snapshotRetry spaces the background snapshots of a collection after failures (a full
// or read-only volume): 2 s after the first, doubling to at most 5 minutes, so that
// many collections do not retry, and log, every second.
type snapshotRetry struct {
	mu sync.Mutex
	at map[string]retryAt
}

type retryAt struct {
	next  time.Time
	delay time.Duration
}

const (
	snapshotRetryFirst = 2 * time.Second
	snapshotRetryMax   = 5 * time.Minute
)

// wait returns errSnapshotBackoff while name's next try is not due.
func (r *snapshotRetry) wait(name string, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.at[name]; ok && now.Before(a.next) {
		return errSnapshotBackoff
	}
	return nil
}

// failed records a failure of name's background snapshot and returns the delay until
// the next try.
func (r *snapshotRetry) failed(name string, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]retryAt{}
	}
	d := snapshotRetryFirst
	if a, ok := r.at[name]; ok {
		d = min(2*a.delay, snapshotRetryMax)
	}
	r.at[name] = retryAt{next: now.Add(d), delay: d}
	return d
}

// succeeded forgets name's failures and reports whether it had any.
func (r *snapshotRetry) succeeded(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.at[name]
	delete(r.at, name)
	return ok
}
