package mining

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
)

// BenchmarkMineExact mines 32 anchors (stored items, k 8, default policy) against an
// exactly searched cosine collection of 384-dimensional random vectors, with the
// anchors scored together (batched) and scanned one by one (unbatched).
//
//	go test ./internal/mining -run '^$' -bench MineExact -cpu 1,2 -benchtime 10x
func BenchmarkMineExact(b *testing.B) {
	const dim, anchors = 384, 32
	for _, n := range []int{10_000, 100_000} {
		db, err := index.Open(index.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		cfg := engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}}
		c, err := db.CreateCollection(cfg)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, uint64(n)))
		batch := &engine.Batch{Vectors: make([]float32, n*dim)}
		for i := range n {
			batch.IDs = append(batch.IDs, "i"+strconv.Itoa(i))
		}
		for i := range batch.Vectors {
			batch.Vectors[i] = float32(r.NormFloat64())
		}
		for lo := 0; lo < n; lo += 10_000 {
			part := &engine.Batch{IDs: batch.IDs[lo : lo+10_000], Vectors: batch.Vectors[lo*dim : (lo+10_000)*dim]}
			if _, err := db.Upsert("c", part, "items"); err != nil {
				b.Fatal(err)
			}
		}
		req := Request{Policy: DefaultPolicy()}
		req.Policy.NumNegatives = 8
		for range anchors {
			req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(n))})
		}
		for _, v := range []struct {
			name string
			s    Searcher
		}{{"batched", c}, {"unbatched", unbatched{c}}} {
			b.Run("n="+strconv.Itoa(n)+"/"+v.name, func(b *testing.B) {
				for b.Loop() {
					res, err := Mine(context.Background(), v.s, req)
					if err != nil {
						b.Fatal(err)
					}
					if len(res[0].Negatives) != 8 || !res[0].ExactScan {
						b.Fatalf("result %+v", res[0])
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
			})
		}
		db.Close()
	}
}

// BenchmarkMineGraph mines 256 stored-item anchors (k 8, each with its exact nearest
// neighbour as the positive, as make bench does) through
// the HNSW graph of 20,000 128-dimensional vectors: with the default policy, its first
// pass at the collection's ef 64, at 128 (the default when mining sized it as 8 per rank
// of the window, at least 128) and at mining's default (window end + collection ef),
// with the near-duplicate rule on (the default) and off; and with every rule on (window
// end 81) at 648 (the earlier default) and at mining's default; each on a collection
// searched on int8 codes (the default) and on floats. cpu-µs/anchor is the process's CPU
// time, steadier than wall time on a shared machine.
//
//	go test ./internal/mining -run '^$' -bench MineGraph -benchtime 5x
func BenchmarkMineGraph(b *testing.B) {
	for _, q := range []engine.Quantization{engine.QuantizationInt8, engine.QuantizationNone} {
		b.Run("quant="+q.String(), func(b *testing.B) { benchmarkMineGraph(b, q) })
	}
}

func benchmarkMineGraph(b *testing.B, q engine.Quantization) {
	c, vecs := clusteredWorldQ(b, q, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(9, 9))
	rows := make([]int, 256)
	for i := range rows {
		rows[i] = r.IntN(len(vecs))
	}
	nearest := exactTop(c, vecs, rows, 1)
	var anchors []Anchor
	for i, row := range rows {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(row), PositiveIDs: nearest[i]})
	}
	f := func(v float32) *float32 { return &v }
	allRules := func(p *Policy) {
		p.DuplicateThreshold, p.RelativeMargin, p.AbsoluteMargin = f(0.95), f(0.05), f(0.01)
		p.MinScore, p.MaxScore, p.DiversityThreshold = f(0), f(0.99), f(0.98)
	}
	for _, v := range []struct {
		name string
		ef   int
		set  func(p *Policy)
	}{
		{"ef=64/dup", 64, nil},
		{"ef=128/dup", 128, nil},
		{"ef=default/dup", 0, nil},
		{"ef=default/nodup", 0, func(p *Policy) { p.NearDuplicates = false }},
		{"all-rules/ef=648", 648, allRules},
		{"all-rules/ef=default", 0, allRules},
		// Deep windows sampled at random: the search orders the whole window.
		{"range_max=200", 0, func(p *Policy) { p.RangeMax, p.Sampling = 200, SampleUniform }},
		{"range_max=1000", 0, func(p *Policy) { p.RangeMax, p.Sampling = 1000, SampleUniform }},
	} {
		b.Run(v.name, func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives, pol.Ef = 8, v.ef
			if v.set != nil {
				v.set(&pol)
			}
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: pol}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(anchors)), "µs/anchor")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*len(anchors)), "cpu-µs/anchor")
		})
	}
}

