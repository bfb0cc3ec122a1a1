package vec

import "fmt"

// DotMany scores q against every row of rows, a row-major matrix of dim-float rows, and
// writes out[i] = Dot(q, row i). It panics if dim <= 0, len(q) != dim, len(rows) is not
// a multiple of dim, or out is shorter than the number of rows.
func DotMany(q []float32, rows []float32, dim int, out []float32) {
	n := checkMany(len(q), rows, dim, len(out))
	for i := 0; i < n; i++ {
		out[i] = dot(q, rows[i*dim:(i+1)*dim])
	}
}

// L2SqMany writes out[i] = L2Sq(q, row i) for every row of rows, under the same rules
// as DotMany.
func L2SqMany(q []float32, rows []float32, dim int, out []float32) {
	n := checkMany(len(q), rows, dim, len(out))
	for i := 0; i < n; i++ {
		out[i] = l2sq(q, rows[i*dim:(i+1)*dim])
	}
}

// DotManyQ scores several queries in one pass over rows: out[j][i] = Dot(qs[j], row i).
// An exact scan is bound by memory bandwidth, so reading each row once for a batch of
// queries is several times faster per query than calling DotMany per query; batches of
// 8–16 queries of up to a few thousand dimensions keep the queries in the L1/L2 cache.
// It panics under the rules of DotMany for every query, or if len(out) < len(qs).
func DotManyQ(qs [][]float32, rows []float32, dim int, out [][]float32) {
	if len(out) < len(qs) {
		panic(fmt.Sprintf("vec: %d output slices for %d queries", len(out), len(qs)))
	}
	for j, q := range qs {
		checkMany(len(q), rows, dim, len(out[j]))
	}
	if len(qs) == 0 || len(rows) == 0 {
		return
	}
	dotManyQ(qs, rows, dim, out)
}

// DotManyQExact is DotManyQ with every score equal to Dot(qs[j], row i) bit for bit, so
// that its results can stand in for per-query DotMany scans whose scores are compared
// with Dot. It sums in Dot's order, four queries per row read, and is slower than
// DotManyQ when the rows are cached but reads memory as rarely. It panics under the
// rules of DotManyQ.
func DotManyQExact(qs [][]float32, rows []float32, dim int, out [][]float32) {
	if len(out) < len(qs) {
		panic(fmt.Sprintf("vec: %d output slices for %d queries", len(out), len(qs)))
	}
	for j, q := range qs {
		checkMany(len(q), rows, dim, len(out[j]))
	}
	if len(qs) == 0 || len(rows) == 0 {
		return
	}
	dotManyQExact(qs, rows, dim, out)
}

// checkMany validates the shapes of a batched call and returns the number of rows.
func checkMany(qlen int, rows []float32, dim, outlen int) int {
	if dim <= 0 {
		panic(fmt.Sprintf("vec: dimension %d", dim))
	}
	if qlen != dim {
		panic(fmt.Sprintf("vec: query has %d floats, dimension is %d", qlen, dim))
	}
	if len(rows)%dim != 0 {
		panic(fmt.Sprintf("vec: %d floats are not whole rows of %d", len(rows), dim))
	}
	n := len(rows) / dim
	if outlen < n {
		panic(fmt.Sprintf("vec: output holds %d scores for %d rows", outlen, n))
	}
	return n
}
