// Package sortkey turns scored entries into uint64 keys whose unsigned order is the
// entries' order, so that selections and sorts compare integers instead of calling a
// comparison per step, and selects the smallest keys.
package sortkey

import (
	"math"
	"slices"
)

// Sort sorts es in the order of their keys (key, which back inverts) by sorting the
// keys themselves: integer comparisons instead of a comparison call per step. keys is
// the caller's scratch, returned grown.
func Sort[T any](es []T, keys []uint64, key func(T) uint64, back func(uint64) T) []uint64 {
	keys = keys[:0]
	for _, e := range es {
		keys = append(keys, key(e))
	}
	slices.Sort(keys)
	for i, k := range keys {
		es[i] = back(k)
	}
	return keys
}

// Bits maps f to a uint32 whose unsigned order is f's numeric order: negative
// floats have every bit flipped, the others their sign bit set.
func Bits(f float32) uint32 {
	if f == 0 {
		f = 0 // −0 as +0
	}
	b := math.Float32bits(f)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// FromBits inverts Bits (−0 comes back as +0).
func FromBits(u uint32) float32 {
	if u>>31 != 0 {
		return math.Float32frombits(u &^ (1 << 31))
	}
	return math.Float32frombits(^u)
}

// SelectSmallest reorders keys so that its m smallest come first (in no order),
// 0 < m < len(keys): quickselect with a median-of-three pivot.
func SelectSmallest(keys []uint64, m int) {
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
