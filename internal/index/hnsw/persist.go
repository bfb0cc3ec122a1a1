package hnsw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sort"
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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteTo serializes the graph. It may run concurrently with inserts and deletes;
// the result is then a consistent graph over the nodes that were complete when it
// started (links to later nodes are left out).
func (g *Graph) WriteTo(w io.Writer) (int64, error) {
	capacity := g.capacity()
	var ids []uint32
	in := make([]bool, capacity)
	for id := range uint32(capacity) {
		if st := g.state(id); st&flagReady != 0 {
			ids = append(ids, id)
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
	for _, id := range ids {
		st := g.state(id)
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
	c.crc = crc32.Update(c.crc, castagnoli, b)
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
func Read(r io.Reader, dist Distance, src VectorSource) (*Graph, error) {
	if dist == nil || src == nil {
		return nil, ErrNilArgument
	}
	d := &crcReader{r: r}
	hdr := d.read(headerSize)
	if d.err != nil {
		return nil, d.fail("header")
	}
	if string(hdr[:8]) != magic {
		return nil, fmt.Errorf("%w: not a graph (magic %q)", ErrBadFormat, hdr[:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(hdr[8:]); v != formatVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrBadFormat, v, formatVersion)
	}
	opts := Options{
		M:              int(le.Uint32(hdr[12:])),
		EfConstruction: int(le.Uint32(hdr[16:])),
		EfSearch:       int(le.Uint32(hdr[20:])),
		Seed:           int64(le.Uint64(hdr[24:])),
		CompactRatio:   math.Float64frombits(le.Uint64(hdr[32:])),
	}
	if opts.M == 0 || opts.EfConstruction == 0 || opts.EfSearch == 0 || opts.CompactRatio == 0 {
		return nil, fmt.Errorf("%w: zero option in header", ErrBadFormat)
	}
	g, err := New(opts, dist, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	entry := le.Uint64(hdr[40:])
	nodes := int(le.Uint32(hdr[48:]))

	var recs []record
	var counts []uint16
	var links []uint32
	for {
		n := int(le.Uint32(d.read(4)))
		if d.err != nil {
			return nil, d.fail("block length")
		}
		if n == 0 {
			break
		}
		if n > blockMax {
			return nil, fmt.Errorf("%w: block of %d bytes", ErrBadFormat, n)
		}
		b := d.read(n)
		if d.err != nil {
			return nil, d.fail("block")
		}
		for len(b) > 0 {
			if len(b) < 6 {
				return nil, fmt.Errorf("%w: truncated node record", ErrBadFormat)
			}
			rec := record{id: le.Uint32(b), flags: b[4], level: int(b[5]), cOff: len(counts), lOff: len(links)}
			b = b[6:]
			if rec.level > maxLevel || rec.flags&^(recDeleted|recRemoved) != 0 ||
				rec.flags&recRemoved != 0 && rec.flags&recDeleted == 0 {
				return nil, fmt.Errorf("%w: node %d: bad level or flags", ErrBadFormat, rec.id)
			}
			if len(recs) > 0 && rec.id <= recs[len(recs)-1].id {
				return nil, fmt.Errorf("%w: node ids out of order", ErrBadFormat)
			}
			for l := 0; l <= rec.level; l++ {
				if len(b) < 2 {
					return nil, fmt.Errorf("%w: truncated node record", ErrBadFormat)
				}
				c := int(le.Uint16(b))
				b = b[2:]
				if c > g.maxLinks(l) || len(b) < 4*c {
					return nil, fmt.Errorf("%w: node %d: bad link count", ErrBadFormat, rec.id)
				}
				counts = append(counts, uint16(c))
				for i := range c {
					links = append(links, le.Uint32(b[4*i:]))
				}
				b = b[4*c:]
			}
			recs = append(recs, rec)
		}
	}
	sum := d.crc
	stored := le.Uint32(d.read(4))
	if d.err != nil {
		return nil, d.fail("checksum")
	}
	if sum != stored {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadFormat)
	}
	if len(recs) != nodes {
		return nil, fmt.Errorf("%w: %d node records, header says %d", ErrBadFormat, len(recs), nodes)
	}

	// Memory follows the largest id (chunks, visited sets), so an id space far sparser
	// than any graph produces is refused rather than allocated.
	if len(recs) > 0 && int64(recs[len(recs)-1].id) >= 16*int64(len(recs))+1<<16 {
		return nil, fmt.Errorf("%w: largest id %d for %d nodes", ErrBadFormat, recs[len(recs)-1].id, len(recs))
	}
	// Validate every reference before allocating the graph.
	levelOfID := func(id uint32) int {
		i := sort.Search(len(recs), func(i int) bool { return recs[i].id >= id })
		if i < len(recs) && recs[i].id == id && recs[i].flags&recRemoved == 0 {
			return recs[i].level
		}
		return -1
	}
	for _, rec := range recs {
		li := rec.lOff
		for l := 0; l <= rec.level; l++ {
			for range int(counts[rec.cOff+l]) {
				if e := links[li]; e == rec.id || levelOfID(e) < l {
					return nil, fmt.Errorf("%w: node %d links to %d on layer %d", ErrBadFormat, rec.id, e, l)
				}
				li++
			}
		}
	}
	if epID, level, ok := unpackEntry(entry); ok {
		if levelOfID(epID) != level {
			return nil, fmt.Errorf("%w: bad entry point", ErrBadFormat)
		}
	}

	for _, rec := range recs {
		c := g.ensureChunk(rec.id)
		off := rec.id & chunkMask
		st := flagClaimed | flagReady | uint32(rec.level)<<levelShift
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
			n := int(counts[rec.cOff+l])
			for i := range n {
				list[1+i] = links[li+i]
			}
			list[0] = uint32(n)
			li += n
		}
		c.state[off].Store(st)
	}
	g.entry.Store(entry)
	return g, nil
}

// crcReader reads exact byte counts, checksumming them, and remembers the first error.
type crcReader struct {
	r   io.Reader
	crc uint32
	buf []byte
	err error
}

func (c *crcReader) read(n int) []byte {
	if c.err != nil {
		return make([]byte, n)
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	if _, err := io.ReadFull(c.r, b); err != nil {
		c.err = err
		return b
	}
	c.crc = crc32.Update(c.crc, castagnoli, b)
	return b
}

func (c *crcReader) fail(what string) error {
	if errors.Is(c.err, io.EOF) || errors.Is(c.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrBadFormat, what)
	}
	return fmt.Errorf("read graph %s: %w", what, c.err)
}
