package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/hardneg/hardneg/internal/index/vec"
)

// dataset is a base set, its queries and their exact top-k neighbours (by inner
// product on unit vectors, i.e. cosine).
type dataset struct {
	n, dim   int
	base     []float32 // n × dim
	queries  []float32 // nq × dim
	truth    []int32   // nq × truthK, nearest first
	nq       int
	basePath string
}

const truthK = 10

// Generator parameters: unit vectors around `clusters` random unit centres, with
// Gaussian noise of σ per coordinate, so neighbourhoods are uneven as in real
// embedding sets.
const (
	clusters = 100
	sigma    = 0.06
	dataSeed = 20261127
)

func paths(dir string, n, dim, nq int) (base, queries, truth string) {
	p := filepath.Join(dir, fmt.Sprintf("ann-%dx%d", n, dim))
	return p + "-base.f32", p + fmt.Sprintf("-queries%d.f32", nq), p + fmt.Sprintf("-queries%d-top%d.i32", nq, truthK)
}

// generate returns n base and nq query vectors. Base and queries come from the same
// clusters but separate random streams, so the output is a pure function of the sizes.
func generate(n, dim, nq int) (base, queries []float32) {
	r := rand.New(rand.NewPCG(dataSeed, 1))
	centres := make([]float32, clusters*dim)
	for i := range centres {
		centres[i] = float32(r.NormFloat64())
	}
	for c := range clusters {
		vec.Normalize(centres[c*dim : (c+1)*dim])
	}
	draw := func(r *rand.Rand, out []float32) {
		for i := 0; i < len(out); i += dim {
			c := centres[r.IntN(clusters)*dim:][:dim]
			v := out[i : i+dim]
			for j := range v {
				v[j] = c[j] + float32(r.NormFloat64()*sigma)
			}
			vec.Normalize(v)
		}
	}
	base = make([]float32, n*dim)
	queries = make([]float32, nq*dim)
	draw(r, base)
	draw(rand.New(rand.NewPCG(dataSeed, 2)), queries)
	return base, queries
}

// exactTopK computes the true nearest neighbours of every query by brute force on
// all cores.
func exactTopK(base, queries []float32, dim, k int) []int32 {
	n, nq := len(base)/dim, len(queries)/dim
	out := make([]int32, nq*k)
	var wg sync.WaitGroup
	next := make(chan int, nq)
	for i := range nq {
		next <- i
	}
	close(next)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			type hit struct {
				id int32
				s  float32
			}
			best := make([]hit, 0, k+1)
			for qi := range next {
				q := queries[qi*dim : (qi+1)*dim]
				best = best[:0]
				for id := range n {
					s := vec.Dot(q, base[id*dim:(id+1)*dim])
					if len(best) == k && s <= best[k-1].s {
						continue
					}
					i, _ := slices.BinarySearchFunc(best, s, func(h hit, s float32) int {
						if h.s > s {
							return -1
						}
						return 1
					})
					best = slices.Insert(best, i, hit{int32(id), s})
					if len(best) > k {
						best = best[:k]
					}
				}
				for j, h := range best {
					out[qi*k+j] = h.id
				}
			}
		})
	}
	wg.Wait()
	return out
}

// loadOrGenerate reads the data set from dir, generating and writing it first if
// it is missing.
func loadOrGenerate(dir string, n, dim, nq int) (*dataset, error) {
	bp, qp, tp := paths(dir, n, dim, nq)
	d := &dataset{n: n, dim: dim, nq: nq, basePath: bp}
	if _, err := os.Stat(tp); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		logf("generating %d × %d base and %d queries into %s", n, dim, nq, dir)
		d.base, d.queries = generate(n, dim, nq)
		logf("computing exact top-%d by brute force", truthK)
		d.truth = exactTopK(d.base, d.queries, dim, truthK)
		for _, f := range []struct {
			path string
			data any
		}{{bp, d.base}, {qp, d.queries}, {tp, d.truth}} {
			if err := writeRaw(f.path, f.data); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	d.base = make([]float32, n*dim)
	d.queries = make([]float32, nq*dim)
	d.truth = make([]int32, nq*truthK)
	for _, f := range []struct {
		path string
		data any
	}{{bp, d.base}, {qp, d.queries}, {tp, d.truth}} {
		if err := readRaw(f.path, f.data); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// loadDataDir reads a hardneg-bench data directory (bench/py/data.py): meta.json with
// n, nq, dim and gt_k, base.f32, queries.f32 and gt.i32 (nq × gt_k, nearest first, of
// which the first truthK are kept). Vectors are normalised (the graph compares by
// inner product, as a cosine collection does).
func loadDataDir(dir string) (*dataset, error) {
	var meta struct {
		N, NQ, Dim int
		GTK        int `json:"gt_k"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if meta.GTK < truthK {
		return nil, fmt.Errorf("%s: ground truth of %d neighbours, need %d", dir, meta.GTK, truthK)
	}
	d := &dataset{n: meta.N, dim: meta.Dim, nq: meta.NQ, basePath: filepath.Join(dir, "base.f32"),
		base: make([]float32, meta.N*meta.Dim), queries: make([]float32, meta.NQ*meta.Dim), truth: make([]int32, meta.NQ*truthK)}
	gt := make([]int32, meta.NQ*meta.GTK)
	for _, f := range []struct {
		name string
		data any
	}{{"base.f32", d.base}, {"queries.f32", d.queries}, {"gt.i32", gt}} {
		if err := readRaw(filepath.Join(dir, f.name), f.data); err != nil {
			return nil, err
		}
	}
	for i := range meta.NQ {
		copy(d.truth[i*truthK:(i+1)*truthK], gt[i*meta.GTK:])
	}
	for _, m := range [][]float32{d.base, d.queries} {
		for i := 0; i < len(m); i += d.dim {
			vec.Normalize(m[i : i+d.dim])
		}
	}
	logf("read %s: %d × %d, %d queries", dir, d.n, d.dim, d.nq)
	return d, nil
}

func writeRaw(path string, data any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readRaw(path string, data any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return binary.Read(f, binary.LittleEndian, data)
}

func (d *dataset) Vector(id uint32) []float32 {
	return d.base[int(id)*d.dim : (int(id)+1)*d.dim : (int(id)+1)*d.dim]
}

func (d *dataset) query(i int) []float32 { return d.queries[i*d.dim : (i+1)*d.dim] }

// recall returns the share of the true top-10 of query i found in got.
func (d *dataset) recall(i int, got []uint32) int {
	hit := 0
	for _, id := range got {
		if slices.Contains(d.truth[i*truthK:(i+1)*truthK], int32(id)) {
			hit++
		}
	}
	return hit
}
