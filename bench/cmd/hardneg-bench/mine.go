package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
)

// minePolicies are the policies Mine latency is measured with: the server's default
// policy with k negatives, and every rule on (the target of the benchmark). Both
// bench/py/e2e.py and this file use the same settings.
func minePolicies(k int) map[string]mining.Policy {
	def := mining.DefaultPolicy()
	def.NumNegatives = k
	all := mining.DefaultPolicy()
	all.NumNegatives = k
	f := func(v float32) *float32 { return &v }
	all.ExcludeSameGroup = true
	all.DuplicateThreshold = f(0.95)
	all.RelativeMargin = f(0.05)
	all.AbsoluteMargin = f(0.01)
	all.MinScore = f(0.0)
	all.MaxScore = f(0.99)
	all.InBatchExclusion = true
	all.UseFeedback = true
	all.DiversityThreshold = f(0.98)
	return map[string]mining.Policy{"default": def, "all-rules": all}
}

// queryAnchor is query q of the data set as a raw-vector anchor, with its exact nearest
// item as the known positive.
func queryAnchor(d *dataset, q int) mining.Anchor {
	return mining.Anchor{
		Vector:      d.query(q),
		Key:         "q" + strconv.Itoa(q),
		PositiveIDs: []string{"d" + strconv.Itoa(int(d.gt(q, 1)[0]))},
	}
}

// mineLatency times Mine requests on col (GOMAXPROCS as set by the caller): anchors
// are the data set's queries as raw vectors, each with its exact nearest item as the
// known positive.
func mineLatency(col engine.Collection, d *dataset, anchorCounts []int, requests int) ([]mineResult, error) {
	const k = 8
	var out []mineResult
	pols := minePolicies(k)
	for _, name := range []string{"default", "all-rules"} {
		pol := pols[name]
		for _, na := range anchorCounts {
			reqs := requestsFor(requests, na)
			lat := make([]float64, 0, reqs)
			short := 0
			for r := range reqs {
				anchors := make([]mining.Anchor, na)
				for j := range anchors {
					anchors[j] = queryAnchor(d, (r*na+j)%d.NQ)
				}
				start := time.Now()
				res, err := mining.Mine(context.Background(), col, mining.Request{Anchors: anchors, Policy: pol})
				lat = append(lat, ms(time.Since(start)))
				if err != nil {
					return nil, fmt.Errorf("mine %s/%d: %w", name, na, err)
				}
				for _, a := range res {
					if len(a.Negatives) < k {
						short++
					}
				}
			}
			mean := 0.0
			for _, l := range lat {
				mean += l
			}
			out = append(out, mineResult{Policy: name, Anchors: na, K: k, Requests: reqs,
				P50MS: percentile(lat, 0.5), P99MS: percentile(lat, 0.99), MeanMS: mean / float64(len(lat)), Short: short})
		}
	}
	return out, nil
}

// mineRecall mines the first n queries (at most the data set's) as anchors, in
// requests of 32 as mineLatency sends them, once on graph and once on exact (an exact
// scan of the same items), with each policy of minePolicies, and compares the
// negatives: what the default first pass of a graph search misses of the exact answer.
func mineRecall(graph, exact engine.Collection, d *dataset, n int) ([]mineRecallResult, error) {
	const k, per = 8, 32
	n = min(n, d.NQ)
	pols := minePolicies(k)
	// naive: the rank window alone (no rule but the positive's exclusion), the recall
	// of the exact top k that docs/MINING.md reports.
	naive := mining.DefaultPolicy()
	naive.NumNegatives = k
	naive.NearDuplicates = false
	naive.ExcludeSameGroup = false
	pols["naive"] = naive
	var out []mineRecallResult
	for _, name := range []string{"naive", "default", "all-rules"} {
		pol := pols[name]
		r := mineRecallResult{Policy: name, Anchors: n, K: k}
		found, atRank, want, same := 0, 0, 0, 0
		var onGraph time.Duration
		for lo := 0; lo < n; lo += per {
			anchors := make([]mining.Anchor, 0, per)
			for q := lo; q < min(lo+per, n); q++ {
				anchors = append(anchors, queryAnchor(d, q))
			}
			t0 := time.Now()
			g, err := mining.Mine(context.Background(), graph, mining.Request{Anchors: anchors, Policy: pol})
			onGraph += time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("mine %s on the graph: %w", name, err)
			}
			e, err := mining.Mine(context.Background(), exact, mining.Request{Anchors: anchors, Policy: pol})
			if err != nil {
				return nil, fmt.Errorf("mine %s by exact scan: %w", name, err)
			}
			for i := range e {
				rank := make(map[string]int, len(g[i].Negatives))
				for _, x := range g[i].Negatives {
					rank[x.ID] = x.Rank
				}
				hit := 0
				for _, x := range e[i].Negatives {
					if rk, ok := rank[x.ID]; ok {
						hit++
						if rk == x.Rank {
							atRank++
						}
					}
				}
				found += hit
				want += len(e[i].Negatives)
				if hit == len(e[i].Negatives) && len(g[i].Negatives) == hit {
					same++
				}
				if len(g[i].Negatives) < k {
					r.ShortGraph++
				}
				if len(e[i].Negatives) < k {
					r.ShortExact++
				}
			}
		}
		if want > 0 {
			r.Recall = float64(found) / float64(want)
			r.RankRecall = float64(atRank) / float64(want)
		}
		if n > 0 {
			r.Identical = float64(same) / float64(n)
			r.GraphMicrosPerAnchor = float64(onGraph.Microseconds()) / float64(n)
		}
		out = append(out, r)
	}
	return out, nil
}

// requestsFor scales the request count down for requests of more than 32 anchors,
// keeping at least 20; up to 32 anchors every count runs all of them, so that a p99
// (nearest rank) of 300 requests is not the slowest one.
func requestsFor(requests, anchors int) int {
	return max(20, min(requests, requests*32/anchors))
}

// wakeLatency measures how long a goroutine started by a busy goroutine waits before
// it runs, after the process was idle for a millisecond: what Mine's second worker
// waits for when a request reaches an idle server (each Mine request starts its
// workers; the request's own delivery and its answer's are wake-ups of the same kind).
// On a machine whose idle cores wake at once this is a few µs; on a virtual machine
// whose idle vCPUs the host parks it can be milliseconds. It returns the p50, p90, p99
// and largest wait in µs over trials (GOMAXPROCS as set by the caller, at least 2).
func wakeLatency(trials int) map[string]float64 {
	var sink atomic.Int64
	spin := func(d time.Duration) {
		x, t := int64(0), time.Now()
		for time.Since(t) < d {
			for i := range int64(1000) {
				x += i * i
			}
		}
		sink.Add(x)
	}
	waits := make([]float64, 0, trials)
	for range trials {
		time.Sleep(time.Millisecond)
		started := make(chan time.Duration, 1)
		t0 := time.Now()
		go func() { started <- time.Since(t0); spin(time.Millisecond) }()
		spin(2 * time.Millisecond)
		waits = append(waits, float64((<-started).Nanoseconds())/1e3)
	}
	slices.Sort(waits)
	return map[string]float64{"p50": percentile(waits, 0.5), "p90": percentile(waits, 0.9), "p99": percentile(waits, 0.99),
		"max": waits[len(waits)-1], "trials": float64(trials)}
}
