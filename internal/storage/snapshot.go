package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
)

// A snapshot holds one collection as of a log sequence number. Format, version 4,
// little-endian, strings prefixed by their uvarint length:
//
//	header   magic "hnsnapsh", version u32
//	config   name, dim, metric u8, M, EfConstruction, EfSearch, ExactThreshold (uvarints),
//	         Quantization (uvarint; absent in version 2, which reads as unspecified:
//	         the default for the metric)
//	position created LSN u64, last applied LSN u64, and (version 4) the LSN the
//	         snapshot is complete through u64 (absent before, which reads as the last
//	         applied one)
//	writers  count, then per stream writer: id, last sequence, its LSN (uvarints),
//	         when it was applied (Unix seconds, zig-zag varint; absent before
//	         version 4, which reads as 0: not known)
//	slots    count, then per slot: id ("" for a slot no longer live), for a live
//	         slot its version (zig-zag varint) and groups (count + strings), then
//	         dim float32 values (dead slots keep theirs: the graph routes through
//	         tombstones)
//	feedback count, then per anchor key: key, its false-negative item ids
//	graph    u8 1 if the graph is built, then the HNSW graph over the slots in
//	         hnsw's own checksummed format; u8 0 and nothing else if not
//	trailer  CRC-32C (Castagnoli) of every byte before it, u32
//
// Versions 2 and 3 are read too; version 1 (the graph always present) is not. The int8 codes of
// a quantized collection are not stored: they are a function of the vectors, rebuilt on
// load. The collection's state reaches
// the encoder through SnapshotSource and leaves the decoder through SnapshotSink, both
// implemented by package index, which owns slots, vectors and graph.
const (
	snapMagic   = "hnsnapsh"
	snapVersion = 4
)

// SnapshotVersion is the version of the snapshot format WriteSnapshot writes; backups
// of a collection travel in it. ReadSnapshot also reads MinSnapshotVersion and up.
const SnapshotVersion = snapVersion

// MinSnapshotVersion is the oldest snapshot format ReadSnapshot reads.
const MinSnapshotVersion = 2

// ErrSnapshot is wrapped by every snapshot decoding failure.
var ErrSnapshot = errors.New("invalid snapshot")

// WriterState is the last applied batch of a stream writer: an entry of the writer
// table that snapshots carry and log replay advances.
type WriterState struct {
	Seq uint64 // last applied sequence
	LSN uint64 // log sequence number of that batch
	// Unix is when that batch was applied, in Unix seconds of the server's clock; 0
	// when not known (a writer read from a version 2 or 3 snapshot).
	Unix int64
}

// SnapshotHeader is everything a snapshot holds besides the collection's content.
type SnapshotHeader struct {
	Config    engine.Config
	CreateLSN uint64 // LSN of the record that created the collection
	LSN       uint64 // the LSN of the last write to the collection the snapshot holds
	// Through is the LSN the snapshot is complete through: every log record of the
	// collection at or below it is in the snapshot (≥ LSN; the log position when it
	// was taken). The file's name carries it, and the log is needed above it only.
	Through uint64
	Writers map[string]WriterState
}

// SnapshotSource is a collection's content as WriteSnapshot encodes it. It must not
// change during the call.
type SnapshotSource interface {
	// Slots returns the number of slots; Slot returns one: its id ("" for a dead slot),
	// version, groups and vector.
	Slots() int
	Slot(slot int) (id string, version int64, groups []string, vector []float32)
	// RangeFalseNegatives calls fn with every anchor key and its verdict ids.
	RangeFalseNegatives(fn func(key string, ids []string) bool)
	// HasGraph reports whether the HNSW graph is built; WriteGraph then writes it.
	HasGraph() bool
	WriteGraph(w io.Writer) error
}

// SnapshotSink receives a decoded snapshot's content, in order.
type SnapshotSink interface {
	// AddSlot adds the next slot and returns its vector storage (dim values) for the
	// decoder to fill; an error (a repeated id) fails the snapshot.
	AddSlot(slot int, id string, version int64, groups []string) ([]float32, error)
	// AddFalseNegatives adds verdicts of one anchor key.
	AddFalseNegatives(key string, ids []string)
	// ReadGraph reads the HNSW graph over the slots from r (exactly its bytes) and
	// checks it against them; NoGraph says there is none.
	ReadGraph(r io.Reader) error
	NoGraph()
}

