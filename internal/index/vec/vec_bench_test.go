package vec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reference kernels that are only measured, never exported.

func dotPlain(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func l2sqPlain(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

func dotUnroll8(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func l2sqUnroll8(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		d0, d1, d2, d3 := aa[0]-bb[0], aa[1]-bb[1], aa[2]-bb[2], aa[3]-bb[3]
		d4, d5, d6, d7 := aa[4]-bb[4], aa[5]-bb[5], aa[6]-bb[6], aa[7]-bb[7]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		s4 += d4 * d4
		s5 += d5 * d5
		s6 += d6 * d6
		s7 += d7 * d7
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func benchDotKernels() []kernel {
	ks := []kernel{{"plain", dotPlain}, {"unroll4", dotGeneric}, {"unroll8", dotUnroll8}}
	return append(ks, archDotKernels()...)
}

func benchL2Kernels() []kernel {
	ks := []kernel{{"plain", l2sqPlain}, {"unroll4", l2sqGeneric}, {"unroll8", l2sqUnroll8}}
	return append(ks, archL2Kernels()...)
}

var benchDims = []int{128, 383, 384, 768, 1536}

var sink float32

// benchPair measures one kernel on two vectors that stay in the L1 cache.
func benchPair(b *testing.B, ks []kernel) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, dim := range benchDims {
		x, y := randMatrix(r, 1, dim), randMatrix(r, 1, dim)
		for _, k := range ks {
			b.Run(fmt.Sprintf("%s/dim=%d", k.name, dim), func(b *testing.B) {
				b.ReportAllocs()
				var s float32
				for b.Loop() {
					s += k.fn(x, y)
				}
				sink = s
			})
		}
	}
}

func BenchmarkDot(b *testing.B)  { benchPair(b, benchDotKernels()) }
func BenchmarkL2Sq(b *testing.B) { benchPair(b, benchL2Kernels()) }

const (
	scanRows = 100_000
	scanDim  = 384
	scanK    = 10
)

var scanData = sync.OnceValue(func() []float32 {
	r := rand.New(rand.NewPCG(2026, 384))
	rows := randMatrix(r, scanRows, scanDim)
	for i := 0; i < scanRows; i++ {
		Normalize(rows[i*scanDim : (i+1)*scanDim])
	}
	return rows
})

func scanQueries(n int) [][]float32 {
	r := rand.New(rand.NewPCG(7, 7))
	qs := make([][]float32, n)
	for i := range qs {
		qs[i] = randMatrix(r, 1, scanDim)
		Normalize(qs[i])
	}
	return qs
}

// topK keeps the k highest scores seen, best first.
type topK struct {
	ids    []int
	scores []float32
}

func (t *topK) reset(k int) {
	t.ids, t.scores = t.ids[:0], t.scores[:0]
	for range k {
		t.ids = append(t.ids, -1)
		t.scores = append(t.scores, float32(-1e30))
	}
}

func (t *topK) collect(scores []float32) {
	k := len(t.scores)
	for id, s := range scores {
		if s <= t.scores[k-1] {
			continue
		}
		j := k - 1
		for j > 0 && t.scores[j-1] < s {
			t.scores[j], t.ids[j] = t.scores[j-1], t.ids[j-1]
			j--
		}
		t.scores[j], t.ids[j] = s, id
	}
}

// BenchmarkExactScan scores queries against 100,000 × 384 unit vectors and keeps the
// top 10 of each; us/query is the cost of one query. The single-query variants read
// every row once per query, the batch variants once per batch (DotManyQ).
func BenchmarkExactScan(b *testing.B) {
	rows := scanData()
	qs := scanQueries(64)
	scores := make([]float32, scanRows)
	var top topK

	single := append(benchDotKernels(), kernel{"DotMany", nil})
	for _, k := range single {
		b.Run("one/"+k.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			start := time.Now()
			for b.Loop() {
				q := qs[n%len(qs)]
				if k.fn == nil {
					DotMany(q, rows, scanDim, scores)
				} else {
					for i := range scanRows {
						scores[i] = k.fn(q, rows[i*scanDim:(i+1)*scanDim])
					}
				}
				top.reset(scanK)
				top.collect(scores)
				n++
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "us/query")
		})
	}

	// The int8 variants score rows quantized beforehand, as a collection keeps them.
	qrows := QuantizeRows(rows, scanDim)
	for _, batch := range []int{4, 8, 16, 32, 64, 128, 256} {
		if batch > len(qs) {
			qs = scanQueries(batch)
		}
		out := make([][]float32, batch)
		for j := range out {
			out[j] = make([]float32, scanRows)
		}
		ks := append(manyQKernels()[1:], manyQKernel{"exact", DotManyQExact})
		for _, g := range gemmKernels() {
			ks = append(ks, manyQKernel{"gemm-" + g.name, func(qs [][]float32, rows []float32, dim int, out [][]float32) {
				packQueries(qs, dim, g).DotRows(rows, out)
			}})
		}
		for _, g := range int8Kernels() {
			ks = append(ks, manyQKernel{"int8-" + g.name, func(qs [][]float32, rows []float32, dim int, out [][]float32) {
				packInt8Queries(qs, dim, g).DotRows(qrows, out)
			}})
		}
		for _, k := range ks {
			if batch > 32 && !strings.HasPrefix(k.name, "gemm-") && !strings.HasPrefix(k.name, "int8-") {
				continue
			}
			b.Run(fmt.Sprintf("batch=%d/%s", batch, k.name), func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				start, cpu := time.Now(), cpuTime()
				for b.Loop() {
					off := (n * batch) % len(qs)
					k.fn(qs[off:off+batch], rows, scanDim, out)
					for j := range out {
						top.reset(scanK)
						top.collect(out[j])
					}
					n++
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n*batch), "us/query")
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(n*batch), "cpu-us/query")
			})
		}
	}
}

