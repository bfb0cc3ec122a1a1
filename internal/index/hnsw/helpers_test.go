package hnsw

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// memSource is a VectorSource over a preallocated flat array.
type memSource struct {
	dim  int
	data []float32
}

func (m *memSource) Vector(id uint32) []float32 {
	return m.data[int(id)*m.dim : (int(id)+1)*m.dim : (int(id)+1)*m.dim]
}

func (m *memSource) n() int { return len(m.data) / m.dim }

type metric struct {
	name      string
	dist      Distance
	normalize bool
}

func negDot(a, b []float32) float32 { return -vec.Dot(a, b) }

var metrics = []metric{
	{"cosine", negDot, true},
	{"dot", negDot, false},
	{"l2", vec.L2Sq, false},
}

// clustered returns n seeded vectors drawn around `clusters` random centres
// (Gaussian noise of σ = spread per coordinate around a unit centre). Unnormalised
// vectors get norms varying by ±25%, which makes dot product differ from cosine.
func clustered(n, dim, clusters int, spread float64, seed uint64, normalize bool) *memSource {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	centres := make([][]float32, clusters)
	for i := range centres {
		c := make([]float32, dim)
		for j := range c {
			c[j] = float32(r.NormFloat64())
		}
		vec.Normalize(c)
		centres[i] = c
	}
	src := &memSource{dim: dim, data: make([]float32, n*dim)}
	for i := range n {
		v := src.Vector(uint32(i))
		c := centres[r.IntN(clusters)]
		for j := range v {
			v[j] = c[j] + float32(r.NormFloat64()*spread)
		}
		vec.Normalize(v)
		if !normalize {
			s := float32(0.75 + 0.5*r.Float64())
			for j := range v {
				v[j] *= s
			}
		}
	}
	return src
}

// bruteForce returns the exact k nearest ids among those with ok(id).
func bruteForce(src *memSource, dist Distance, q []float32, k int, ok func(uint32) bool) []uint32 {
	var all []Neighbor
	for id := range uint32(src.n()) {
		if ok(id) {
			all = append(all, Neighbor{id, dist(q, src.Vector(id))})
		}
	}
	slices.SortFunc(all, byDist)
	out := make([]uint32, 0, k)
	for _, nb := range all[:min(k, len(all))] {
		out = append(out, nb.ID)
	}
	return out
}

// recallAt returns the mean share of exact top-k ids found by got.
func recallAt(truth [][]uint32, got [][]Neighbor) float64 {
	hit, total := 0, 0
	for i, t := range truth {
		total += len(t)
		for _, nb := range got[i] {
			if slices.Contains(t, nb.ID) {
				hit++
			}
		}
	}
	return float64(hit) / float64(total)
}

func newGraph(t testing.TB, opts Options, dist Distance, src VectorSource) *Graph {
	t.Helper()
	g, err := New(opts, dist, src)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func idRange(lo, hi int) []uint32 {
	ids := make([]uint32, 0, hi-lo)
	for i := lo; i < hi; i++ {
		ids = append(ids, uint32(i))
	}
	return ids
}

// size picks the full size normally and a smaller one under -race or -short.
func size(full, small int) int {
	if raceEnabled || testing.Short() {
		return small
	}
	return full
}

// checkSorted fails unless res is ordered nearest first.
func checkSorted(t testing.TB, res []Neighbor) {
	t.Helper()
	if !slices.IsSortedFunc(res, byDist) {
		t.Fatalf("results not sorted: %v", res)
	}
}

// byDist orders neighbours nearest first.
func byDist(a, b Neighbor) int { return cmp.Compare(a.Dist, b.Dist) }
