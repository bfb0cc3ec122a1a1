// Command ann benchmarks hardneg's HNSW graph against github.com/coder/hnsw v0.6.1
// (and, through hnswlib_bench.py, hnswlib) on one deterministic data set:
// clustered unit vectors, queries from the same clusters, exact top-10 by brute force.
//
//	go run ./bench/ann -n 100000 -system ours    # writes bench/out/result-ours.json
//	go run ./bench/ann -n 100000 -system coder
//	go run ./bench/ann -gen -n 100000             # only generate the data files
//	go run ./bench/ann -table                     # print the table from result-*.json
//
// bench/ann/run.sh runs all three systems and prints the table.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// result is what every system reports; hnswlib_bench.py writes the same JSON.
type result struct {
	System       string             `json:"system"`
	N            int                `json:"n"`
	Dim          int                `json:"dim"`
	M            int                `json:"m"`
	EfC          int                `json:"ef_construction"`
	BuildSeconds map[string]float64 `json:"build_seconds"`  // by thread count
	BytesPerNode float64            `json:"bytes_per_node"` // graph only, vectors excluded
	Queries      []queryResult      `json:"queries"`
	SaveSeconds  float64            `json:"save_seconds,omitempty"`
	LoadSeconds  float64            `json:"load_seconds,omitempty"`
	SavedBytes   int64              `json:"saved_bytes,omitempty"`
	Note         string             `json:"note,omitempty"`
	// CodeRounds, with -codes-rounds: the sweep on floats and on int8 codes (exact
	// re-scoring) alternately on the same graph, round by round.
	CodeRounds []codeRound `json:"code_rounds,omitempty"`
}

type codeRound struct {
	Round   int           `json:"round"`
	Mode    string        `json:"mode"` // floats or int8
	Queries []queryResult `json:"queries"`
}

type queryResult struct {
	Ef          int     `json:"ef"`
	MicrosPerQ  float64 `json:"us_per_query"`     // wall clock
	CPUMicros   float64 `json:"cpu_us_per_query"` // CPU time of the searching thread
	RecallAt10  float64 `json:"recall_at_10"`
	FailedQuery int     `json:"failed_queries,omitempty"`
}

var efs = []int{16, 32, 64, 128, 256}

// codeRounds is -codes-rounds, loadGraph -load.
var (
	codeRounds int
	loadGraph  string
	buildCodes bool
)

func logf(format string, args ...any) { log.Printf(format, args...) }

func main() {
	n := flag.Int("n", 100000, "base vectors")
	dim := flag.Int("dim", 384, "dimension")
	nq := flag.Int("queries", 1000, "queries")
	out := flag.String("out", "bench/out", "directory for data files and results")
	system := flag.String("system", "", "ours or coder")
	threads := flag.String("threads", "1,2", "build thread counts (ours; coder/hnsw cannot build concurrently)")
	m := flag.Int("m", 16, "M")
	efc := flag.Int("efc", 200, "ef_construction")
	gen := flag.Bool("gen", false, "only generate the data files")
	table := flag.Bool("table", false, "print the table from the result files in -out")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	data := flag.String("data", "", "read a hardneg-bench data directory (meta.json, base.f32, queries.f32, gt.i32) instead of generating")
	flag.IntVar(&codeRounds, "codes-rounds", 0, "ours: after the build, sweep on floats and on int8 codes alternately this many rounds")
	flag.BoolVar(&buildCodes, "build-codes", false, "ours: give the graph int8 codes before the build (hnsw.Graph.UseCodes): inserts and searches walk on them")
	flag.StringVar(&loadGraph, "load", "", "ours: read the graph from this file (written by an earlier run) instead of building; with -codes-rounds only the code rounds run")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	if *table {
		if err := printTable(*out); err != nil {
			log.Fatal(err)
		}
		return
	}
	var d *dataset
	var err error
	if *data != "" {
		d, err = loadDataDir(*data)
	} else {
		d, err = loadOrGenerate(*out, *n, *dim, *nq)
	}
	if err != nil {
		log.Fatal(err)
	}
	if *gen {
		return
	}
	var ts []int
	for _, s := range strings.Split(*threads, ",") {
		t, err := strconv.Atoi(s)
		if err != nil || t < 1 {
			log.Fatalf("bad -threads %q", *threads)
		}
		ts = append(ts, t)
	}
	var r *result
	switch *system {
	case "ours":
		r, err = benchOurs(d, *m, *efc, ts, *out)
	case "coder":
		r, err = benchCoder(d, *m)
	default:
		log.Fatalf("-system must be ours or coder")
	}
	if err != nil {
		log.Fatal(err)
	}
	r.N, r.Dim, r.M = d.n, d.dim, *m
	b, _ := json.MarshalIndent(r, "", "  ")
	path := filepath.Join(*out, "result-"+*system+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
}

// timeQueries runs every query once per ef on one goroutine, returning µs/query and
// recall@10. search returns the ids found, or nil and an error text on failure.
func timeQueries(d *dataset, search func(q []float32, ef int) []uint32) []queryResult {
	runtime.LockOSThread() // so that the thread's CPU time is the searches' CPU time
	defer runtime.UnlockOSThread()
	runtime.GC()
	var res []queryResult
	for _, ef := range efs {
		for i := range min(100, d.nq) { // warm caches and pools
			search(d.query(i), ef)
		}
		hits := 0
		got := make([][]uint32, d.nq)
		cpu0 := threadCPU()
		start := time.Now()
		for i := range d.nq {
			got[i] = search(d.query(i), ef)
		}
		el := time.Since(start)
		cpu := threadCPU() - cpu0
		for i := range d.nq {
			hits += d.recall(i, got[i])
		}
		q := queryResult{Ef: ef, MicrosPerQ: float64(el.Microseconds()) / float64(d.nq),
			CPUMicros: float64(cpu.Microseconds()) / float64(d.nq), RecallAt10: float64(hits) / float64(d.nq*truthK)}
		logf("ef %d: %.1f µs/query (CPU %.1f), recall@10 %.4f", ef, q.MicrosPerQ, q.CPUMicros, q.RecallAt10)
		res = append(res, q)
	}
	return res
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// threadCPU returns the CPU time the calling OS thread has used; a loaded machine
// inflates wall-clock times but much less so this.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is RUSAGE_THREAD (Linux).
const rusageThread = 1
