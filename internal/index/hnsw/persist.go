package hnsw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/hardneg/hardneg/internal/binfmt"
)

// Serialized format, version 1, little-endian:
//
//	header  magic "hnswgrph", version u32, M u32, EfConstruction u32, EfSearch u32,
//	        Seed i64, CompactRatio f64, entry u64 (id<<32 | level+1, 0 = empty),
//	        node count u32
//	blocks  repeated: length u32 (1…blockMax), then that many bytes of whole node
//	        records; a length of 0 ends the blocks
//	trailer CRC-32C (Castagnoli) of every byte before it, u32
//
// A node record is id u32, flags u8 (1 deleted, 2 compacted away), level u8, then for
// each layer 0…level a link count u16 and that many ids u32. Records come in
// ascending id order. Blocks let Read consume exactly the graph's bytes without
// buffering past them, so a graph can sit inside a larger file.
const (
	magic         = "hnswgrph"
	formatVersion = 1
	blockTarget   = 64 << 10
	blockMax      = 1 << 20
	headerSize    = 8 + 4*4 + 8 + 8 + 8 + 4

	recDeleted = 1
	recRemoved = 2
)

// WriteTo serializes the graph. It may run concurrently with inserts, deletes and
// Compact; the result is then a consistent graph over the nodes whose inserts had
// finished when it started (links to later nodes are left out), each written in the
// state it had then: a node that Compact drops meanwhile is written as the tombstone
// it was, with the links it keeps, since nodes written before it may link to it.
func (g *Graph) WriteTo(w io.Writer) (int64, error) {
	capacity := g.capacity()
	var ids, states []uint32
	in := make([]bool, capacity)
	for id := range uint32(capacity) {
		// A node still inserting (ready, not yet linked) is left out: its lists may
		// still be empty while nodes written after it link to it.
		if st := g.state(id); st&flagReady != 0 && (st&flagLinked != 0 || st&flagRemoved != 0) {
			ids = append(ids, id)
			states = append(states, st)
			in[id] = st&flagRemoved == 0 // links to compacted-away nodes are dropped
		}
	}
	included := func(e uint32) bool { return int(e) < len(in) && in[e] }

	cw := &crcWriter{w: w}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, formatVersion)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(g.opts.M))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(g.opts.EfConstruction))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(g.opts.EfSearch))
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(g.opts.Seed))
	hdr = binary.LittleEndian.AppendUint64(hdr, math.Float64bits(g.opts.CompactRatio))
	entry := g.entry.Load()
	if epID, _, ok := unpackEntry(entry); ok && !included(epID) {
		entry = 0
	}
	hdr = binary.LittleEndian.AppendUint64(hdr, entry)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(ids)))
	cw.write(hdr)

	block := make([]byte, 4, blockTarget+4096)
	flush := func() {
		binary.LittleEndian.PutUint32(block, uint32(len(block)-4))
		cw.write(block)
		block = block[:4]
	}
	var links []uint32
	for i, id := range ids {
		st := states[i]
		level := levelOf(st)
		var flags byte
		if st&flagDeleted != 0 {
			flags |= recDeleted
		}
		if st&flagRemoved != 0 {
			flags |= recRemoved
			level = 0 // unreachable: its links are not needed
		}
		block = binary.LittleEndian.AppendUint32(block, id)
		block = append(block, flags, byte(level))
		for l := 0; l <= level; l++ {
			links = links[:0]
			if flags&recRemoved == 0 {
				for _, e := range g.snapshot(id, l) {
					if included(e) && e != id && !slices.Contains(links, e) {
						links = append(links, e)
					}
				}
			}
			block = binary.LittleEndian.AppendUint16(block, uint16(len(links)))
			for _, e := range links {
				block = binary.LittleEndian.AppendUint32(block, e)
			}
		}
		if len(block) >= blockTarget {
			flush()
		}
	}
	if len(block) > 4 {
		flush()
	}
	cw.write(binary.LittleEndian.AppendUint32(nil, 0))
	cw.write(binary.LittleEndian.AppendUint32(nil, cw.crc))
	return cw.n, cw.err
}

// crcWriter writes while checksumming what it wrote and remembers the first error.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
	err error
}

