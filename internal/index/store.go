package index

import (
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/hugepage"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// storeChunkRows is the number of vectors per storage chunk.
const storeChunkRows = 1024

// vectorStore keeps vectors contiguously in fixed-size chunks that never move once
// allocated, so readers (the exact scan, the graph) can read a slot's vector without the
// collection lock while writers add chunks. Growing publishes a new chunk table
// atomically; the chunks themselves are shared.
//
// A slot's values are written by its writer before the slot is published (through the
// collection's id map or the graph), and never change while the slot is live or a
// graph tombstone. A free slot (dropped from the graph by compaction, see
// Collection.reuseSlot) is rewritten under the collection's write lock, when no
// search, insert or compaction can reach it.
//
// Each chunk may also hold its rows quantized to int8 (vec.Int8Rows) for ScoreExact's
// first product: built from the floats once int8BuildQueries queries have been scored
// against the chunk since it was last written, dropped when a row of the chunk is
// written, never persisted (after recovery they are rebuilt the same way).
//
// Collections with int8 quantization also keep graphCodes, every slot's int8 code for
// the graph search (vec.Int8Codes), written together with the slot's vector once the
// collection has a graph: before that nothing reads them, so a collection searched
// exactly (below its exact threshold, or exact-only) does not encode its uploads, and
// building the graph encodes every slot first (startCodes). A code is a pure function
// of its vector, so it is never logged or snapshotted either: replay writes it through
// set, and a loaded snapshot with a graph re-encodes every slot before the graph is
// read. There are no trained parameters to keep or version.
type vectorStore struct {
	dim int
	// graphCodes holds each slot's int8 code, or is nil when the collection searches
	// its graph on floats; a slot's code follows the same rules as its vector.
	graphCodes *vec.Int8Codes
	// codesOn is set once graphCodes are kept current (startCodes); set encodes only
	// then. Guarded by the collection's write lock.
	codesOn bool
	chunks  atomic.Pointer[[][]float32] // chunk table; each chunk holds storeChunkRows·dim values
	// codes[i] holds chunk i's int8 rows, or nil when they are not built or stale. The
	// table grows and entries are cleared under the collection's write lock; entries
	// are built and read under its read lock (so never while a row changes), by
	// several readers at once, hence atomic.
	codes []*chunkCodes
}

// chunkCodes is one chunk's int8 rows and how many queries were scored against the
// chunk without them since it was last written.
type chunkCodes struct {
	rows    atomic.Pointer[vec.Int8Rows]
	pending atomic.Int64
}

// int8BuildQueries is how many queries must be scored against a chunk since it was
// last written before ScoreExact quantizes it: quantizing a 384-d row costs about what
// scoring it against 140 queries with the float32 product does, so a chunk rewritten
// between small requests is scored in float32 rather than quantized again and again.
const int8BuildQueries = 128

// drop forgets the chunk's int8 rows after a write.
func (c *chunkCodes) drop() {
	c.rows.Store(nil)
	c.pending.Store(0)
}

func newVectorStore(dim int, quantized bool) *vectorStore {
	s := &vectorStore{dim: dim}
	if quantized {
		s.graphCodes = vec.NewInt8Codes(dim)
	}
	s.chunks.Store(&[][]float32{})
	return s
}

// Vector returns slot's vector. The slot must be below the store's capacity.
func (s *vectorStore) Vector(slot uint32) []float32 {
	t := *s.chunks.Load()
	c := t[slot/storeChunkRows]
	off := int(slot%storeChunkRows) * s.dim
	return c[off : off+s.dim : off+s.dim]
}

// capacity returns the number of slots backed by storage.
func (s *vectorStore) capacity() int { return len(*s.chunks.Load()) * storeChunkRows }

// ensure makes slot addressable. Callers are serialised by the collection lock.
func (s *vectorStore) ensure(slot uint32) {
	t := *s.chunks.Load()
	if int(slot) < len(t)*storeChunkRows {
		return
	}
	nt := make([][]float32, len(t), len(t)+1)
	copy(nt, t)
	for int(slot) >= len(nt)*storeChunkRows {
		// Chunks come in slabs once the store is large (hugepage.Chunks), so that most
		// of the vectors lie in whole huge pages.
		for _, c := range hugepage.Chunks[float32](len(nt), storeChunkRows*s.dim) {
			nt = append(nt, c)
			s.codes = append(s.codes, new(chunkCodes))
		}
	}
	s.chunks.Store(&nt)
}

// populateAhead, at the first write into a chunk, has the next chunk's pages faulted
// in on another goroutine, if the chunk's slab already holds it: the kernel zeroes
// fresh pages while the writer fills this chunk. (A table too small for slabs gains
// nothing: on 2 cores the fault work only moves. Loading a snapshot gained nothing
// measurable either, so only set does it.)
func (s *vectorStore) populateAhead(slot uint32) {
	if slot%storeChunkRows != 0 {
		return
	}
	if t := *s.chunks.Load(); int(slot/storeChunkRows)+1 < len(t) {
		hugepage.PopulateAhead(t[slot/storeChunkRows+1])
	}
}

// set writes slot's vector. Callers are serialised by the collection lock.
func (s *vectorStore) set(slot uint32, v []float32) {
	s.ensure(slot)
	s.populateAhead(slot)
	copy(s.Vector(slot), v)
	s.codes[slot/storeChunkRows].drop()
	if s.codesOn {
		s.graphCodes.Set(slot, v)
	}
}

// writable makes slot addressable and returns its vector for the caller to fill
// (loading a snapshot); like set, it drops the chunk's int8 rows. The slot's graph code
// is left to startCodes, once the vector is filled.
func (s *vectorStore) writable(slot uint32) []float32 {
	s.ensure(slot)
	s.codes[slot/storeChunkRows].drop()
	return s.Vector(slot)
}

// startCodes writes the graph codes of the first n slots (every slot written) from
// their vectors and keeps them current from then on, before a graph is built or read.
// The caller holds the collection's write lock; nothing reads the codes yet.
func (s *vectorStore) startCodes(n int) {
	if s.graphCodes == nil || s.codesOn {
		return
	}
	for slot := range uint32(n) {
		s.graphCodes.Set(slot, s.Vector(slot))
	}
	s.codesOn = true
}

// int8Rows calls fn for each chunk with the first slot it holds, its rows and, when
// they are current, its rows quantized to int8 (else nil), of which the first count are
// among the first n slots. nq queries are being scored: a chunk without int8 rows is
// quantized when they bring its pending queries to int8BuildQueries. Callers hold the
// collection's read lock.
func (s *vectorStore) int8Rows(n, nq int, fn func(first uint32, rows []float32, codes *vec.Int8Rows, count int)) {
	t := *s.chunks.Load()
	for i, c := range t {
		first := i * storeChunkRows
		if first >= n {
			return
		}
		count := min(storeChunkRows, n-first)
		cc := s.codes[i]
		q := cc.rows.Load()
		if q == nil && cc.pending.Add(int64(nq)) >= int8BuildQueries {
			q = vec.QuantizeRows(c, s.dim)
			if !cc.rows.CompareAndSwap(nil, q) {
				q = cc.rows.Load()
			}
		}
		fn(uint32(first), c[:count*s.dim], q, count)
	}
}

// codeBounds returns the largest MaxNorm and MaxErr of the int8 rows the chunks holding
// slots below n have (0, 0 for none): with the query's, they set the int8 product's
// error bound (vec.Int8Queries.ErrorBound). Caller holds the collection's read lock.
func (s *vectorStore) codeBounds(n int) (norm, err float64) {
	for i := range *s.chunks.Load() {
		if i*storeChunkRows >= n || i >= len(s.codes) {
			break
		}
		if q := s.codes[i].rows.Load(); q != nil {
			norm, err = max(norm, q.MaxNorm()), max(err, q.MaxErr())
		}
	}
	return norm, err
}

// codedFor reports whether every chunk holding slots below n has its int8 rows, or
// will have them once int8Rows scores nq more queries against it (pending only grows
// under the collection's read lock). Caller holds the collection's read lock.
func (s *vectorStore) codedFor(n, nq int) bool {
	t := *s.chunks.Load()
	for i := range t {
		if i*storeChunkRows >= n {
			break
		}
		if i >= len(s.codes) {
			return false
		}
		if cc := s.codes[i]; cc.rows.Load() == nil && cc.pending.Load()+int64(nq) < int8BuildQueries {
			return false
		}
	}
	return true
}

// rows calls fn for each chunk with the first slot it holds and its rows (up to n
// slots in total).
func (s *vectorStore) rows(n int, fn func(first uint32, rows []float32, count int)) {
	t := *s.chunks.Load()
	for i, c := range t {
		first := i * storeChunkRows
		if first >= n {
			return
		}
		count := min(storeChunkRows, n-first)
		fn(uint32(first), c[:count*s.dim], count)
	}
}

// bytes returns the memory held by vectors and their graph codes.
func (s *vectorStore) bytes() int64 {
	n := int64(s.capacity()) * int64(s.dim) * 4
	if s.graphCodes != nil {
		n += s.graphCodes.Bytes()
	}
	return n
}