// BenchmarkMineLoop mines 256 stored-item anchors (k 8) through the HNSW graph of
// 20,000 128-dimensional vectors with the training-loop options: none (anchors in
// parallel, negatives counted into the exposure tracker), the freshness rule, rotation
// and the exposure cap (both mine the anchors one after another).
//
//	go test ./internal/mining -run '^$' -bench MineLoop -benchtime 5x -cpu 2
func BenchmarkMineLoop(b *testing.B) {
	c, vecs := clusteredWorld(b, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(9, 9))
	var anchors []Anchor
	for range 256 {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(len(vecs)))})
	}
	stale := int64(0)
	for _, v := range []struct {
		name string
		set  func(p *Policy)
	}{
		{"plain", func(*Policy) {}},
		{"max_staleness", func(p *Policy) { p.MaxStaleness = &stale }},
		{"rotate", func(p *Policy) { p.Rotate = true }},
		{"max_exposures", func(p *Policy) { p.MaxExposures = 1000 }},
	} {
		b.Run(v.name, func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives = 8
			v.set(&pol)
			x := NewExposure(0)
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: pol, Exposure: x}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(anchors)), "µs/anchor")
		})
	}
}

// BenchmarkMineExactJob mines the offline job's request shape against an exactly
// searched collection of 100,000 384-dimensional random vectors: 1,024 raw-vector
// anchors per request, k 5, rank window [0, 50), and deeper windows sampled at random
// (range_max 200, 400, 800: the search orders the whole window, which must cost in
// proportion to its depth). The anchors are scored in
// groups of maxScoreGroup; cpu-µs/anchor is the process's CPU time, steadier than wall
// time on a shared machine.
//
//	go test ./internal/mining -run '^$' -bench MineExactJob -benchtime 2x -count 3
func BenchmarkMineExactJob(b *testing.B) {
	const dim, n, anchors = 384, 100_000, 1024
	db, err := index.Open(index.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}}
	c, err := db.CreateCollection(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for lo := 0; lo < n; lo += 10_000 {
		part := &engine.Batch{Vectors: make([]float32, 10_000*dim)}
		for i := range 10_000 {
			part.IDs = append(part.IDs, "i"+strconv.Itoa(lo+i))
		}
		for i := range part.Vectors {
			part.Vectors[i] = float32(r.NormFloat64())
		}
		if _, err := db.UpsertDeferred("c", part, "items"); err != nil {
			b.Fatal(err)
		}
	}
	var as []Anchor
	for range anchors {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		as = append(as, Anchor{Vector: v})
	}
	for _, rangeMax := range []int{50, 200, 400, 800} {
		b.Run("range_max="+strconv.Itoa(rangeMax), func(b *testing.B) {
			req := Request{Policy: DefaultPolicy(), Anchors: as}
			req.Policy.NumNegatives, req.Policy.RangeMax = 5, rangeMax
			if rangeMax > 50 {
				req.Policy.Sampling = SampleUniform
			}
			cpu0 := cpuTime()
			for b.Loop() {
				res, err := Mine(context.Background(), c, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(res[0].Negatives) != 5 || !res[0].ExactScan {
					b.Fatalf("result %+v", res[0])
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*anchors), "cpu-µs/anchor")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
		})
	}
}

// BenchmarkMineOnRandomVectors mines 32 stored-item anchors (k 8, default policy) in a
// cosine collection of 20,000 random 384-dimensional vectors, where a graph finds
// little: through the graph with the fixed first-pass lead (the measurement of the lead
// off; poor recall), through a beam as wide as the measured lead (ef_search 2,058),
// as the collection runs with the measurement on (it measures 2,048 and scans), and in
// an exact collection. The first requests build the scan's int8 rows: run enough of
// them (-benchtime 20x).
//
//	go test ./internal/mining -run '^$' -bench MineOnRandomVectors -benchtime 20x
func BenchmarkMineOnRandomVectors(b *testing.B) {
	const n, dim, anchors = 20_000, 384, 32
	r := rand.New(rand.NewPCG(1, 2))
	batch := gaussianBatch(r, n, dim)
	for _, v := range []struct {
		name      string
		lead      float64 // index.Options.LeadRecall
		threshold int     // ExactThreshold
		ef        int     // the policy's ef_search
	}{{"fixed-lead", -1, 0, 0}, {"beam-2058", -1, 0, 2058}, {"measured", 0, 0, 0}, {"exact-collection", -1, n + 1, 0}} {
		c, closeDB := loadedCollection(b, batch, dim, v.lead, engine.Params{ExactThreshold: v.threshold})
		req := Request{Policy: DefaultPolicy()}
		req.Policy.NumNegatives, req.Policy.Ef = 8, v.ef
		for a := range anchors {
			req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a*97)})
		}
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Mine(context.Background(), c, req); err != nil {
					b.Fatal(err)
				}
			}
			lead, _ := c.FirstPassLead()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
			b.ReportMetric(float64(lead), "lead")
		})
		closeDB()
	}
}

