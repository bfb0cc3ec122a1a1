package vec

import (
	"fmt"
	"math"
)

// tileRows and tileCols bound the register tile of every GEMM kernel: a kernel scores
// up to tileRows rows against up to tileCols packed queries per call and writes row i's
// scores to tile[i*tileCols:].
const (
	tileRows = 12
	tileCols = 32
)

// gemmKernel is one register-blocked micro-kernel: it scores rows rows (row i starts at
// rows[i*stride]) against a panel of width queries packed k-major (panel[k*width+j] is
// query j's k-th value) and writes tile[i*tileCols+j] = Σ_k rows[i][k]·panel[k][j],
// summed in k order. rows holds at least (rows-1)·stride+dim floats.
type gemmKernel struct {
	name        string
	rows, width int // tile shape; width is a multiple of 8
	narrow      int // width of the kernel used for a last panel of at most narrow queries; 0: none
	fn          func(panel, rows []float32, stride, dim int, tile *[tileRows * tileCols]float32)
	narrowFn    func(panel, rows []float32, stride, dim int, tile *[tileRows * tileCols]float32)
}

// Queries are queries packed for DotGEMM-style scoring: reused across many calls of
// DotRows (for example one per storage chunk) they are packed once. The zero value is
// not usable; see PackQueries.
type Queries struct {
	dim    int
	n      int
	k      gemmKernel
	panels [][]float32 // panel p holds queries [p·k.width, …) packed k-major
	widths []int       // kernel width of each panel
}

// PackQueries packs qs (each dim floats) for DotRows with the fastest kernel this CPU
// runs. It panics if dim <= 0 or a query is not dim floats long.
func PackQueries(qs [][]float32, dim int) *Queries {
	return packQueries(qs, dim, bestGEMMKernel())
}

func packQueries(qs [][]float32, dim int, k gemmKernel) *Queries {
	if dim <= 0 {
		panic(fmt.Sprintf("vec: dimension %d", dim))
	}
	p := &Queries{dim: dim, n: len(qs), k: k}
	for lo := 0; lo < len(qs); lo += k.width {
		w := k.width
		if k.narrow > 0 && len(qs)-lo <= k.narrow {
			w = k.narrow
		}
		hi := min(lo+w, len(qs))
		panel := make([]float32, dim*w)
		for j, q := range qs[lo:hi] {
			if len(q) != dim {
				panic(fmt.Sprintf("vec: query has %d floats, dimension is %d", len(q), dim))
			}
			for d, x := range q {
				panel[d*w+j] = x
			}
		}
		p.panels = append(p.panels, panel)
		p.widths = append(p.widths, w)
	}
	return p
}

// Len returns the number of packed queries.
func (p *Queries) Len() int { return p.n }

// DotRows scores every packed query against every row of rows, a row-major matrix of
// dim-float rows, as a register-blocked matrix product: out[j][i] is the inner product
// of query j and row i, summed in another order than Dot's, so it may differ from
// Dot(query j, row i) in the last bits, by at most GEMMErrorBound (see there). It
// panics if len(rows) is not a multiple of dim, len(out) < Len() or an out[j] is
// shorter than the number of rows.
func (p *Queries) DotRows(rows []float32, out [][]float32) {
	if len(out) < p.n {
		panic(fmt.Sprintf("vec: %d output slices for %d queries", len(out), p.n))
	}
	n := 0
	for j := 0; j < p.n; j++ {
		n = checkMany(p.dim, rows, p.dim, len(out[j]))
	}
	if p.n == 0 || n == 0 {
		return
	}
	dim, R := p.dim, p.k.rows
	var tile [tileRows * tileCols]float32
	var pad []float32
	for i0 := 0; i0 < n; i0 += R {
		m := min(R, n-i0)
		block := rows[i0*dim:]
		if m < R {
			// The kernel always reads R rows: copy the last ones into zeroed rows.
			if pad == nil {
				pad = make([]float32, R*dim)
			}
			clear(pad)
			copy(pad, rows[i0*dim:])
			block = pad
		}
		q0 := 0
		for pi, panel := range p.panels {
			w := p.widths[pi]
			fn := p.k.fn
			if w != p.k.width {
				fn = p.k.narrowFn
			}
			fn(panel, block, dim, dim, &tile)
			cnt := min(w, p.n-q0)
			if m == tileRows && R == tileRows {
				storeFullTile(&tile, out[q0:q0+cnt], i0)
			} else {
				for j := 0; j < cnt; j++ {
					o := out[q0+j][i0 : i0+m]
					for i := range o {
						o[i] = tile[i*tileCols+j]
					}
				}
			}
			q0 += w
		}
	}
}