// The benchmark's top-k must agree with a full sort, or its timings mean nothing.
func TestTopKKeepsHighestScores(t *testing.T) {
	scores := []float32{0.1, 0.9, -0.5, 0.7, 0.9, 0.3, 0.95}
	var top topK
	top.reset(3)
	top.collect(scores)
	wantIDs := []int{6, 1, 4}
	for i, id := range wantIDs {
		if top.ids[i] != id {
			t.Fatalf("top ids = %v, want %v", top.ids, wantIDs)
		}
	}
}

// BenchmarkQuantizeRows quantizes 1,024 rows of 384 floats (one storage chunk).
func BenchmarkQuantizeRows(b *testing.B) {
	rows := scanData()[:1024*scanDim]
	b.ReportAllocs()
	for b.Loop() {
		QuantizeRows(rows, scanDim)
	}
}

// BenchmarkPrepare384 is what an upsert does to each cosine vector: its norm, then the
// vector scaled to unit length.
func BenchmarkPrepare384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	src := make([]float32, 384)
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	a := make([]float32, 384)
	for b.Loop() {
		copy(a, src)
		NormalizeBy(a, Norm(a))
	}
}

// BenchmarkInt8DotRows times the integer product alone, with every integer kernel:
// 128 queries against 100,000 × 384 quantized rows (the exact scan's group against the
// offline job's corpus); ns/score is per query-row pair.
func BenchmarkInt8DotRows(b *testing.B) {
	rows := QuantizeRows(scanData(), scanDim)
	qs := scanQueries(128)
	out := make([][]float32, len(qs))
	for j := range out {
		out[j] = make([]float32, scanRows)
	}
	for _, k := range int8Kernels()[1:] {
		p := packInt8Queries(qs, scanDim, k)
		b.Run(k.name, func(b *testing.B) {
			n := 0
			start := time.Now()
			for b.Loop() {
				p.DotRows(rows, out)
				n++
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n*len(qs)*scanRows), "ns/score")
		})
		// DotRowsAbove with each query's threshold at its 770th best score (what an
		// exact scan's sampled threshold keeps at 100,000 items).
		thr := make([]float32, len(qs))
		for j := range thr {
			s := slices.Clone(out[j])
			slices.Sort(s)
			thr[j] = s[len(s)-770]
		}
		idx, sc := make([][]uint32, len(qs)), make([][]float32, len(qs))
		b.Run(k.name+"/above", func(b *testing.B) {
			n := 0
			start := time.Now()
			for b.Loop() {
				for j := range idx {
					idx[j], sc[j] = idx[j][:0], sc[j][:0]
				}
				idx, sc = p.DotRowsAbove(rows, thr, idx, sc)
				n++
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n*len(qs)*scanRows), "ns/score")
		})
	}
}
