package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// runHardneg measures internal/index in-process: the graph collection it builds is
// the one the server searches (ExactThreshold below n), and a second collection with
// ExactThreshold above n is searched by exact scan.
func runHardneg(c *config, d *dataset) (*result, error) {
	// own_data_dirs tells the report that each build ran in a DB of its own (below).
	res := &result{System: "hardneg", N: d.N, Dim: d.Dim, M: c.m, EfConstruction: c.efConstruction, Extra: map[string]any{"own_data_dirs": true}}
	// Each build runs in a DB of its own (its own data directory, log and background
	// snapshots), so that the snapshots and log of one build do not run in another's
	// timed window. The first DB stays open: its collection is searched, and the exact
	// collection goes into it.
	db, closeDB, err := openBenchDB(c)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	ids := make([]string, d.N)
	for i := range ids {
		ids[i] = "d" + strconv.Itoa(i)
	}
	var groups [][]string
	if d.Groups != nil {
		groups = make([][]string, d.N)
		for i, g := range d.Groups {
			groups[i] = []string{"g" + strconv.Itoa(int(g))}
		}
	}
	params := engine.Params{M: c.m, EfConstruction: c.efConstruction, EfSearch: c.efSearch}
	switch c.quantization {
	case "":
	case "none":
		params.Quantization = engine.QuantizationNone
	case "int8":
		params.Quantization = engine.QuantizationInt8
	default:
		return nil, fmt.Errorf("-quantization %q: want none or int8", c.quantization)
	}
	var kept engine.Collection
	for i, t := range c.threads {
		bdb, closeB := db, func() {}
		if i > 0 {
			if bdb, closeB, err = openBenchDB(c); err != nil {
				return nil, err
			}
		}
		runtime.GOMAXPROCS(t)
		name := fmt.Sprintf("graph-%d", t)
		before := settledRSS()
		cpu0 := cpuSeconds()
		var col engine.Collection
		var secs float64
		// The label lets a CPU profile (-cpuprofile) tell the builds apart:
		// go tool pprof -tagfocus build=2 … shows the 2-thread build alone (its
		// graph workers and lead probes; the background snapshots are not labelled).
		pprof.Do(context.Background(), pprof.Labels("build", strconv.Itoa(t)), func(context.Context) {
			col, secs, err = build(bdb, name, d, ids, groups, params)
		})
		if err != nil {
			closeB()
			return nil, err
		}
		res.Build = append(res.Build, buildResult{Threads: t, Seconds: secs, CPUSeconds: cpuSeconds() - cpu0, InsertsPerSec: float64(d.N) / secs})
		if i == 0 {
			// The first build runs in a fresh process: its resident-memory growth is
			// the collection's footprint (vectors, ids, groups, graph). The measurement
			// of the first-pass lead that the build started finishes first, so that it
			// does not run during the searches, and Mine uses its lead.
			if ic, ok := col.(*index.Collection); ok {
				ic.WaitIdle()
				lead, recall := ic.FirstPassLead()
				if res.Extra == nil {
					res.Extra = map[string]any{}
				}
				res.Extra["first_pass_lead"], res.Extra["lead_recall"] = lead, recall
			}
			res.RSSBytes = settledRSS() - before
			res.BytesPerVector = float64(res.RSSBytes) / float64(d.N)
			kept = col
			// What the build logged since its last background snapshot is written
			// now, untimed, as a graceful stop would, so that this snapshot does not
			// run during the next build.
			if _, _, err := db.SnapshotChanged(context.Background()); err != nil {
				return nil, err
			}
			continue
		}
		closeB()
	}
	runtime.GOMAXPROCS(1)
	for _, ef := range c.efs {
		res.Sweep = append(res.Sweep, sweep(kept, d, c.k, c.queries, ef, c.runs))
	}
	var exact engine.Collection
	if c.exactQueries > 0 || c.exactBatch > 0 || c.mineRecallAnchors > 0 {
		// The exact scan uses no graph: ExactThreshold above n keeps it from building
		// one. It holds the groups too, so that Mine on it applies the same rules.
		if exact, _, err = build(db, "exact", d, ids, groups, engine.Params{M: 2, EfConstruction: 2, ExactThreshold: d.N + 1}); err != nil {
			return nil, err
		}
	}
	if c.exactQueries > 0 {
		p := sweep(exact, d, c.k, min(c.exactQueries, d.NQ), 0, c.runs)
		res.Exact = &p
	}
	if c.exactBatch > 0 {
		p, err := exactBatched(exact, d, c.k, c.exactBatch, c.runs)
		if err != nil {
			return nil, err
		}
		res.ExactBatched = &p
	}
	if len(c.mineAnchors) > 0 || c.mineRecallAnchors > 0 {
		// Mine runs anchors of a request in parallel, as the server does: all cores.
		runtime.GOMAXPROCS(runtime.NumCPU())
	}
	if c.mineRecallAnchors > 0 {
		mr, err := mineRecall(kept, exact, d, c.mineRecallAnchors)
		if err != nil {
			return nil, err
		}
		res.MineRecall = mr
	}
	if exact != nil {
		if err := db.DeleteCollection("exact"); err != nil {
			return nil, err
		}
	}
	if len(c.mineAnchors) > 0 {
		if runtime.NumCPU() > 1 {
			if res.Extra == nil {
				res.Extra = map[string]any{}
			}
			res.Extra["thread_wake_us"] = wakeLatency(300)
		}
		mr, err := mineLatency(kept, d, c.mineAnchors, c.mineRequests)
		if err != nil {
			return nil, err
		}
		res.Mine = mr
	}
	res.Notes = append(res.Notes, fmt.Sprintf("searches on 1 thread (GOMAXPROCS 1), k %d, one query per Search call, no widening, the fastest of %d passes per sweep point; quantization %v", c.k, max(c.runs, 1), kept.Params().Quantization))
	return res, nil
}