// DotGEMM writes out[j][i] = the inner product of qs[j] and row i of rows for every
// query and row, as PackQueries(qs, dim).DotRows(rows, out) does: a matrix product,
// many times faster than Dot per pair once there are a few dozen queries, whose scores
// may differ from Dot's by at most GEMMErrorBound. It panics under the rules of
// DotManyQ.
func DotGEMM(qs [][]float32, rows []float32, dim int, out [][]float32) {
	if len(out) < len(qs) {
		panic(fmt.Sprintf("vec: %d output slices for %d queries", len(out), len(qs)))
	}
	PackQueries(qs, dim).DotRows(rows, out)
}

// unitRoundoff is 2^-24, the relative rounding error of one float32 operation.
const unitRoundoff = 1.0 / (1 << 24)

// GEMMErrorBound returns how far a DotRows (or DotGEMM) score of a query and a row of
// dim floats, whose Euclidean norms are at most qnorm and rnorm, can be from Dot's
// score of the same pair. Both sum the same dim products in float32 with some order of
// additions, so each is within γ·Σ|q_k·r_k| ≤ γ·qnorm·rnorm of the exact inner
// product, γ = (dim+1)·u/(1−(dim+1)·u) and u = 2⁻²⁴ (Higham, Accuracy and Stability of
// Numerical Algorithms, §3.1), and they are within twice that of each other. A small
// absolute term covers results in the subnormal range; the bound is rounded up.
func GEMMErrorBound(dim int, qnorm, rnorm float64) float64 {
	nu := float64(dim+1) * unitRoundoff
	gamma := nu / (1 - nu)
	b := 2*gamma*qnorm*rnorm + float64(2*(dim+1))*math.SmallestNonzeroFloat32
	return b * (1 + 1.0/(1<<20))
}

// MaxNorm returns an upper bound on the Euclidean norm of every row of rows (dim
// floats each), for GEMMErrorBound. It reads each row once with Dot.
func MaxNorm(rows []float32, dim int) float64 {
	if dim <= 0 || len(rows)%dim != 0 {
		panic(fmt.Sprintf("vec: %d floats are not whole rows of %d", len(rows), dim))
	}
	var m float32
	for i := 0; i < len(rows); i += dim {
		r := rows[i : i+dim]
		if s := dot(r, r); s > m || s != s {
			m = s
		}
	}
	// Dot sums non-negative terms, so it is at least (1−γ) times the exact sum.
	nu := float64(dim+1) * unitRoundoff
	gamma := nu / (1 - nu)
	sq := float64(m)/(1-gamma) + float64(dim+1)*math.SmallestNonzeroFloat32
	return math.Sqrt(sq) * (1 + 1.0/(1<<20))
}

// storeFullTile writes column j of a full tile (tileRows rows) to out[j][i0:], unrolled
// so that the compiler drops the bounds checks of the tile.
func storeFullTile(tile *[tileRows * tileCols]float32, out [][]float32, i0 int) {
	for j, o := range out {
		o := o[i0 : i0+tileRows : i0+tileRows]
		col := tile[j&(tileCols-1):]
		o[0], o[1], o[2], o[3] = col[0*tileCols], col[1*tileCols], col[2*tileCols], col[3*tileCols]
		o[4], o[5], o[6], o[7] = col[4*tileCols], col[5*tileCols], col[6*tileCols], col[7*tileCols]
		o[8], o[9], o[10], o[11] = col[8*tileCols], col[9*tileCols], col[10*tileCols], col[11*tileCols]
	}
}
