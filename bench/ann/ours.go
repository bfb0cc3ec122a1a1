package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/index/vec"
)

func negDot(a, b []float32) float32 { return -vec.Dot(a, b) }

func benchOurs(d *dataset, m, efc int, threads []int, dir string) (*result, error) {
	r := &result{System: "hardneg hnsw", EfC: efc, BuildSeconds: map[string]float64{}}
	ids := make([]uint32, d.n)
	for i := range ids {
		ids[i] = uint32(i)
	}
	var g *hnsw.Graph
	if loadGraph != "" {
		f, err := os.Open(loadGraph)
		if err != nil {
			return nil, err
		}
		g, err = hnsw.Read(bufio.NewReaderSize(f, 1<<20), negDot, d)
		f.Close()
		if err != nil {
			return nil, err
		}
		g.UseDot()
		logf("ours: loaded %d nodes from %s", g.Len(), loadGraph)
		threads = nil
	}
	for _, t := range threads {
		var err error
		g, err = hnsw.New(hnsw.Options{M: m, EfConstruction: efc, Seed: 1}, negDot, d)
		if err != nil {
			return nil, err
		}
		g.UseDot()
		if buildCodes {
			codes := vec.NewInt8Codes(d.dim)
			for id := range uint32(d.n) {
				codes.Set(id, d.Vector(id))
			}
			g.UseCodes(codes)
		}
		start := time.Now()
		g.InsertBatch(ids, t)
		el := time.Since(start).Seconds()
		r.BuildSeconds[strconv.Itoa(t)] = el
		logf("ours: built %d nodes on %d threads in %.1f s (%.0f inserts/s)", d.n, t, el, float64(d.n)/el)
	}
	r.BytesPerNode = float64(g.MemoryBytes()) / float64(g.Len())

	dst := make([]hnsw.Neighbor, 0, truthK)
	if loadGraph != "" && codeRounds > 0 {
		return r, codeSweeps(r, g, d, dst)
	}
	r.Queries = timeQueries(d, func(q []float32, ef int) []uint32 {
		dst = g.Search(q, truthK, ef, nil, dst)
		ids := make([]uint32, len(dst))
		for i, nb := range dst {
			ids[i] = nb.ID
		}
		return ids
	})

	if codeRounds > 0 {
		if err := codeSweeps(r, g, d, dst); err != nil {
			return nil, err
		}
	}

	// Save to a file (fsynced) and load it back, against rebuilding from vectors.
	path := filepath.Join(dir, fmt.Sprintf("ours-%dx%d.hnsw", d.n, d.dim))
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := g.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	r.SaveSeconds, r.SavedBytes = time.Since(start).Seconds(), n
	start = time.Now()
	f, err = os.Open(path)
	if err != nil {
		return nil, err
	}
	h, err := hnsw.Read(bufio.NewReaderSize(f, 1<<20), negDot, d)
	f.Close()
	if err != nil {
		return nil, err
	}
	r.LoadSeconds = time.Since(start).Seconds()
	if h.Len() != g.Len() {
		return nil, fmt.Errorf("loaded %d nodes, saved %d", h.Len(), g.Len())
	}
	logf("ours: save %.2f s (%d bytes), load %.2f s", r.SaveSeconds, n, r.LoadSeconds)
	return r, nil
}

// codeSweeps runs -codes-rounds rounds of the query sweep on floats, then on int8 codes
// (exact re-scoring), on g.
func codeSweeps(r *result, g *hnsw.Graph, d *dataset, dst []hnsw.Neighbor) error {
	codes := vec.NewInt8Codes(d.dim)
	for id := range uint32(d.n) {
		codes.Set(id, d.Vector(id))
	}
	logf("ours: int8 codes %d bytes per vector (floats %d)", d.dim+4, 4*d.dim)
	search := func(q []float32, ef int) []uint32 {
		dst = g.Search(q, truthK, ef, nil, dst)
		ids := make([]uint32, len(dst))
		for i, nb := range dst {
			ids[i] = nb.ID
		}
		return ids
	}
	for round := 1; round <= codeRounds; round++ {
		for _, mode := range []string{"floats", "int8"} {
			g.UseCodes(nil)
			if mode == "int8" {
				g.UseCodes(codes)
			}
			logf("ours: round %d, %s", round, mode)
			r.CodeRounds = append(r.CodeRounds, codeRound{Round: round, Mode: mode, Queries: timeQueries(d, search)})
		}
	}
	g.UseCodes(nil)
	return nil
}
