package vec

// genericInt8 is the portable integer micro-kernel: 4 queries per call.
var genericInt8 = int8Kernel{name: "generic", width: 4, fn: int8Generic}

// int8Generic computes what every int8Kernel computes, in Go: the offset row codes
// times the query codes summed in int32 (wrapping like VPDPBUSD), minus the query's
// correction, then scaled in float32.
func int8Generic(p *int8Call) {
	const W = 4
	bsize := p.groups * int8BlockRows * 4
	for b := 0; b < p.blocks; b++ {
		block := p.codes[b*bsize : (b+1)*bsize]
		rscale := p.rscale[b*int8BlockRows : (b+1)*int8BlockRows]
		for j := 0; j < W; j++ {
			q := p.qcodes[j*p.qstride : j*p.qstride+p.groups*4]
			var acc [int8BlockRows]int32
			for g := 0; g < p.groups; g++ {
				qg := q[g*4 : g*4+4]
				q0, q1, q2, q3 := int32(qg[0]), int32(qg[1]), int32(qg[2]), int32(qg[3])
				bg := block[g*int8BlockRows*4 : (g+1)*int8BlockRows*4]
				for i := range acc {
					r := bg[i*4 : i*4+4]
					acc[i] += int32(r[0])*q0 + int32(r[1])*q1 + int32(r[2])*q2 + int32(r[3])*q3
				}
			}
			dst := p.dst[j][b*int8BlockRows : (b+1)*int8BlockRows]
			for i, a := range acc {
				s := a - p.corr[j]
				p.itile[j*int8BlockRows+i] = s
				dst[i] = float32(float32(s)*p.qscale[j]) * rscale[i]
			}
		}
	}
}
