package hnsw

import (
	"testing"

	"github.com/hardneg/hardneg/internal/hugepage"
)

// sparseSource serves the vectors of src at the ids of at, in order.
type sparseSource struct {
	src *memSource
	at  map[uint32]uint32
}

func (s sparseSource) Vector(id uint32) []float32 { return s.src.Vector(s.at[id]) }

// TestChunksInSlabs grows the graph's table through slabs of layer-0 lists
// (hugepage.Slab) in one step, to ids far past the first chunks, in three chunks of one
// slab, and checks that every node still finds itself and links only to inserted
// nodes: each chunk's lists are their own part of the slab.
func TestChunksInSlabs(t *testing.T) {
	const n = 100
	far := uint32(40 * chunkSize)
	src := clustered(4*n, 16, 4, 0.1, 9, true)
	at := map[uint32]uint32{}
	var ids []uint32
	for i := range uint32(n) {
		for r, first := range []uint32{0, far - chunkSize, far, far + chunkSize} {
			at[first+i] = uint32(r)*n + i
			ids = append(ids, first+i)
		}
	}
	g := newGraph(t, Options{M: 8, EfConstruction: 64, EfSearch: 64, Seed: 3}, negDot, sparseSource{src, at})
	for _, id := range ids {
		g.Insert(id)
	}
	words := chunkSize * g.stride0 * 4
	if got := hugepage.Slab(int(far>>chunkShift), words); got <= 1 {
		t.Fatalf("a %d-chunk graph allocates %d chunk at a time: the test does not reach the slabs", far>>chunkShift, got)
	}
	tab := *g.chunks.Load()
	if len(tab) <= int(far>>chunkShift) {
		t.Fatalf("table of %d chunks does not cover id %d", len(tab), far)
	}
	for i, c := range tab {
		if len(c.links0) != chunkSize*g.stride0 || cap(c.links0) != len(c.links0) {
			t.Fatalf("chunk %d: links0 len %d cap %d, want both %d", i, len(c.links0), cap(c.links0), chunkSize*g.stride0)
		}
	}
	in := map[uint32]bool{}
	for _, id := range ids {
		in[id] = true
	}
	for _, id := range ids {
		list := g.links(id, 0)
		for _, e := range list[1 : 1+list[0]] {
			if !in[e] {
				t.Fatalf("node %d links to %d, which was never inserted", id, e)
			}
		}
		res := g.Search(g.src.Vector(id), 1, 64, nil, nil)
		if len(res) != 1 || res[0].ID != id {
			t.Fatalf("node %d: nearest is %v, want itself", id, res)
		}
	}
}
