package main

import (
	"os"
	"runtime/pprof"
	"slices"
	"time"
)

// result is what one run measures; bench/run.py reads it.
type result struct {
	System         string        `json:"system"`
	N              int           `json:"n"`
	Dim            int           `json:"dim"`
	M              int           `json:"m"`
	EfConstruction int           `json:"ef_construction"`
	Build          []buildResult `json:"build"`
	RSSBytes       int64         `json:"rss_bytes"`
	BytesPerVector float64       `json:"bytes_per_vector"`
	Sweep          []sweepPoint  `json:"sweep"`
	Exact          *sweepPoint   `json:"exact,omitempty"`
	// ExactBatched is the exact search of every query in groups scored by one pass over
	// the rows (Collection.ScoreExact), as Mine searches an exact collection.
	ExactBatched *sweepPoint        `json:"exact_batched,omitempty"`
	Mine         []mineResult       `json:"mine,omitempty"`
	MineRecall   []mineRecallResult `json:"mine_recall,omitempty"`
	Notes        []string           `json:"notes,omitempty"`
	Extra        map[string]any     `json:"extra,omitempty"`
}

// mineRecallResult compares Mine's negatives on the graph collection, with the policy's
// default first pass, against Mine's on an exact scan of the same items (same requests,
// same rules): how much of the exact answer the default search finds.
type mineRecallResult struct {
	Policy  string `json:"policy"`
	Anchors int    `json:"anchors"`
	K       int    `json:"k"`
	// Recall is the share of the exact run's negatives that the graph run also
	// returned, over all anchors; Identical the share of anchors whose negatives were
	// the same set; RankRecall the share of the exact run's negatives that the graph
	// run returned at the same raw rank (what Negative.rank reports).
	Recall     float64 `json:"recall"`
	Identical  float64 `json:"identical"`
	RankRecall float64 `json:"rank_recall"`
	// Short counts anchors with fewer than K negatives: graph, exact.
	ShortGraph int `json:"short_graph"`
	ShortExact int `json:"short_exact"`
	// GraphMicrosPerAnchor is the wall time of the Mine calls on the graph (32 anchors
	// per call, on every core) per anchor.
	GraphMicrosPerAnchor float64 `json:"graph_us_per_anchor"`
}

type buildResult struct {
	Threads       int     `json:"threads"`
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	InsertsPerSec float64 `json:"inserts_per_s"`
}

type sweepPoint struct {
	Ef         int     `json:"ef"`
	Queries    int     `json:"queries"`
	USPerQuery float64 `json:"us_per_query"`
	QPS        float64 `json:"qps"`
	Recall     float64 `json:"recall"`
	// Batch is the queries per pass over the rows of a batched exact search; 0 else.
	Batch int `json:"batch,omitempty"`
}

type mineResult struct {
	Policy   string  `json:"policy"`
	Anchors  int     `json:"anchors"`
	K        int     `json:"k"`
	Requests int     `json:"requests"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MeanMS   float64 `json:"mean_ms"`
	Short    int     `json:"short"`
}

// percentile returns the q-quantile (0–1) of xs by the nearest-rank method.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// startProfile starts a CPU profile into path when it is set; the returned function
// stops it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
