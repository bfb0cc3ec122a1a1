package vec

// genericGEMM is the portable micro-kernel: 4 rows × 8 queries.
var genericGEMM = gemmKernel{name: "generic", rows: 4, width: 8, fn: gemmGeneric}

// gemmGeneric scores 4 rows against a panel of 8 queries, each pair summed in k order.
func gemmGeneric(panel, rows []float32, stride, dim int, tile *[tileRows * tileCols]float32) {
	r0 := rows[0*stride : 0*stride+dim]
	r1 := rows[1*stride : 1*stride+dim]
	r2 := rows[2*stride : 2*stride+dim]
	r3 := rows[3*stride : 3*stride+dim]
	panel = panel[:dim*8]
	for j0 := 0; j0 < 8; j0 += 2 {
		var a00, a01, a10, a11, a20, a21, a30, a31 float32
		for k := 0; k < dim; k++ {
			p := panel[k*8+j0 : k*8+j0+2]
			q0, q1 := p[0], p[1]
			x0, x1, x2, x3 := r0[k], r1[k], r2[k], r3[k]
			a00 += x0 * q0
			a01 += x0 * q1
			a10 += x1 * q0
			a11 += x1 * q1
			a20 += x2 * q0
			a21 += x2 * q1
			a30 += x3 * q0
			a31 += x3 * q1
		}
		tile[0*tileCols+j0], tile[0*tileCols+j0+1] = a00, a01
		tile[1*tileCols+j0], tile[1*tileCols+j0+1] = a10, a11
		tile[2*tileCols+j0], tile[2*tileCols+j0+1] = a20, a21
		tile[3*tileCols+j0], tile[3*tileCols+j0+1] = a30, a31
	}
}
