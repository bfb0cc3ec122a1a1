package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/coder/hnsw"
)

// runCoder measures github.com/coder/hnsw v0.6.1. It is not safe for concurrent Add,
// so it is built on one thread only. Its level factor Ml stays at the library's
// default (0.25).
func runCoder(c *config, d *dataset) (*result, error) {
	runtime.GOMAXPROCS(1)
	res := &result{System: "coder/hnsw v0.6.1", N: d.N, Dim: d.Dim, M: c.m, EfConstruction: 0}
	before := settledRSS()
	g := hnsw.NewGraph[int32]()
	g.M = c.m
	g.Distance = hnsw.CosineDistance
	cpu0 := cpuSeconds()
	start := time.Now()
	for i := range d.N {
		g.Add(hnsw.MakeNode(int32(i), d.row(i)))
	}
	secs := time.Since(start).Seconds()
	res.Build = []buildResult{{Threads: 1, Seconds: secs, CPUSeconds: cpuSeconds() - cpu0, InsertsPerSec: float64(d.N) / secs}}
	// coder/hnsw keeps references to the caller's vectors (d.Base), which are already
	// resident: add them so bytes per vector compares with systems that copy.
	res.RSSBytes = settledRSS() - before + int64(d.N*d.Dim*4)
	res.BytesPerVector = float64(res.RSSBytes) / float64(d.N)
	for _, ef := range c.efs {
		g.EfSearch = ef
		got := make([]int32, 0, c.k)
		total := 0.0
		var best time.Duration
		for run := range max(c.runs, 1) { // the fastest pass is reported, as for hardneg
			var elapsed time.Duration
			total = 0
			for i := range c.queries {
				start := time.Now()
				nodes := g.Search(d.query(i), c.k)
				elapsed += time.Since(start)
				got = got[:0]
				for _, n := range nodes {
					got = append(got, n.Key)
				}
				total += recall(got, d.gt(i, c.k))
			}
			if run == 0 || elapsed < best {
				best = elapsed
			}
		}
		us := float64(best.Microseconds()) / float64(c.queries)
		res.Sweep = append(res.Sweep, sweepPoint{Ef: ef, Queries: c.queries, USPerQuery: us, QPS: 1e6 / us, Recall: total / float64(c.queries)})
	}
	res.Notes = append(res.Notes, fmt.Sprintf("built on 1 thread (Add is not safe for concurrent use); default Ml 0.25; EfSearch set per sweep point, the fastest of %d passes", max(c.runs, 1)))
	return res, nil
}
