package main

import (
	"fmt"
	"math/rand"
	"time"

	coder "github.com/coder/hnsw"
)

// benchCoder measures github.com/coder/hnsw v0.6.1 with its defaults except M (and a
// fixed seed). It cannot insert concurrently, so it is built on one thread only; a
// search that panics counts as a miss.
func benchCoder(d *dataset, m int) (*result, error) {
	r := &result{System: "coder/hnsw v0.6.1", BuildSeconds: map[string]float64{},
		Note: "single-threaded build only (Add is not concurrency-safe); EfSearch set per row"}
	before := heapInUse()
	g := coder.NewGraph[uint32]()
	g.M = m
	g.Rng = rand.New(rand.NewSource(1))
	start := time.Now()
	for id := range uint32(d.n) {
		g.Add(coder.MakeNode(id, d.Vector(id))) // the vector is referenced, not copied
	}
	el := time.Since(start).Seconds()
	r.BuildSeconds["1"] = el
	logf("coder: built %d nodes in %.1f s", d.n, el)
	r.BytesPerNode = float64(heapInUse()-before) / float64(d.n)

	failed := 0
	r.Queries = timeQueries(d, func(q []float32, ef int) (ids []uint32) {
		g.EfSearch = ef
		defer func() {
			if recover() != nil {
				failed++
				ids = nil
			}
		}()
		for _, nd := range g.Search(q, truthK) {
			ids = append(ids, nd.Key)
		}
		return ids
	})
	if failed > 0 {
		r.Note += fmt.Sprintf("; %d searches panicked", failed)
	}
	return r, nil
}