// BenchmarkMineExclusions mines 64 vector anchors (k 8, one positive each) through the
// graph of 20,000 clustered 384-dimensional vectors, each anchor with 2,000 random
// exclude_ids, in-batch exclusion off: with the near-duplicate rule on (the default,
// which excludes the excluded items' near-duplicates too) and off. B/op counts what the
// request allocates, the excluded vectors' copies among it.
//
//	go test ./internal/mining -run '^$' -bench MineExclusions -benchtime 5x -benchmem
func BenchmarkMineExclusions(b *testing.B) {
	const n, anchors, excluded = 20_000, 64, 2_000
	c, vecs := clusteredWorldQ(b, engine.QuantizationInt8, n, 384, 40, 1.5, 3)
	r := rand.New(rand.NewPCG(3, 3))
	var as []Anchor
	for range anchors {
		row := r.IntN(n)
		a := Anchor{Vector: vecs[row], PositiveIDs: []string{"i" + strconv.Itoa(row)}}
		for range excluded {
			a.ExcludeIDs = append(a.ExcludeIDs, "i"+strconv.Itoa(r.IntN(n)))
		}
		as = append(as, a)
	}
	for _, dup := range []bool{true, false} {
		b.Run("near_duplicates="+strconv.FormatBool(dup), func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives, pol.InBatchExclusion, pol.NearDuplicates = 8, false, dup
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: as, Policy: pol}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*anchors), "cpu-µs/anchor")
		})
	}
}

// BenchmarkBeamVersusScan mines 32 stored-item anchors (k 8, default policy) in
// cosine collections of 20,000 random vectors of several dimensions, through the graph
// with a fixed beam (ef_search 520 and 2,058, the measurement of the lead off) and in an
// exact collection: what a beam costs per element against what a scan costs per item,
// by dimension, for the collection's choice between the two (index's scanShare).
//
//	go test ./internal/mining -run '^$' -bench BeamVersusScan -benchtime 10x
func BenchmarkBeamVersusScan(b *testing.B) {
	const n = 20_000
	for _, dim := range []int{32, 64, 128, 384, 768} {
		batch := gaussianBatch(rand.New(rand.NewPCG(1, uint64(dim))), n, dim)
		for _, v := range []struct {
			name      string
			threshold int // ExactThreshold
			ef        int // the policy's ef_search
		}{{"beam-520", 0, 520}, {"beam-1250", 0, 1250}, {"beam-2058", 0, 2058}, {"scan", n + 1, 0}} {
			c, closeDB := loadedCollection(b, batch, dim, -1, engine.Params{ExactThreshold: v.threshold})
			for _, anchors := range []int{1, 32} {
				req := Request{Policy: DefaultPolicy()}
				req.Policy.NumNegatives, req.Policy.Ef = 8, v.ef
				for a := range anchors {
					req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a*97)})
				}
				b.Run(fmt.Sprintf("dim-%d/%s/anchors-%d", dim, v.name, anchors), func(b *testing.B) {
					for b.Loop() {
						if _, err := Mine(context.Background(), c, req); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
				})
			}
			closeDB()
		}
	}
}

// BenchmarkGraphVersusScanBySize mines stored-item anchors (k 8, default policy, the
// collection's measured first-pass lead) in cosine collections of clustered 384-d
// vectors of several sizes, through the graph and in an exact collection of the same
// items, 1 and 32 anchors per request: where an exact scan costs less than the graph,
// for the default exact threshold (engine.DefaultExactThreshold).
//
//	go test ./internal/mining -run '^$' -bench GraphVersusScanBySize -benchtime 20x
func BenchmarkGraphVersusScanBySize(b *testing.B) {
	const dim = 384
	for _, n := range []int{10_000, 20_000, 40_000, 80_000} {
		r := rand.New(rand.NewPCG(5, uint64(n)))
		centers := make([][]float32, 100)
		for i := range centers {
			centers[i] = randVec(r, dim, 1)
		}
		batch := &engine.Batch{}
		for i := range n {
			batch.IDs = append(batch.IDs, "i"+strconv.Itoa(i))
			batch.Vectors = append(batch.Vectors, jitter(r, centers[r.IntN(len(centers))], 1.0)...)
		}
		for _, v := range []struct {
			name      string
			threshold int // ExactThreshold
		}{{"graph", 1}, {"scan", n + 1}} {
			ic, closeDB := loadedCollection(b, batch, dim, 0, engine.Params{ExactThreshold: v.threshold})
			c := ic
			for ic.SearchesExactly() == (v.threshold == 1) || (v.threshold == 1 && !probed(ic)) {
				time.Sleep(10 * time.Millisecond) // the lead probe's first measurement
			}
			for _, anchors := range []int{1, 32} {
				req := Request{Policy: DefaultPolicy()}
				req.Policy.NumNegatives = 8
				for a := range anchors {
					req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(a*97)})
				}
				b.Run(fmt.Sprintf("n-%d/%s/anchors-%d", n, v.name, anchors), func(b *testing.B) {
					for b.Loop() {
						if _, err := Mine(context.Background(), c, req); err != nil {
							b.Fatal(err)
						}
					}
					lead, _ := ic.FirstPassLead()
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
					b.ReportMetric(float64(lead), "lead")
				})
			}
			closeDB()
		}
	}
}

