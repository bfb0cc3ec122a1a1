package vec

// dotGeneric is the portable Dot: four independent accumulators so the loop is not
// bound by the latency of one chain of additions. Requires len(b) >= len(a).
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2sqGeneric is the portable L2Sq, structured like dotGeneric. Requires len(b) >= len(a).
func l2sqGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dotManyQGeneric scores each row against every query while the row is hot in cache.
func dotManyQGeneric(qs [][]float32, rows []float32, dim int, out [][]float32) {
	n := len(rows) / dim
	for i := 0; i < n; i++ {
		row := rows[i*dim : (i+1)*dim]
		for j, q := range qs {
			out[j][i] = dot(q, row)
		}
	}
}