func (c *crcWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	c.crc = binfmt.Update(c.crc, b)
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

// record is one parsed node record; its link lists are counts[cOff:cOff+level+1]
// with ids taken in order from links[lOff:].
type record struct {
	id         uint32
	flags      byte
	level      int
	cOff, lOff int
}

// Read loads a graph written by WriteTo, using dist and src for its vectors. It reads
// exactly the serialized bytes. Any truncation, unknown version, checksum mismatch or
// inconsistency is reported as an error wrapping ErrBadFormat, never a panic.
//
// It runs in steps: the header (options and entry point), the node records, the
// trailer's checksum, a check of every reference, and only then the graph's memory.
func Read(r io.Reader, dist Distance, src VectorSource) (*Graph, error) {
	if dist == nil || src == nil {
		return nil, ErrNilArgument
	}
	d := &graphReader{Reader: binfmt.NewReader(r)}
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	g, err := New(h.opts, dist, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	if err := d.records(g.maxLinks); err != nil {
		return nil, err
	}
	if err := d.trailer(); err != nil {
		return nil, err
	}
	if len(d.recs) != h.nodes {
		return nil, fmt.Errorf("%w: %d node records, header says %d", ErrBadFormat, len(d.recs), h.nodes)
	}
	if err := d.check(h.entry); err != nil {
		return nil, err
	}
	d.build(g)
	g.entry.Store(h.entry)
	return g, nil
}

// graphReader decodes a serialized graph: binfmt.Reader checksums what it consumed,
// and the parsed records collect in recs, counts and links.
type graphReader struct {
	*binfmt.Reader
	recs   []record
	counts []uint16 // link counts, per record and layer
	links  []uint32 // link ids, in record and layer order
}

// graphHeader is what the header holds.
type graphHeader struct {
	opts  Options
	entry uint64
	nodes int
}

// fail turns the reader's error into one naming what was being read.
func (d *graphReader) fail(what string) error {
	if err := d.Err(); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrBadFormat, what)
	}
	return fmt.Errorf("read graph %s: %w", what, d.Err())
}