// probed reports whether the collection's lead probe has measured.
func probed(c *index.Collection) bool {
	lead, _ := c.FirstPassLead()
	return lead > 0
}

// BenchmarkMineWideLead mines stored-item anchors (k 8, default policy), 1 and 32 per
// request, in a cosine collection of 50,000 random 128-d vectors with the lead
// measurement on, where the graph needs a wide beam (lead 2,048, a 24th of the items):
// single anchors go through the graph, groups of 32 by exact passes (index's
// scanShareBatch). Recall is of the exact top 8.
//
//	go test ./internal/mining -run '^$' -bench MineWideLead -benchtime 20x
func BenchmarkMineWideLead(b *testing.B) {
	const n, dim = 50_000, 128
	batch := gaussianBatch(rand.New(rand.NewPCG(9, 9)), n, dim)
	ic, closeDB := loadedCollection(b, batch, dim, 0, engine.Params{})
	defer closeDB()
	c := ic
	var err error
	for !probed(ic) {
		time.Sleep(10 * time.Millisecond)
	}
	vecs := make([][]float32, n)
	for i := range n {
		if vecs[i], err = ic.PrepareQuery(batch.Vectors[i*dim:(i+1)*dim], "v"); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]int, 32)
	for a := range ids {
		ids[a] = a * 97
	}
	exact := exactTop(c, vecs, ids, 8)
	for _, anchors := range []int{1, 32} {
		req := Request{Policy: DefaultPolicy()}
		req.Policy.NumNegatives = 8
		for a := range anchors {
			req.Anchors = append(req.Anchors, Anchor{ID: "i" + strconv.Itoa(ids[a])})
		}
		b.Run(fmt.Sprintf("anchors-%d", anchors), func(b *testing.B) {
			var res []Result
			for b.Loop() {
				if res, err = Mine(context.Background(), c, req); err != nil {
					b.Fatal(err)
				}
			}
			hit := 0
			for a := range anchors {
				for _, id := range exact[a] {
					if slices.Contains(negIDs(res[a].Negatives), id) {
						hit++
					}
				}
			}
			lead, _ := ic.FirstPassLead()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*anchors), "µs/anchor")
			b.ReportMetric(float64(hit)/float64(8*anchors), "recall")
			b.ReportMetric(float64(lead), "lead")
		})
	}
}

// gaussianBatch returns n items "i0"… with random Gaussian vectors of dim.
func gaussianBatch(r *rand.Rand, n, dim int) *engine.Batch {
	batch := &engine.Batch{Vectors: make([]float32, n*dim)}
	for i := range n {
		batch.IDs = append(batch.IDs, "i"+strconv.Itoa(i))
	}
	for i := range batch.Vectors {
		batch.Vectors[i] = float32(r.NormFloat64())
	}
	return batch
}

// loadedCollection opens a DB (LeadRecall lead) holding one cosine collection "c" of
// batch's items under params, upserted 10,000 at a time, its background work done;
// closing it is the caller's (closeDB).
func loadedCollection(b *testing.B, batch *engine.Batch, dim int, lead float64, params engine.Params) (c *index.Collection, closeDB func()) {
	db, err := index.Open(index.Options{Dir: b.TempDir(), LeadRecall: lead})
	if err != nil {
		b.Fatal(err)
	}
	ec, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: params})
	if err != nil {
		b.Fatal(err)
	}
	n := len(batch.IDs)
	for lo := 0; lo < n; lo += 10_000 {
		hi := min(lo+10_000, n)
		part := &engine.Batch{IDs: batch.IDs[lo:hi], Vectors: batch.Vectors[lo*dim : hi*dim]}
		if _, err := db.Upsert("c", part, "items"); err != nil {
			b.Fatal(err)
		}
	}
	ic := ec.(*index.Collection)
	ic.WaitIdle()
	return ic, func() { db.Close() }
}
