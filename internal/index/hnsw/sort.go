package hnsw

import (
	"math"
	"slices"
)

// sortNeighbors sorts ns nearest first, ties by lower id (byDistID's order), by
// sorting integer keys instead of calling a comparison per step: each neighbour
// becomes its distance's bits, mapped so that unsigned order is the floats' order,
// above its id, and comes back bit for bit. keys is the caller's scratch, returned
// grown. Distances are finite (the vectors are), so NaN's place does not arise; −0
// takes +0's key (byDistID takes them as equal) and comes back as +0.
func sortNeighbors(ns []Neighbor, keys []uint64) []uint64 {
	keys = keys[:0]
	for _, n := range ns {
		keys = append(keys, neighborKey(n))
	}
	slices.Sort(keys)
	for i, k := range keys {
		ns[i] = keyNeighbor(k)
	}
	return keys
}

// orderedBits maps f to a uint32 whose unsigned order is f's numeric order: negative
// floats have every bit flipped, the others their sign bit set.
func orderedBits(f float32) uint32 {
	if f == 0 {
		f = 0 // −0 as +0
	}
	b := math.Float32bits(f)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// fromOrderedBits inverts orderedBits.
func fromOrderedBits(u uint32) float32 {
	if u>>31 != 0 {
		return math.Float32frombits(u &^ (1 << 31))
	}
	return math.Float32frombits(^u)
}

// neighborKey is n as a sort key: its distance's orderedBits above its id, so that
// keys order as byDistID orders neighbours.
func neighborKey(n Neighbor) uint64 { return uint64(orderedBits(n.Dist))<<32 | uint64(n.ID) }

// keyNeighbor inverts neighborKey (−0 comes back as +0).
func keyNeighbor(k uint64) Neighbor {
	return Neighbor{ID: uint32(k), Dist: fromOrderedBits(uint32(k >> 32))}
}

// selectSmallest reorders keys so that its m smallest come first (in no order),
// 0 < m < len(keys): quickselect with a median-of-three pivot.
func selectSmallest(keys []uint64, m int) {
	lo, hi := 0, len(keys)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three at mid.
		if keys[mid] < keys[lo] {
			keys[mid], keys[lo] = keys[lo], keys[mid]
		}
		if keys[hi] < keys[lo] {
			keys[hi], keys[lo] = keys[lo], keys[hi]
		}
		if keys[hi] < keys[mid] {
			keys[hi], keys[mid] = keys[mid], keys[hi]
		}
		p := keys[mid]
		i, j := lo, hi
		for i <= j {
			for keys[i] < p {
				i++
			}
			for keys[j] > p {
				j--
			}
			if i <= j {
				keys[i], keys[j] = keys[j], keys[i]
				i++
				j--
			}
		}
		// keys[lo..j] ≤ p ≤ keys[i..hi], and keys[j+1..i-1] == p.
		switch {
		case m <= j:
			hi = j
		case m >= i:
			lo = i
		default:
			return
		}
	}
}