// header reads and checks the header.
func (d *graphReader) header() (graphHeader, error) {
	hdr := d.Bytes(headerSize)
	if hdr == nil {
		return graphHeader{}, d.fail("header")
	}
	if string(hdr[:8]) != magic {
		return graphHeader{}, fmt.Errorf("%w: not a graph (magic %q)", ErrBadFormat, hdr[:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(hdr[8:]); v != formatVersion {
		return graphHeader{}, fmt.Errorf("%w: version %d, this build reads %d", ErrBadFormat, v, formatVersion)
	}
	h := graphHeader{
		opts: Options{
			M:              int(le.Uint32(hdr[12:])),
			EfConstruction: int(le.Uint32(hdr[16:])),
			EfSearch:       int(le.Uint32(hdr[20:])),
			Seed:           int64(le.Uint64(hdr[24:])),
			CompactRatio:   math.Float64frombits(le.Uint64(hdr[32:])),
		},
		entry: le.Uint64(hdr[40:]),
		nodes: int(le.Uint32(hdr[48:])),
	}
	if h.opts.M == 0 || h.opts.EfConstruction == 0 || h.opts.EfSearch == 0 || h.opts.CompactRatio == 0 {
		return graphHeader{}, fmt.Errorf("%w: zero option in header", ErrBadFormat)
	}
	return h, nil
}

// records reads the blocks of node records up to the empty block that ends them.
// maxLinks bounds a layer's link count.
func (d *graphReader) records(maxLinks func(layer int) int) error {
	for {
		n := int(d.U32())
		if d.Err() != nil {
			return d.fail("block length")
		}
		if n == 0 {
			return nil
		}
		if n > blockMax {
			return fmt.Errorf("%w: block of %d bytes", ErrBadFormat, n)
		}
		b := d.Bytes(n)
		if b == nil {
			return d.fail("block")
		}
		if err := d.block(b, maxLinks); err != nil {
			return err
		}
	}
}

// block parses the node records of one block.
func (d *graphReader) block(b []byte, maxLinks func(layer int) int) error {
	le := binary.LittleEndian
	for len(b) > 0 {
		if len(b) < 6 {
			return fmt.Errorf("%w: truncated node record", ErrBadFormat)
		}
		rec := record{id: le.Uint32(b), flags: b[4], level: int(b[5]), cOff: len(d.counts), lOff: len(d.links)}
		b = b[6:]
		if rec.level > maxLevel || rec.flags&^(recDeleted|recRemoved) != 0 ||
			rec.flags&recRemoved != 0 && rec.flags&recDeleted == 0 {
			return fmt.Errorf("%w: node %d: bad level or flags", ErrBadFormat, rec.id)
		}
		if len(d.recs) > 0 && rec.id <= d.recs[len(d.recs)-1].id {
			return fmt.Errorf("%w: node ids out of order", ErrBadFormat)
		}
		for l := 0; l <= rec.level; l++ {
			if len(b) < 2 {
				return fmt.Errorf("%w: truncated node record", ErrBadFormat)
			}
			c := int(le.Uint16(b))
			b = b[2:]
			if c > maxLinks(l) || len(b) < 4*c {
				return fmt.Errorf("%w: node %d: bad link count", ErrBadFormat, rec.id)
			}
			d.counts = append(d.counts, uint16(c))
			for i := range c {
				d.links = append(d.links, le.Uint32(b[4*i:]))
			}
			b = b[4*c:]
		}
		d.recs = append(d.recs, rec)
	}
	return nil
}

// trailer reads the checksum and compares it with that of every byte before it.
func (d *graphReader) trailer() error {
	sum := d.Sum()
	stored := d.U32()
	if d.Err() != nil {
		return d.fail("checksum")
	}
	if sum != stored {
		return fmt.Errorf("%w: checksum mismatch", ErrBadFormat)
	}
	return nil
}

// levelOf returns the level of a node that is in the graph (not compacted away), or
// -1.
func (d *graphReader) levelOf(id uint32) int {
	recs := d.recs
	i := sort.Search(len(recs), func(i int) bool { return recs[i].id >= id })
	if i < len(recs) && recs[i].id == id && recs[i].flags&recRemoved == 0 {
		return recs[i].level
	}
	return -1
}

// check validates every reference before the graph's memory is allocated: the id
// space, each link and the entry point.
func (d *graphReader) check(entry uint64) error {
	recs := d.recs
	// Memory follows the largest id (chunks, visited sets), so an id space far sparser
	// than any graph produces is refused rather than allocated.
	if len(recs) > 0 && int64(recs[len(recs)-1].id) >= 16*int64(len(recs))+1<<16 {
		return fmt.Errorf("%w: largest id %d for %d nodes", ErrBadFormat, recs[len(recs)-1].id, len(recs))
	}
	for _, rec := range recs {
		li := rec.lOff
		for l := 0; l <= rec.level; l++ {
			for range int(d.counts[rec.cOff+l]) {
				if e := d.links[li]; e == rec.id || d.levelOf(e) < l {
					return fmt.Errorf("%w: node %d links to %d on layer %d", ErrBadFormat, rec.id, e, l)
				}
				li++
			}
		}
	}
	if epID, level, ok := unpackEntry(entry); ok {
		if d.levelOf(epID) != level {
			return fmt.Errorf("%w: bad entry point", ErrBadFormat)
		}
	}
	return nil
}

// build fills g with the checked records.
func (d *graphReader) build(g *Graph) {
	for _, rec := range d.recs {
		c := g.ensureChunk(rec.id)
		off := rec.id & chunkMask
		st := flagClaimed | flagReady | flagLinked | uint32(rec.level)<<levelShift
		switch {
		case rec.flags&recRemoved != 0:
			st |= flagDeleted | flagRemoved
			g.removed.Add(1)
		case rec.flags&recDeleted != 0:
			st |= flagDeleted
			g.deleted.Add(1)
		default:
			g.live.Add(1)
		}
		if rec.level > 0 {
			c.upper[off] = make([]uint32, rec.level*g.strideU)
			g.upperWords.Add(int64(rec.level * g.strideU))
		}
		li := rec.lOff
		for l := 0; l <= rec.level; l++ {
			list := g.links(rec.id, l)
			n := int(d.counts[rec.cOff+l])
			for i := range n {
				list[1+i] = d.links[li+i]
			}
			list[0] = uint32(n)
			li += n
		}
		c.state[off].Store(st)
	}
}
