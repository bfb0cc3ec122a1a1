// Command mine-inproc times Mine in process, without gRPC or the Python client: it opens
// a data directory written by miner-server (bench/py/mine_ab.py prepare leaves one, with
// a collection "bench" of the bench data set's vectors, ids "d<row>"), and runs requests
// of 32 raw-vector anchors, k 8, every rule on (bench/py/e2e.py's all-rules policy), each
// anchor's exact nearest item as its positive. It prints the process's CPU time per
// request, the wall-time p50, p99 and slowest request (with -idle, after the process
// slept before each request), and how many candidates the anchors examined (mean;
// p50, p90, p99 and max) as JSON. Open it on a copy of the directory: it takes the
// directory's lock and may write to it.
//
//	go build -o /tmp/mine-inproc ./bench/cmd/mine-inproc
//	cp -r /tmp/ab/data /tmp/ab/copy && /tmp/mine-inproc -dir /tmp/ab/copy -data bench/out/data/ann-100000
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	dir := flag.String("dir", "", "miner-server data directory holding the collection \"bench\"")
	data := flag.String("data", "", "bench data set directory (meta.json, queries.f32, gt.i32)")
	requests := flag.Int("requests", 300, "timed requests (after 30 warm-up requests)")
	anchors := flag.Int("anchors", 32, "anchors per request")
	policy := flag.String("policy", "all-rules", "the policy: all-rules or default")
	cpuprofile := flag.String("cpuprofile", "", "write the timed requests' CPU profile here")
	memprofile := flag.String("memprofile", "", "write the allocation profile (loading, warm-up and timed requests, sampled every 4 KiB; go tool pprof -sample_index=alloc_space) here")
	collapse := flag.Bool("collapse-heap", false, "after loading, advise every anonymous mapping of the process for huge pages and collapse it (MADV_HUGEPAGE, MADV_COLLAPSE; Linux 6.1+): how far huge pages over the whole Go heap, not only the index's arrays, would go")
	ef := flag.Int("ef", 0, "the policy's ef_search: the first search pass's width (0: derived from the rank window)")
	idle := flag.Duration("idle", 0, "sleep this long before each timed request (not timed), as a server idles between a client's requests: shows what waking the second worker costs on this machine")
	latOut := flag.String("latencies", "", "write each timed request's wall time (ms), in request order, one per line, to this file")
	leadRecall := flag.Float64("lead-recall", 0, "index.Options.LeadRecall: the recall@10 the collection's measured lead must reach (0: the default, 0.995; -1: no measurement)")
	waitLead := flag.Bool("wait-lead", true, "before the warm-up, wait for the collection's background work to finish — the measurement of its lead that loading its graph starts — so that the requests run with the lead and the exact-pass decision it sets")
	flag.Parse()
	if *memprofile != "" {
		runtime.MemProfileRate = 4096 // sample every 4 KiB allocated, not every 512 KiB: a request allocates little
	}
	var meta struct {
		NQ  int `json:"nq"`
		Dim int `json:"dim"`
		GTK int `json:"gt_k"`
	}
	raw, err := os.ReadFile(filepath.Join(*data, "meta.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		log.Fatal(err)
	}
	qb, err := os.ReadFile(filepath.Join(*data, "queries.f32"))
	if err != nil {
		log.Fatal(err)
	}
	gt, err := os.ReadFile(filepath.Join(*data, "gt.i32"))
	if err != nil {
		log.Fatal(err)
	}
	queries := make([]float32, len(qb)/4)
	for i := range queries {
		queries[i] = math.Float32frombits(binary.LittleEndian.Uint32(qb[4*i:]))
	}
	db, err := index.Open(index.Options{Dir: *dir, LeadRecall: *leadRecall})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	col, err := db.Collection("bench")
	if err != nil {
		log.Fatal(err)
	}
	if *collapse {
		collapseHeap()
	}
	ic, ok := col.(*index.Collection)
	if !ok {
		log.Fatal("the collection is not the embedded engine's")
	}
	if *waitLead {
		ic.WaitIdle() // returns at once when no measurement runs (-lead-recall -1, no graph)
	}
	lead, measured := ic.FirstPassLead()
	pol := mining.DefaultPolicy()
	pol.NumNegatives = 8
	pol.Ef = *ef
	switch *policy {
	case "all-rules":
		f := func(v float32) *float32 { return &v }
		pol.ExcludeSameGroup, pol.InBatchExclusion, pol.UseFeedback = true, true, true
		pol.DuplicateThreshold, pol.RelativeMargin, pol.AbsoluteMargin = f(0.95), f(0.05), f(0.01)
		pol.MinScore, pol.MaxScore, pol.DiversityThreshold = f(0), f(0.99), f(0.98)
	case "default":
	default:
		log.Fatalf("-policy %q: want all-rules or default", *policy)
	}
	request := func(r int) mining.Request {
		as := make([]mining.Anchor, *anchors)
		for j := range as {
			i := (r**anchors + j) % meta.NQ
			pos := int(int32(binary.LittleEndian.Uint32(gt[4*i*meta.GTK:])))
			as[j] = mining.Anchor{Vector: queries[i*meta.Dim : (i+1)*meta.Dim], Key: "q" + strconv.Itoa(i), PositiveIDs: []string{"d" + strconv.Itoa(pos)}}
		}
		return mining.Request{Anchors: as, Policy: pol}
	}
	var examined, widened, results int
	var perAnchor []int
	mine := func(r int) {
		res, err := mining.Mine(context.Background(), col, request(r))
		if err != nil {
			log.Fatal(err)
		}
		for _, a := range res {
			examined += a.Examined
			perAnchor = append(perAnchor, a.Examined)
			if a.Widenings > 0 {
				widened++
			}
			results++
		}
	}
	for r := range 30 {
		mine(r)
	}
	lat := make([]float64, 0, *requests)
	examined, widened, results = 0, 0, 0
	perAnchor = perAnchor[:0]
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	c0 := cpuTime()
	for r := range *requests {
		if *idle > 0 {
			time.Sleep(*idle)
		}
		t := time.Now()
		mine(r)
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	cpu := cpuTime() - c0
	if *memprofile != "" {
		runtime.GC() // the profile shows allocations as of the last finished collection
		pf, err := os.Create(*memprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
			log.Fatal(err)
		}
		pf.Close()
	}
	if *latOut != "" {
		var b strings.Builder
		for _, l := range lat {
			fmt.Fprintf(&b, "%.3f\n", l)
		}
		if err := os.WriteFile(*latOut, []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	slices.Sort(lat)
	slices.Sort(perAnchor)
	q := func(p float64) int { return perAnchor[min(len(perAnchor)-1, int(p*float64(len(perAnchor))))] }
	fmt.Printf("{\"lead\": %d, \"lead_recall\": %.4f, \"scans_groups\": %t, ", lead, measured, ic.ScansGroups(*anchors))
	fmt.Printf("\"cpu_ms_per_request\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"examined_per_anchor\": %.1f, \"examined_p50_p90_p99_max\": [%d, %d, %d, %d], \"widened_anchors\": %.4f}\n",
		float64(cpu.Microseconds())/1000/float64(*requests), lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1],
		float64(examined)/float64(max(results, 1)), q(0.5), q(0.9), q(0.99), perAnchor[len(perAnchor)-1], float64(widened)/float64(max(results, 1)))
}

// collapseHeap advises and collapses, 2 MiB page by 2 MiB page, every private writable
// anonymous mapping of the process into huge pages, and logs how much of the process
// huge pages then back. An experiment (-collapse-heap), not what the server does: the
// server advises only the index's arrays (internal/hugepage).
func collapseHeap() {
	raw, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		log.Fatal(err)
	}
	const page = 2 << 20
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[1] != "rw-p" { // anonymous: no path
			continue
		}
		var lo, hi uintptr
		if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
			continue
		}
		for a := (lo + page - 1) &^ (page - 1); a+page <= hi; a += page {
			// The range is the process's own mapping, named by address: madvise(2) takes it
			// as one, so the call goes without a Go slice over memory the runtime owns.
			if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, a, page, 14 /* MADV_HUGEPAGE */); e == 0 {
				syscall.Syscall(syscall.SYS_MADVISE, a, page, 25 /* MADV_COLLAPSE */) // refused for some mappings; the rest collapse
			}
		}
	}
	if m, err := os.ReadFile("/proc/self/smaps_rollup"); err == nil {
		for _, l := range strings.Split(string(m), "\n") {
			if strings.HasPrefix(l, "AnonHugePages:") {
				log.Printf("-collapse-heap: %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
}