// WriteSnapshot encodes h and src to w in the format above.
func WriteSnapshot(w io.Writer, h SnapshotHeader, src SnapshotSource) error {
	sum := binfmt.NewHash()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 256<<10)
	var b []byte
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	cfg := h.Config
	b = binfmt.AppendString(b, cfg.Name)
	b = binary.AppendUvarint(b, uint64(cfg.Dim))
	b = append(b, byte(cfg.Metric))
	for _, v := range []int{cfg.Params.M, cfg.Params.EfConstruction, cfg.Params.EfSearch, cfg.Params.ExactThreshold, int(cfg.Params.Quantization)} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint64(b, h.CreateLSN)
	b = binary.LittleEndian.AppendUint64(b, h.LSN)
	b = binary.LittleEndian.AppendUint64(b, max(h.Through, h.LSN))
	names := make([]string, 0, len(h.Writers))
	for id := range h.Writers {
		names = append(names, id)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, id := range names {
		b = binfmt.AppendString(b, id)
		b = binary.AppendUvarint(b, h.Writers[id].Seq)
		b = binary.AppendUvarint(b, h.Writers[id].LSN)
		b = binary.AppendVarint(b, h.Writers[id].Unix)
	}
	n := src.Slots()
	b = binary.AppendUvarint(b, uint64(n))
	if _, err := bw.Write(b); err != nil {
		return err
	}
	for slot := range n {
		id, version, groups, vector := src.Slot(slot)
		b = binfmt.AppendString(b[:0], id)
		if id != "" {
			b = binary.AppendVarint(b, version)
			b = binfmt.AppendStrings(b, groups)
		}
		b = binfmt.AppendFloats(b, vector)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	type verdicts struct {
		key string
		ids []string
	}
	var fb []verdicts
	src.RangeFalseNegatives(func(key string, ids []string) bool {
		slices.Sort(ids)
		fb = append(fb, verdicts{key, ids})
		return true
	})
	slices.SortFunc(fb, func(a, b verdicts) int { return strings.Compare(a.key, b.key) })
	b = binary.AppendUvarint(b[:0], uint64(len(fb)))
	for _, v := range fb {
		b = binfmt.AppendString(b, v.key)
		b = binfmt.AppendStrings(b, v.ids)
		if len(b) > 64<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	graph := src.HasGraph()
	if graph {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if graph {
		if err := src.WriteGraph(bw); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, sum.Sum32()))
	return err
}

// ReadSnapshot decodes and verifies a snapshot. After the header it calls open with
// the header and slot count for the sink that receives the content. A failure wraps
// ErrSnapshot and names the offset at which the decoder stopped: for a checksum
// mismatch, the offset of the trailer.
func ReadSnapshot(r io.Reader, open func(h SnapshotHeader, slots int) (SnapshotSink, error)) (SnapshotHeader, error) {
	s := &snapReader{Reader: binfmt.NewReader(bufio.NewReaderSize(r, 256<<10))}
	h, err := s.snapshot(open)
	if err != nil {
		if !errors.Is(err, ErrSnapshot) { // the input ended or could not be read
			err = fmt.Errorf("%w: truncated (%v)", ErrSnapshot, err)
		}
		at := s.Offset()
		if s.stoppedAt > 0 {
			at = s.stoppedAt
		}
		return h, fmt.Errorf("%w at offset %d", err, at)
	}
	return h, nil
}

// snapReader reads a snapshot while checksumming what it consumed (binfmt.Reader),
// checking each value against its limit.
type snapReader struct {
	*binfmt.Reader
	stoppedAt int64  // where a checksum mismatch was found (the trailer); 0 otherwise
	version   uint32 // the format version, once the header is read
}

func (s *snapReader) fail(format string, args ...any) {
	s.Fail(fmt.Errorf("%w: %s", ErrSnapshot, fmt.Sprintf(format, args...)))
}

func (s *snapReader) uvarint(limit uint64, what string) uint64 {
	v, ok := s.Uvarint()
	if !ok {
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
	v, ok := s.Varint()
	if !ok {
		s.fail("bad varint")
	}
	return v
}

func (s *snapReader) string(limit int, what string) string {
	n := int(s.uvarint(uint64(limit), what+" length"))
	return string(s.Bytes(n))
}

// snapshot decodes a snapshot in the order of its sections: header and config,
// position and writers, slots, feedback, graph, trailer.
func (s *snapReader) snapshot(open func(h SnapshotHeader, slots int) (SnapshotSink, error)) (SnapshotHeader, error) {
	var h SnapshotHeader
	if err := s.header(&h.Config); err != nil {
		return h, err
	}
	s.position(&h)
	h.Writers = s.writers()
	n := s.uvarint(math.MaxUint32, "slot count")
	if s.Err() != nil {
		return h, s.Err()
	}
	sink, err := open(h, int(n))
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if err := s.slots(sink, h.Config.Dim, n); err != nil {
		return h, err
	}
	if err := s.feedback(sink); err != nil {
		return h, err
	}
	if err := s.graph(sink); err != nil {
		return h, err
	}
	return h, s.trailer()
}

// header reads the magic, the version and the collection's config, and validates it.
func (s *snapReader) header(cfg *engine.Config) error {
	version := uint32(snapVersion)
	defer func() { s.version = version }()
	if hdr := s.Bytes(len(snapMagic) + 4); hdr != nil {
		if string(hdr[:len(snapMagic)]) != snapMagic {
			s.fail("bad magic")
		} else if version = binary.LittleEndian.Uint32(hdr[len(snapMagic):]); version < MinSnapshotVersion || version > snapVersion {
			s.fail("unsupported version %d", version)
		}
	}
	cfg.Name = s.string(engine.MaxNameLen, "name")
	cfg.Dim = int(s.uvarint(engine.MaxDim, "dim"))
	if m, err := s.ReadByte(); err == nil {
		cfg.Metric = engine.Metric(m)
	}
	cfg.Params.M = int(s.uvarint(math.MaxInt32, "m"))
	cfg.Params.EfConstruction = int(s.uvarint(math.MaxInt32, "ef_construction"))
	cfg.Params.EfSearch = int(s.uvarint(math.MaxInt32, "ef_search"))
	cfg.Params.ExactThreshold = int(s.uvarint(math.MaxUint32, "exact_threshold"))
	if version >= 3 {
		cfg.Params.Quantization = engine.Quantization(s.uvarint(math.MaxInt32, "quantization"))
	}
	if s.Err() != nil {
		return s.Err()
	}
	if _, err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: config: %v", ErrSnapshot, err)
	}
	return nil
}

// position reads the created, last applied and (version 4) complete-through LSNs.
func (s *snapReader) position(h *SnapshotHeader) {
	h.CreateLSN = s.U64()
	h.LSN = s.U64()
	h.Through = h.LSN
	if s.version >= 4 {
		if h.Through = s.U64(); h.Through < h.LSN && s.Err() == nil {
			s.fail("complete through lsn %d, below its last write's %d", h.Through, h.LSN)
		}
	}
}

// writers reads the stream writers' positions.
func (s *snapReader) writers() map[string]WriterState {
	nw := s.uvarint(math.MaxUint32, "writer count")
	writers := make(map[string]WriterState)
	for i := uint64(0); i < nw && s.Err() == nil; i++ {
		id := s.string(engine.MaxWriterIDBytes, "writer")
		w := WriterState{Seq: s.uvarint(math.MaxUint64, "writer sequence"), LSN: s.uvarint(math.MaxUint64, "writer lsn")}
		if s.version >= 4 {
			w.Unix = s.varint()
		}
		writers[id] = w
	}
	return writers
}

// slots reads n slots of dim values into sink.
func (s *snapReader) slots(sink SnapshotSink, dim int, n uint64) error {
	for slot := uint64(0); slot < n && s.Err() == nil; slot++ {
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
		p := s.Bytes(4 * dim)
		if s.Err() != nil {
			break
		}
		v, err := sink.AddSlot(int(slot), id, version, groups)
		if err != nil {
			s.fail("slot %d: %v", slot, err)
			break
		}
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*j:]))
		}
	}
	return s.Err()
}

