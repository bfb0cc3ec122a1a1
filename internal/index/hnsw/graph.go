package hnsw

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/hugepage"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// VectorSource gives the graph read access to vectors stored by the collection.
// Vector(id) is safe to call concurrently with inserts for any id already passed to
// Insert; the slice is never mutated while the id is in the graph.
type VectorSource interface {
	Vector(id uint32) []float32
}

// Distance compares two vectors; lower is closer. Cosine and dot-product collections
// pass -dot (on unit vectors for cosine), L2 collections the squared distance.
type Distance func(a, b []float32) float32

// Neighbor is one search result.
type Neighbor struct {
	ID   uint32
	Dist float32
}

// Node state bits, kept in the low byte of chunk.state; the level sits above them.
const (
	flagClaimed  uint32 = 1 << iota // Insert has taken the id
	flagReady                       // the node's link lists are allocated
	flagDeleted                     // tombstone: routes, never returned
	flagRemoved                     // compacted away: no live node links to it any more; Reclaim clears the state
	flagDropping                    // chosen by the running Compact: new links to it are refused
	flagLinked                      // the insert has finished: the node's lists and reverse links are set

	levelShift = 8
)

// Nodes live in fixed-size chunks that never move, so readers can hold on to a
// chunk while the table of chunks grows.
const (
	chunkShift = 12
	chunkSize  = 1 << chunkShift
	chunkMask  = chunkSize - 1
)

// chunk holds chunkSize consecutive node ids. Link lists are flat uint32 arrays
// whose first word is the count; every word is read and written atomically, so a
// search may run while an insert rewrites a list (it sees old or new ids, all valid).
type chunk struct {
	state  []atomic.Uint32 // flag bits | level<<levelShift, per node
	locks  []sync.Mutex    // per node: serialises writers of that node's link lists
	links0 []uint32        // layer 0: stride0 words per node (count, then up to 2·M ids)
	upper  [][]uint32      // layers 1…level: strideU words per layer, written once before flagReady
}

// Graph is a hierarchical navigable small world graph (Malkov & Yashunin) over ids
// whose vectors a VectorSource holds. Ids are expected to be dense (0, 1, 2, …):
// memory is allocated up to the largest id, so callers reuse the ids that Compact
// drops (see Reclaim). All methods are safe for concurrent use, except Reclaim, whose
// caller excludes the others.
type Graph struct {
	opts Options
	dist Distance
	// negDot: dist is −vec.Dot (UseDot), so float searches score links with vec.DotRows.
	negDot bool
	src    VectorSource
	// codes, when set (UseCodes), holds an int8 code per id: searches and inserts walk
	// the graph on them and re-score their beams with dist. Set before the graph is
	// used, then read-only.
	codes *vec.Int8Codes
	// space and alphaSq relax the neighbour heuristic of Compact's repairs
	// (UseSpace); SpaceOther and 1 until it is called. Set before the graph is used,
	// then read-only.
	space     Space
	alphaSq   float32
	maxM      int // links per upper layer
	maxM0     int // links on layer 0
	stride0   int // 1 + maxM0
	strideU   int // 1 + maxM
	levelMult float64

	chunks atomic.Pointer[[]*chunk] // table of chunks; replaced (never mutated) on growth
	growMu sync.Mutex               // guards replacing chunks

	// entry is the entry point: id<<32 | (level+1); 0 while the graph is empty.
	entry atomic.Uint64
	// entryMu serialises changes of entry. An insert whose level exceeds the current
	// top level holds it for the whole insert (rare: about log_M(n) times in total).
	entryMu sync.Mutex

	live       atomic.Int64 // nodes inserted and not deleted
	deleted    atomic.Int64 // tombstones not yet compacted away
	removed    atomic.Int64 // nodes compacted away and not yet reclaimed
	upperWords atomic.Int64 // uint32 words allocated for upper layers

	compactMu sync.Mutex // one Compact at a time

	searchers searcherPool
}

// New returns an empty graph.
func New(opts Options, dist Distance, src VectorSource) (*Graph, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if dist == nil || src == nil {
		return nil, ErrNilArgument
	}
	g := &Graph{
		opts:      o,
		dist:      dist,
		src:       src,
		maxM:      o.M,
		maxM0:     2 * o.M,
		stride0:   1 + 2*o.M,
		strideU:   1 + o.M,
		levelMult: 1 / math.Log(float64(o.M)),
		alphaSq:   1,
	}
	empty := []*chunk{}
	g.chunks.Store(&empty)
	g.searchers.g = g
	return g, nil
}

// Space says what a Distance value measures, so that the neighbour heuristic can be
// relaxed in a space where scaling a distance means something (UseSpace).
type Space int