// openBenchDB opens a DB in a new temporary data directory with the background
// snapshots that -snapshots asks for; closeDB closes it and removes the directory.
func openBenchDB(c *config) (db *index.DB, closeDB func(), err error) {
	dir, err := os.MkdirTemp("", "hardneg-bench-")
	if err != nil {
		return nil, nil, err
	}
	opts := index.Options{Dir: dir, LeadRecall: c.leadRecall}
	if !c.snapshots {
		opts.SnapshotBytes, opts.SnapshotInterval = -1, -1
	}
	if db, err = index.Open(opts); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }, nil
}

// build creates a collection and upserts the data set in batches of the largest
// allowed size, returning the wall time.
func build(db *index.DB, name string, d *dataset, ids []string, groups [][]string, p engine.Params) (engine.Collection, float64, error) {
	col, err := db.CreateCollection(engine.Config{Name: name, Dim: d.Dim, Metric: engine.Cosine, Params: p})
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	for lo := 0; lo < d.N; lo += engine.MaxBatchItems {
		hi := min(lo+engine.MaxBatchItems, d.N)
		b := &engine.Batch{IDs: ids[lo:hi], Vectors: append([]float32(nil), d.Base[lo*d.Dim:hi*d.Dim]...)}
		if groups != nil {
			b.Groups = groups[lo:hi]
		}
		if _, err := db.Upsert(name, b, "items"); err != nil {
			return nil, 0, err
		}
	}
	return col, time.Since(start).Seconds(), nil
}

// sweep runs the first q queries one by one for k results at ef (0: exact collection),
// runs times over, and reports the fastest pass (the results of every pass are the same).
func sweep(col engine.Collection, d *dataset, k, q, ef, runs int) sweepPoint {
	got := make([]int32, 0, k)
	total := 0.0
	var best time.Duration
	for run := range max(runs, 1) {
		var elapsed time.Duration
		total = 0
		for i := range q {
			qv, err := col.PrepareQuery(d.query(i), "q")
			if err != nil {
				panic(err)
			}
			got = got[:0]
			start := time.Now()
			col.Search(context.Background(), qv, engine.SearchOptions{Ef: ef, NoWiden: true}, func(cd engine.Candidate) bool {
				got = append(got, int32(cd.Slot))
				return len(got) < k
			})
			elapsed += time.Since(start)
			total += recall(got, d.gt(i, k))
		}
		if run == 0 || elapsed < best {
			best = elapsed
		}
	}
	us := float64(best.Microseconds()) / float64(q)
	return sweepPoint{Ef: ef, Queries: q, USPerQuery: us, QPS: 1e6 / us, Recall: total / float64(q)}
}

// exactBatched searches every query of the data set for k results on the exact
// collection the way Mine does on one: groups of batch queries are scored in one pass
// over the rows (ScoreExact: a matrix product), then each query's search reads its
// scores (re-scoring with Dot what it yields). It reports the fastest of runs passes,
// per query, on the current GOMAXPROCS.
func exactBatched(col engine.Collection, d *dataset, k, batch, runs int) (sweepPoint, error) {
	qs := make([][]float32, d.NQ)
	for i := range qs {
		qv, err := col.PrepareQuery(d.query(i), "q")
		if err != nil {
			return sweepPoint{}, err
		}
		qs[i] = qv
	}
	out := make([]engine.ExactScores, batch)
	got := make([]int32, 0, k)
	total := 0.0
	var best time.Duration
	for run := range max(runs, 1) {
		total = 0
		start := time.Now()
		for lo := 0; lo < len(qs); lo += batch {
			group := qs[lo:min(lo+batch, len(qs))]
			if !col.ScoreExact(group, out) {
				return sweepPoint{}, fmt.Errorf("the exact collection did not score a batch of %d queries", len(group))
			}
			for j, qv := range group {
				got = got[:0]
				_, err := col.Search(context.Background(), qv, engine.SearchOptions{Scores: &out[j], MaxCandidates: k}, func(cd engine.Candidate) bool {
					got = append(got, int32(cd.Slot))
					return len(got) < k
				})
				if err != nil {
					return sweepPoint{}, err
				}
				total += recall(got, d.gt(lo+j, k))
			}
		}
		if elapsed := time.Since(start); run == 0 || elapsed < best {
			best = elapsed
		}
	}
	us := float64(best.Microseconds()) / float64(len(qs))
	return sweepPoint{Ef: 0, Queries: len(qs), USPerQuery: us, QPS: 1e6 / us, Recall: total / float64(len(qs)), Batch: batch}, nil
}
