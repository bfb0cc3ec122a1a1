package index

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/wal"
)

// A snapshot holds one collection as of a log sequence number. Format, version 2,
// little-endian, strings prefixed by their uvarint length:
//
//	header   magic "hnsnapsh", version u32
//	config   name, dim, metric u8, M, EfConstruction, EfSearch, ExactThreshold (uvarints)
//	position created LSN u64, covered LSN u64
//	writers  count, then per stream writer: id, last sequence, its LSN (uvarints)
//	slots    count, then per slot: id ("" for a slot no longer live), for a live
//	         slot its version (zig-zag varint) and groups (count + strings), then
//	         dim float32 values (dead slots keep theirs: the graph routes through
//	         tombstones)
//	feedback count, then per anchor key: key, its false-negative item ids
//	graph    u8 1 if the graph is built (Stats.GraphBuilt), then the HNSW graph over
//	         the slots in hnsw's own checksummed format; u8 0 and nothing else if not
//	trailer  CRC-32C (Castagnoli) of every byte before it, u32
//
// Slot numbers are internal: the log records ids, and replaying it on top of a
// snapshot allocates slots afresh. Free slots (dead, and not graph nodes: dropped by
// compaction or never inserted) are not stored as such; loading finds them from the
// graph's node flags (checkGraph), or takes every dead slot when there is no graph,
// so they are reused after a restart as before it. Version 1 (the graph always
// present) is not read.
//
// Files are <collection>.<covered LSN, 20 digits>.snap in the snapshots directory,
// written with wal.WriteFileAtomic. The newest two of each collection are kept, so a
// snapshot that fails to verify falls back to the previous one; the WAL keeps every
// record above the older one.
const (
	snapMagic    = "hnsnapsh"
	snapVersion  = 2
	snapSuffix   = ".snap"
	snapDirName  = "snapshots"
	snapKeep     = 2
	lsnDigits    = 20
	corruptSufix = ".corrupt"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSnapshot is wrapped by every snapshot decoding failure.
var errSnapshot = errors.New("invalid snapshot")

func snapshotName(collection string, lsn uint64) string {
	return fmt.Sprintf("%s.%0*d%s", collection, lsnDigits, lsn, snapSuffix)
}

// parseSnapshotName splits a snapshot file name into collection and LSN.
func parseSnapshotName(name string) (string, uint64, bool) {
	base, ok := strings.CutSuffix(name, snapSuffix)
	if !ok || len(base) < lsnDigits+2 || base[len(base)-lsnDigits-1] != '.' {
		return "", 0, false
	}
	lsn, err := strconv.ParseUint(base[len(base)-lsnDigits:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return base[:len(base)-lsnDigits-1], lsn, true
}

// writerState is the last applied batch of a stream writer.
type writerState struct {
	seq uint64 // last applied sequence
	lsn uint64 // log sequence number of that batch
}

// snapshotData is everything a snapshot holds besides the items.
type snapshotData struct {
	cfg       engine.Config
	createLSN uint64
	lsn       uint64
	writers   map[string]writerState
}

// writeSnapshot encodes c and the writer table to w. Caller holds c.writeMu and
// c.mu (shared), so metadata and graph agree.
func (c *Collection) writeSnapshot(w io.Writer, writers map[string]writerState) error {
	h := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	var b []byte
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	b = appendString(b, c.name)
	b = binary.AppendUvarint(b, uint64(c.dim))
	b = append(b, byte(c.metric))
	for _, v := range []int{c.params.M, c.params.EfConstruction, c.params.EfSearch, c.params.ExactThreshold} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint64(b, c.createLSN)
	b = binary.LittleEndian.AppendUint64(b, c.lastSeq)
	names := make([]string, 0, len(writers))
	for id := range writers {
		names = append(names, id)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, id := range names {
		b = appendString(b, id)
		b = binary.AppendUvarint(b, writers[id].seq)
		b = binary.AppendUvarint(b, writers[id].lsn)
	}
	b = binary.AppendUvarint(b, uint64(len(c.ids)))
	if _, err := bw.Write(b); err != nil {
		return err
	}
	for slot, id := range c.ids {
		b = appendString(b[:0], id)
		if id != "" {
			b = binary.AppendVarint(b, c.versions[slot])
			b = appendStrings(b, c.groups[slot])
		}
		b = appendFloats(b, c.vectorAt(uint32(slot)))
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	type verdicts struct {
		key string
		ids []string
	}
	var fb []verdicts
	c.RangeFalseNegatives(func(key string, ids []string) bool {
		slices.Sort(ids)
		fb = append(fb, verdicts{key, ids})
		return true
	})
	slices.SortFunc(fb, func(a, b verdicts) int { return strings.Compare(a.key, b.key) })
	b = binary.AppendUvarint(b[:0], uint64(len(fb)))
	for _, v := range fb {
		b = appendString(b, v.key)
		b = appendStrings(b, v.ids)
		if len(b) > 64<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if !c.graphOn {
		b = append(b, 0)
	} else {
		b = append(b, 1)
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if c.graphOn {
		if _, err := c.graph.WriteTo(bw); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32()))
	return err
}

// snapReader reads a snapshot while hashing what it consumed.
type snapReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	err error
	buf []byte
	off int64 // bytes consumed
}

func (s *snapReader) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %s", errSnapshot, fmt.Sprintf(format, args...))
	}
}

func (s *snapReader) full(n int) []byte {
	if s.err != nil {
		return nil
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	p := s.buf[:n]
	k, err := io.ReadFull(s.r, p)
	s.off += int64(k)
	if err != nil {
		s.fail("truncated")
		return nil
	}
	s.h.Write(p)
	return p
}

// Read reads raw bytes for an embedded section, hashing them.
func (s *snapReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.off += int64(n)
	s.h.Write(p[:n])
	return n, err
}

func (s *snapReader) ReadByte() (byte, error) {
	if s.err != nil {
		return 0, s.err
	}
	c, err := s.r.ReadByte()
	if err != nil {
		s.fail("truncated")
		return 0, s.err
	}
	s.off++
	s.h.Write([]byte{c})
	return c, nil
}

func (s *snapReader) uvarint(limit uint64, what string) uint64 {
	v, err := binary.ReadUvarint(s)
	if err != nil {
		s.fail("bad %s", what)
		return 0
	}
	if v > limit {
		s.fail("%s %d above limit %d", what, v, limit)
		return 0
	}
	return v
}

func (s *snapReader) varint() int64 {
	v, err := binary.ReadVarint(s)
	if err != nil {
		s.fail("bad varint")
	}
	return v
}

func (s *snapReader) string(limit int, what string) string {
	n := int(s.uvarint(uint64(limit), what+" length"))
	return string(s.full(n))
}

func (s *snapReader) u64() uint64 {
	p := s.full(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// readSnapshot decodes and verifies a snapshot, building a new collection.
// A failure names the offset at which the decoder stopped: for a checksum
// mismatch, the offset of the trailer.
func readSnapshot(r io.Reader) (*Collection, snapshotData, error) {
	s := &snapReader{r: bufio.NewReaderSize(r, 256<<10), h: crc32.New(castagnoli)}
	c, sd, err := s.snapshot()
	if err != nil {
		return nil, sd, fmt.Errorf("%w at offset %d", err, s.off)
	}
	return c, sd, nil
}

// snapshot decodes a snapshot (see readSnapshot).
func (s *snapReader) snapshot() (*Collection, snapshotData, error) {
	var sd snapshotData
	if hdr := s.full(len(snapMagic) + 4); hdr != nil {
		if string(hdr[:len(snapMagic)]) != snapMagic {
			s.fail("bad magic")
		} else if v := binary.LittleEndian.Uint32(hdr[len(snapMagic):]); v != snapVersion {
			s.fail("unsupported version %d", v)
		}
	}
	cfg := &sd.cfg
	cfg.Name = s.string(engine.MaxNameLen, "name")
	cfg.Dim = int(s.uvarint(engine.MaxDim, "dim"))
	if m, err := s.ReadByte(); err == nil {
		cfg.Metric = engine.Metric(m)
	}
	cfg.Params.M = int(s.uvarint(math.MaxInt32, "m"))
	cfg.Params.EfConstruction = int(s.uvarint(math.MaxInt32, "ef_construction"))
	cfg.Params.EfSearch = int(s.uvarint(math.MaxInt32, "ef_search"))
	cfg.Params.ExactThreshold = int(s.uvarint(math.MaxUint32, "exact_threshold"))
	if s.err != nil {
		return nil, sd, s.err
	}
	if _, err := cfg.Validate(); err != nil {
		return nil, sd, fmt.Errorf("%w: config: %v", errSnapshot, err)
	}
	sd.createLSN = s.u64()
	sd.lsn = s.u64()
	nw := s.uvarint(math.MaxUint32, "writer count")
	sd.writers = make(map[string]writerState)
	for i := uint64(0); i < nw && s.err == nil; i++ {
		id := s.string(engine.MaxWriterIDBytes, "writer")
		sd.writers[id] = writerState{seq: s.uvarint(math.MaxUint64, "writer sequence"), lsn: s.uvarint(math.MaxUint64, "writer lsn")}
	}
	n := s.uvarint(math.MaxUint32, "slot count")
	if s.err != nil {
		return nil, sd, s.err
	}
	c, err := newCollection(*cfg)
	if err != nil {
		return nil, sd, fmt.Errorf("%w: %v", errSnapshot, err)
	}
	c.createLSN = sd.createLSN
	for slot := uint64(0); slot < n && s.err == nil; slot++ {
		id := s.string(engine.MaxIDBytes, "id")
		var version int64
		var groups []string
		if id != "" {
			version = s.varint()
			ng := int(s.uvarint(engine.MaxItemGroups, "group count"))
			for range ng {
				groups = append(groups, s.string(engine.MaxGroupBytes, "group"))
			}
		}
		p := s.full(4 * cfg.Dim)
		if s.err != nil {
			break
		}
		if id != "" {
			if _, dup := c.slots[id]; dup {
				s.fail("slot %d: repeated id %q", slot, id)
				break
			}
			c.slots[id] = uint32(slot)
		}
		c.ids = append(c.ids, id)
		c.groups = append(c.groups, groups)
		c.versions = append(c.versions, version)
		c.vectors.ensure(uint32(slot))
		v := c.vectors.Vector(uint32(slot))
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*j:]))
		}
	}
	if s.err != nil {
		return nil, sd, s.err
	}
	nfb := s.uvarint(math.MaxUint32, "feedback count")
	for i := uint64(0); i < nfb && s.err == nil; i++ {
		key := s.string(engine.MaxIDBytes, "anchor key")
		nids := s.uvarint(math.MaxUint32, "feedback id count")
		ids := make([]string, 0, min(nids, 1024))
		for j := uint64(0); j < nids && s.err == nil; j++ {
			ids = append(ids, s.string(engine.MaxIDBytes, "feedback id"))
		}
		if s.err == nil {
			c.AddFalseNegatives(key, ids)
		}
	}
	if s.err != nil {
		return nil, sd, s.err
	}
	switch on, _ := s.ReadByte(); {
	case s.err != nil:
		return nil, sd, s.err
	case on == 1:
		g, err := hnsw.Read(s, graphDistance(cfg.Metric), c.vectors)
		if err != nil {
			return nil, sd, fmt.Errorf("%w: graph: %v", errSnapshot, err)
		}
		c.graph, c.graphOn = g, true
		if err := c.checkGraph(); err != nil {
			return nil, sd, err
		}
	case on == 0:
		for slot, id := range c.ids {
			if id == "" {
				c.free = append(c.free, uint32(slot))
			}
		}
	default:
		return nil, sd, fmt.Errorf("%w: graph flag %d", errSnapshot, on)
	}
	want := s.h.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(s.r, trailer[:]); err != nil {
		return nil, sd, fmt.Errorf("%w: trailer truncated", errSnapshot)
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != want {
		return nil, sd, fmt.Errorf("%w: checksum mismatch", errSnapshot)
	}
	s.off += int64(len(trailer))
	if _, err := s.r.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, sd, fmt.Errorf("%w: bytes after the trailer", errSnapshot)
	}
	c.lastSeq = sd.lsn
	return c, sd, nil
}

// checkGraph checks a loaded graph against the slots and rebuilds the free list: a
// live slot must be a live node; a dead slot that the graph has dropped, or that was
// never a node (retired before the graph was built), is free. A dead slot that is
// still a live node (written before applyGraph deleted slots that a batch both
// allocated and retired) is deleted now, so compaction frees it. It applies only to a
// built graph (graphOn).
func (c *Collection) checkGraph() error {
	if b := c.graph.IDBound(); int(b) > len(c.ids) {
		return fmt.Errorf("%w: the graph holds node %d but the collection has %d slots", errSnapshot, b-1, len(c.ids))
	}
	for slot, id := range c.ids {
		switch s := uint32(slot); {
		case id != "":
			if !c.graph.Contains(s) {
				return fmt.Errorf("%w: slot %d holds %q but is not in the graph", errSnapshot, slot, id)
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
	start := time.Now()
	info, err := db.snapshotLocked(ctx, c)
	db.snapStats.record(time.Since(start), err)
	if err != nil {
		return info, err
	}
	return info, db.pruneLocked()
}

// snapshotLocked writes one snapshot of c. Caller holds snapMu.
func (db *DB) snapshotLocked(ctx context.Context, c *Collection) (engine.SnapshotInfo, error) {
	// The locks are taken before the file name (which holds the LSN) is chosen and
	// released as soon as the content is encoded. The write lock keeps the graph in
	// step with the metadata; searches go on under the shared lock.
	c.writeMu.Lock()
	c.mu.RLock()
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
	info := engine.SnapshotInfo{LSN: c.lastSeq, Path: filepath.Join(db.snapDir, snapshotName(c.name, c.lastSeq))}
	err := wal.WriteFileAtomic(db.fs, info.Path, 0o640, func(w io.Writer) error {
		cw := &countWriter{w: w}
		err := c.writeSnapshot(cw, db.writerTable())
		unlock()
		if err != nil {
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
	c.loggedBytes = 0
	c.snapshotAt = time.Now()
	c.mu.Unlock()
	db.log.Info("snapshot written", "collection", c.name, "lsn", info.LSN, "bytes", info.Bytes)
	return info, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writerTable copies the stream writers' positions.
func (db *DB) writerTable() map[string]writerState {
	db.writersMu.Lock()
	defer db.writersMu.Unlock()
	out := make(map[string]writerState, len(db.writers))
	for id, w := range db.writers {
		out[id] = w
	}
	return out
}

// snapshotFile is one snapshot file found on disk.
type snapshotFile struct {
	collection string
	lsn        uint64
	name       string
}

func (db *DB) listSnapshots() ([]snapshotFile, error) {
	entries, err := db.fs.ReadDir(db.snapDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []snapshotFile
	for _, e := range entries {
		if col, lsn, ok := parseSnapshotName(e.Name()); ok && !e.IsDir() {
			out = append(out, snapshotFile{col, lsn, e.Name()})
		}
	}
	// Newest first within a collection.
	slices.SortFunc(out, func(a, b snapshotFile) int {
		if a.collection != b.collection {
			return strings.Compare(a.collection, b.collection)
		}
		switch {
		case a.lsn > b.lsn:
			return -1
		case a.lsn < b.lsn:
			return 1
		}
		return 0
	})
	return out, nil
}

// pruneLocked deletes snapshots beyond the newest snapKeep of each live collection and
// every snapshot of a dropped one, then truncates the log below the oldest position
// any kept snapshot or snapshot-less collection still needs. Caller holds snapMu.
func (db *DB) pruneLocked() error {
	files, err := db.listSnapshots()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	db.mu.RLock()
	need := db.wal.LastLSN() + 1 // the log must keep every record at or above need
	live := make(map[string]uint64, len(db.collections))
	for name, c := range db.collections {
		c.mu.RLock()
		live[name] = c.createLSN
		c.mu.RUnlock()
	}
	db.mu.RUnlock()

	kept := make(map[string][]uint64)
	removed := false
	for _, f := range files {
		create, ok := live[f.collection]
		if ok && f.lsn >= create && len(kept[f.collection]) < snapKeep {
			kept[f.collection] = append(kept[f.collection], f.lsn)
			continue
		}
		if err := db.fs.Remove(filepath.Join(db.snapDir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove snapshot: %w", err)
		}
		removed = true
	}
	if removed {
		if err := db.fs.SyncDir(db.snapDir); err != nil {
			return fmt.Errorf("sync snapshots directory: %w", err)
		}
	}
	for name, create := range live {
		ks := kept[name]
		if len(ks) == 0 {
			need = min(need, create)
			continue
		}
		need = min(need, ks[len(ks)-1]+1)
	}
	if _, err := db.wal.TruncateBefore(need); err != nil {
		return err
	}
	return nil
}

// snapshotCheck is how often the background snapshotter looks at the collections.
const snapshotCheck = time.Second

// snapshotLoop snapshots collections whose log volume or age since their last
// snapshot exceeds Options.SnapshotBytes or Options.SnapshotInterval.
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
		for _, c := range db.list() {
			c.mu.RLock()
			logged, at, size := c.loggedBytes, c.snapshotAt, int64(len(c.slots))*int64(c.dim)*4
			c.mu.RUnlock()
			due := (db.opts.SnapshotBytes >= 0 && logged >= db.opts.SnapshotBytes && logged >= size/4) ||
				(db.opts.SnapshotInterval >= 0 && logged > 0 && time.Since(at) >= db.opts.SnapshotInterval)
			if !due {
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-db.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, err := db.Snapshot(ctx, c.name)
			cancel()
			if err != nil && !errors.Is(err, engine.ErrCollectionNotFound) && !errors.Is(err, engine.ErrClosed) {
				db.log.Error("background snapshot failed", "collection", c.name, "err", err)
			}
		}
	}
}
