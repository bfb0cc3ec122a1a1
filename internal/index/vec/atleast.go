package vec

// AtLeast appends to dst the index of every element of x that is at least thr (never of
// a NaN) in increasing order, and returns the extended slice.
func AtLeast(x []float32, thr float32, dst []uint32) []uint32 {
	return atLeast(x, thr, dst)
}

func atLeastGeneric(x []float32, thr float32, dst []uint32, first int) []uint32 {
	for i, v := range x[first:] {
		if v >= thr {
			dst = append(dst, uint32(first+i))
		}
	}
	return dst
}
