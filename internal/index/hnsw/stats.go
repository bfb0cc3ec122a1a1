package hnsw

import "unsafe"

// MemoryBytes returns the memory the graph itself holds: node state, locks and link
// lists (allocated a chunk of 4,096 ids at a time), upper-layer lists and idle search
// buffers. Vectors belong to the VectorSource and are not counted.
func (g *Graph) MemoryBytes() int64 {
	chunks := int64(len(*g.chunks.Load()))
	perNode := int64(unsafe.Sizeof(uint32(0))) + // state
		int64(unsafe.Sizeof(chunk{}.locks[0])) + // lock
		int64(4*g.stride0) + // layer-0 links
		int64(unsafe.Sizeof([]uint32(nil))) // upper-layer slice header
	return chunks*(chunkSize*perNode+int64(unsafe.Sizeof(chunk{}))+8) +
		4*g.upperWords.Load() +
		g.searchers.bytes()
}
