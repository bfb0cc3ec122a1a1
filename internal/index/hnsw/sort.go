package hnsw

import "github.com/hardneg/hardneg/internal/index/sortkey"

// sortNeighbors sorts ns nearest first, ties by lower id (byDistID's order), by
// sorting integer keys instead of calling a comparison per step: each neighbour
// becomes its distance's bits, mapped so that unsigned order is the floats' order,
// above its id, and comes back bit for bit. keys is the caller's scratch, returned
// grown. Distances are finite (the vectors are), so NaN's place does not arise; −0
// takes +0's key (byDistID takes them as equal) and comes back as +0.
func sortNeighbors(ns []Neighbor, keys []uint64) []uint64 {
	return sortkey.Sort(ns, keys, neighborKey, keyNeighbor)
}

// neighborKey is n as a sort key: its distance's orderedBits above its id, so that
// keys order as byDistID orders neighbours.
func neighborKey(n Neighbor) uint64 { return uint64(sortkey.Bits(n.Dist))<<32 | uint64(n.ID) }

// keyNeighbor inverts neighborKey (−0 comes back as +0).
func keyNeighbor(k uint64) Neighbor {
	return Neighbor{ID: uint32(k), Dist: sortkey.FromBits(uint32(k >> 32))}
}