// Spaces.
const (
	// SpaceOther: no relaxation (a dot product of vectors of any length).
	SpaceOther Space = iota
	// SpaceL2Sq: the Distance is the squared Euclidean distance.
	SpaceL2Sq
	// SpaceUnitNegDot: the Distance is −dot of unit vectors (cosine), whose squared
	// Euclidean distance is 2 + 2·d.
	SpaceUnitNegDot
)

// DefaultPruneAlpha is the relaxation the index uses (UseSpace). On a corpus of 20
// clusters, churned by replacing every vector 30 times over with Compact at 30%
// tombstones, recall@10 at ef 64 stays 1.0000 on four corpora with 1.1 against a mean
// of 0.9618 with 1 (the plain heuristic), whose graph splits at layer 0 into islands
// that only the upper layers join (TestChurnKeepsClustersJoined).
const DefaultPruneAlpha = 1.1

// UseSpace relaxes the neighbour heuristic of Compact's repairs by alpha (≥ 1) in
// space sp: a candidate c is left out of p's repaired links for a node r already
// chosen only when alpha·‖r − c‖ < ‖p − c‖ (the α of DiskANN's robust prune); with
// alpha 1 that is the heuristic of the HNSW paper. A repair chooses among p's live
// links and the links of the dropped nodes p pointed to; those often lead to another
// region (the dropped node was the bridge to it), and the plain heuristic drops that
// link for a nearer node that has no link there, so after a few rounds of churn the
// regions are no longer joined at layer 0. Inserts keep the plain heuristic: a build
// (not kept) that relaxed them too built 10–20% slower on the real set of make bench,
// no more accurately, and churn recall fell to a mean of 0.9361 on the same corpora
// (2026-12-01). Call it before the graph is used; SpaceOther ignores alpha.
func (g *Graph) UseSpace(sp Space, alpha float64) {
	g.space = sp
	g.alphaSq = 1
	if sp != SpaceOther && alpha > 1 {
		g.alphaSq = float32(alpha * alpha)
	}
}

// prunes reports whether the heuristic leaves a candidate out for a chosen node r,
// given the candidate's distance dRC to r and dPC to the node being linked; relax
// applies UseSpace's alpha.
func (g *Graph) prunes(dRC, dPC float32, relax bool) bool {
	if !relax {
		return dRC < dPC
	}
	switch g.space {
	case SpaceL2Sq:
		return g.alphaSq*dRC < dPC
	case SpaceUnitNegDot:
		return g.alphaSq*(2+2*dRC) < 2+2*dPC
	}
	return dRC < dPC
}

// UseCodes makes searches and inserts walk the graph on codes, the int8 codes of the
// vectors that the VectorSource serves. A search re-scores the nodes of its beam
// (max(ef, k) nodes) that can be among the results it returns with the graph's
// Distance, so its results and their distances are those of Distance;
// an insert re-scores each layer's beam with Distance before it chooses links (measured
// faster than inserting on floats at the same recall, docs/BENCHMARKS.md). Compact keeps
// using Distance. The caller keeps codes current: an id's code is Set, like its vector,
// before the id is inserted. The codes approximate the inner product, so UseCodes suits
// only graphs whose Distance is the negated inner product (cosine and dot-product
// collections): Search and SearchOrdered re-score only the nodes that vec.Int8Codes.ErrorBound
// cannot rule out, which holds for a Distance of −vec.Dot (or any float32 inner
// product, within vec.GEMMErrorBound). Call it before the graph is used; nil switches
// back to floats.
func (g *Graph) UseCodes(codes *vec.Int8Codes) { g.codes = codes }

// UseDot declares that the graph's Distance is −vec.Dot (cosine and dot-product
// graphs). A search on floats then scores a node's unvisited links in one
// vec.DotRows call, which returns Dot's values bit for bit and reads the next link's
// vector while it scores the current one, instead of one Distance call per link.
// Call it before the graph is used.
func (g *Graph) UseDot() { g.negDot = true }

// Options returns the options in effect, defaults filled in.
func (g *Graph) Options() Options { return g.opts }

// Len returns the number of live (inserted, not deleted) nodes.
func (g *Graph) Len() int { return int(g.live.Load()) }

// Deleted returns the number of tombstones that Compact has not yet dropped.
func (g *Graph) Deleted() int { return int(g.deleted.Load()) }

// Dropped returns the number of ids Compact has dropped that Reclaim has not yet
// released.
func (g *Graph) Dropped() int { return int(g.removed.Load()) }