// feedback reads the false-negative verdicts into sink.
func (s *snapReader) feedback(sink SnapshotSink) error {
	nfb := s.uvarint(math.MaxUint32, "feedback count")
	for i := uint64(0); i < nfb && s.Err() == nil; i++ {
		key := s.string(engine.MaxIDBytes, "anchor key")
		nids := s.uvarint(math.MaxUint32, "feedback id count")
		ids := make([]string, 0, min(nids, 1024))
		for j := uint64(0); j < nids && s.Err() == nil; j++ {
			ids = append(ids, s.string(engine.MaxIDBytes, "feedback id"))
		}
		if s.Err() == nil {
			sink.AddFalseNegatives(key, ids)
		}
	}
	return s.Err()
}

// graph reads the graph flag and, when set, has sink read the graph.
func (s *snapReader) graph(sink SnapshotSink) error {
	switch on, _ := s.ReadByte(); {
	case s.Err() != nil:
		return s.Err()
	case on == 1:
		if err := sink.ReadGraph(s); err != nil {
			if errors.Is(err, ErrSnapshot) {
				return err
			}
			return fmt.Errorf("%w: graph: %v", ErrSnapshot, err)
		}
		return nil
	case on == 0:
		sink.NoGraph()
		return nil
	default:
		return fmt.Errorf("%w: graph flag %d", ErrSnapshot, on)
	}
}

// trailer checks the checksum of every byte before it and that nothing follows it.
func (s *snapReader) trailer() error {
	want, at := s.Sum(), s.Offset()
	if got := s.U32(); s.Err() != nil {
		return fmt.Errorf("%w: trailer truncated", ErrSnapshot)
	} else if got != want {
		s.stoppedAt = at
		return fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	if _, err := s.ReadByte(); !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: bytes after the trailer", ErrSnapshot)
	}
	return nil
}

// SnapshotItems counts the live items of a snapshot, reading its header and slot ids
// and skipping the vectors, feedback and graph (which are not checksummed here).
func SnapshotItems(r io.Reader) (int, error) {
	s := &snapReader{Reader: binfmt.NewReader(bufio.NewReaderSize(r, 256<<10))}
	var cfg engine.Config
	if err := s.header(&cfg); err != nil {
		return 0, err
	}
	s.position(&SnapshotHeader{})
	s.writers()
	n := s.uvarint(math.MaxUint32, "slot count")
	live := 0
	for slot := uint64(0); slot < n && s.Err() == nil; slot++ {
		if id := s.string(engine.MaxIDBytes, "id"); id != "" {
			live++
			s.varint()
			for range int(s.uvarint(engine.MaxItemGroups, "group count")) {
				s.string(engine.MaxGroupBytes, "group")
			}
		}
		s.Bytes(4 * cfg.Dim)
	}
	return live, s.Err()
}
