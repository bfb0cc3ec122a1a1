package vec

// genericInt8 is the portable integer micro-kernel: 4 rows × 8 queries.
var genericInt8 = int8Kernel{name: "generic", rows: 4, width: 8, fn: int8Generic}

// int8Generic computes what every int8Kernel computes, in Go: the offset query codes
// times the row codes summed in int32 (wrapping like VPDPBUSD), minus the row's
// correction, then scaled in float32.
func int8Generic(p *int8Call) {
	const R, W = 4, 8
	panel := p.panel[:p.groups*W*4]
	for i := 0; i < R; i++ {
		row := p.codes[i*p.stride : i*p.stride+p.groups*4]
		var acc [W]int32
		for g := 0; g < p.groups; g++ {
			r := row[g*4 : g*4+4]
			pg := panel[g*W*4 : (g+1)*W*4]
			for j := 0; j < W; j++ {
				q := pg[j*4 : j*4+4]
				acc[j] += int32(q[0])*int32(r[0]) + int32(q[1])*int32(r[1]) + int32(q[2])*int32(r[2]) + int32(q[3])*int32(r[3])
			}
		}
		for j := 0; j < W; j++ {
			s := acc[j] - p.corr[i]
			p.itile[i*tileCols+j] = s
			p.ftile[i*tileCols+j] = float32(float32(s)*p.qscale[j]) * p.rscale[i]
		}
	}
}