// capacity returns one past the largest id the chunk table can hold.
func (g *Graph) capacity() int { return len(*g.chunks.Load()) * chunkSize }

// chunkOf returns the chunk holding id, or nil when none was allocated.
func (g *Graph) chunkOf(id uint32) *chunk {
	t := *g.chunks.Load()
	if i := int(id >> chunkShift); i < len(t) {
		return t[i]
	}
	return nil
}

// ensureChunk returns the chunk for id, allocating it (and any before it) first.
func (g *Graph) ensureChunk(id uint32) *chunk {
	if c := g.chunkOf(id); c != nil {
		return c
	}
	g.growMu.Lock()
	defer g.growMu.Unlock()
	old := *g.chunks.Load()
	need := int(id>>chunkShift) + 1
	if need <= len(old) {
		return old[id>>chunkShift]
	}
	t := make([]*chunk, len(old), max(need, 2*len(old)))
	copy(t, old)
	for len(t) < need {
		// Layer-0 lists come in slabs once the graph is large (hugepage.Chunks), so
		// that most of them lie in whole huge pages; the table covers the whole slab.
		for _, links0 := range hugepage.Chunks[uint32](len(t), chunkSize*g.stride0) {
			t = append(t, &chunk{
				state:  make([]atomic.Uint32, chunkSize),
				locks:  make([]sync.Mutex, chunkSize),
				links0: links0,
				upper:  make([][]uint32, chunkSize),
			})
		}
	}
	g.chunks.Store(&t)
	return t[id>>chunkShift]
}

// state returns the state word of id (0 when the id was never inserted).
func (g *Graph) state(id uint32) uint32 {
	if c := g.chunkOf(id); c != nil {
		return c.state[id&chunkMask].Load()
	}
	return 0
}

func levelOf(st uint32) int { return int(st >> levelShift) }

// links returns the link list of a ready node on layer l: word 0 is the count,
// then the ids. Callers access the words with atomic loads and stores.
func (g *Graph) links(id uint32, l int) []uint32 {
	c := g.chunkOf(id)
	off := int(id & chunkMask)
	if l == 0 {
		return c.links0[off*g.stride0 : (off+1)*g.stride0 : (off+1)*g.stride0]
	}
	u := c.upper[off]
	return u[(l-1)*g.strideU : l*g.strideU : l*g.strideU]
}

func (g *Graph) lock(id uint32) *sync.Mutex {
	return &g.chunkOf(id).locks[id&chunkMask]
}

// maxLinks returns the link capacity of layer l.
func (g *Graph) maxLinks(l int) int {
	if l == 0 {
		return g.maxM0
	}
	return g.maxM
}

// vector returns the stored vector of id.
func (g *Graph) vector(id uint32) []float32 { return g.src.Vector(id) }

// randomLevel draws the level of id: floor(-ln(U)·mL) with mL = 1/ln(M) and U a
// uniform variate derived from the seed and the id alone.
func (g *Graph) randomLevel(id uint32) int {
	x := splitmix64(uint64(g.opts.Seed) ^ (uint64(id)+1)*0x9e3779b97f4a7c15)
	u := (float64(x>>11) + 0.5) / (1 << 53) // (0, 1)
	l := int(-math.Log(u) * g.levelMult)
	return min(l, maxLevel)
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func packEntry(id uint32, level int) uint64 { return uint64(id)<<32 | uint64(level+1) }

// unpackEntry returns the entry point id and top level; ok is false for an empty graph.
func unpackEntry(e uint64) (id uint32, level int, ok bool) {
	return uint32(e >> 32), int(uint32(e)) - 1, e != 0
}

// gone reports whether id is being or has been compacted away; no link to it may be
// added, so that once Compact returns nothing but other dropped nodes links to it.
func (g *Graph) gone(id uint32) bool { return g.state(id)&(flagDropping|flagRemoved) != 0 }

// IDBound returns one more than the largest id that was ever inserted, or 0 for an
// empty graph. It lets an owner check a loaded graph against its own id space.
func (g *Graph) IDBound() uint32 {
	for id := uint32(g.capacity()); id > 0; id-- {
		if g.state(id-1)&flagClaimed != 0 {
			return id
		}
	}
	return 0
}

// Contains reports whether id was inserted and not deleted.
func (g *Graph) Contains(id uint32) bool {
	st := g.state(id)
	return st&flagClaimed != 0 && st&flagDeleted == 0
}

// Inserted reports whether id holds a node: inserted and not reclaimed since, whether
// live, deleted or dropped. An id that is not inserted may be inserted without Reclaim.
func (g *Graph) Inserted(id uint32) bool { return g.state(id)&flagClaimed != 0 }
