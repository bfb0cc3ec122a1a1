package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
)

// config holds the command's flags.
type config struct {
	data, system, out, cpuProfile string
	threads, efs                  []int
	mineAnchors                   []int
	k, queries, exactQueries      int
	exactBatch                    int
	runs                          int // passes over the queries per sweep point; the fastest is kept
	mineRequests                  int
	mineRecallAnchors             int
	m, efConstruction, efSearch   int
	quantization                  string  // "", "none" or "int8"
	leadRecall                    float64 // index.Options.LeadRecall
	snapshots                     bool    // background snapshots, as the server takes them
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("hardneg-bench: ")
	var c config
	var threads, efs, anchors string
	flag.StringVar(&c.data, "data", "", "data directory (see the package documentation)")
	flag.StringVar(&c.system, "system", "hardneg", "hardneg (internal/index in-process) or coder (github.com/coder/hnsw v0.6.1)")
	flag.StringVar(&c.out, "out", "", "write the JSON result here instead of stdout")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (builds, searches, Mine) to this file")
	flag.StringVar(&threads, "threads", "1,2", "thread counts (GOMAXPROCS) to build with; the first build is kept for searching")
	flag.StringVar(&efs, "ef", "10,16,32,64,128,256", "ef values of the search sweep")
	flag.StringVar(&anchors, "mine-anchors", "1,32,256", "anchors per in-process Mine request (hardneg only; empty: skip)")
	flag.IntVar(&c.k, "k", 10, "neighbours per query")
	flag.IntVar(&c.queries, "queries", 0, "queries of the sweep (0: all in the data set)")
	flag.IntVar(&c.runs, "runs", 3, "passes over the queries per sweep point and for the exact scan; the fastest pass is reported (as ann-benchmarks does), so a pass slowed by the machine does not decide a verdict")
	flag.IntVar(&c.exactQueries, "exact-queries", 200, "queries of the exact scan (hardneg only; 0: skip)")
	flag.IntVar(&c.exactBatch, "exact-batch", 128, "queries per pass over the rows in the batched exact search of every query (ScoreExact, as Mine scores an exact collection's anchors: 128 per group; hardneg only; 0: skip)")
	flag.IntVar(&c.mineRequests, "mine-requests", 200, "Mine requests per anchor count (fewer for large ones, see mine.go)")
	flag.IntVar(&c.mineRecallAnchors, "mine-recall-anchors", 1024, "anchors (queries) whose Mine negatives on the graph are compared with Mine's on an exact scan, per policy (hardneg only; 0: skip)")
	flag.IntVar(&c.m, "m", 16, "HNSW M")
	flag.StringVar(&c.quantization, "quantization", "", "graph search quantization of the collection: none, int8 or empty (the default, int8 for cosine)")
	flag.IntVar(&c.efConstruction, "ef-construction", 200, "HNSW efConstruction")
	flag.BoolVar(&c.snapshots, "snapshots", true, "take background snapshots as the server does (every quarter of growth, index.Options defaults); false: none, to see what they cost a build")
	flag.Float64Var(&c.leadRecall, "lead-recall", 0, "index.Options.LeadRecall: the recall@10 the collection's measured first-pass lead must reach (0: the default, 0.995; -1: no measurement, Mine's fixed lead)")
	flag.IntVar(&c.efSearch, "ef-search", 0, "the collection's default ef (0: the index default, 64); Mine's first pass reaches twice it past the rank window, or the lead the collection measured if that is more (-lead-recall)")
	flag.Parse()
	var err error
	if c.threads, err = ints(threads); err != nil || len(c.threads) == 0 {
		log.Fatalf("-threads: %v", err)
	}
	if c.efs, err = ints(efs); err != nil {
		log.Fatalf("-ef: %v", err)
	}
	if c.mineAnchors, err = ints(anchors); err != nil {
		log.Fatalf("-mine-anchors: %v", err)
	}
	if c.data == "" {
		log.Fatal("-data is required")
	}
	d, err := loadDataset(c.data)
	if err != nil {
		log.Fatal(err)
	}
	if c.queries <= 0 || c.queries > d.NQ {
		c.queries = d.NQ
	}
	if c.k > d.GTK {
		log.Fatalf("-k %d exceeds the ground truth depth %d", c.k, d.GTK)
	}
	stop, err := startProfile(c.cpuProfile)
	if err != nil {
		log.Fatal(err)
	}
	var res *result
	switch c.system {
	case "hardneg":
		res, err = runHardneg(&c, d)
	case "coder":
		res, err = runCoder(&c, d)
	default:
		err = fmt.Errorf("-system: want hardneg or coder, got %q", c.system)
	}
	stop()
	if err != nil {
		log.Fatal(err)
	}
	out := os.Stdout
	if c.out != "" {
		if out, err = os.Create(c.out); err != nil {
			log.Fatal(err)
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}
